"""`seedforge lint`: what is worth knowing about a seed file before paying for teacher time."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from generator.seeds.readers import SeedFileError
from generator.seeds.tasks import SeedsConfig, read_seeds


def lint_seeds(path: str | Path, config: SeedsConfig | None = None) -> dict[str, Any]:
    """Everything worth knowing about a seed file before paying for teacher time."""
    config = config or SeedsConfig()
    try:
        seeds = read_seeds(path, config.model_copy(update={"skip_bad_lines": True}))
        errors = seeds.skipped
    except SeedFileError as exc:
        return {"path": str(path), "count": 0, "errors": [str(e) for e in exc.errors], "ok": False}
    by_text: dict[str, list[int]] = defaultdict(list)
    for task in seeds.tasks:
        by_text[" ".join(task.instruction.lower().split())].append(seeds.lines[task.id])
    words = [len(t.instruction.split()) for t in seeds.tasks]
    instances = [i for t in seeds.tasks for i in t.instances]
    return {
        "path": seeds.path,
        "format": seeds.format,
        "sha256": seeds.sha256,
        "count": len(seeds.tasks),
        "ok": not errors,
        "errors": [str(e) for e in errors],
        "duplicates": [{"instruction": k, "lines": v} for k, v in by_text.items() if len(v) > 1],
        "empty_fields": {
            "no_instances": sum(not t.instances for t in seeds.tasks),
            "empty_input": sum(not i.input.strip() for i in instances),
            "empty_output": sum(not i.output.strip() for i in instances),
        },
        "instruction_words": {
            "min": min(words),
            "median": statistics.median(words),
            "mean": round(statistics.fmean(words), 2),
            "max": max(words),
        },
        "classification_share": round(sum(t.is_classification for t in seeds.tasks) / len(seeds.tasks), 4),
    }
