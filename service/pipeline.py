"""`generate`: seeds → teacher → validated, filtered dataset in a run directory.

This is where the packages meet: generator reads seeds and talks to the teacher, filters screen
records, and this module wires the filter chains into the strategy and writes the run dir.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filters import build_chain
from generator.accounting import check_accounting
from generator.backends import build_teacher
from generator.gateway import Gateway
from generator.seeds import SeedSet, read_seeds
from generator.selfinstruct import SelfInstruct
from generator.teacher import Teacher
from generator.writers import write_json, write_jsonl, write_yaml
from prompts import Record
from service.config import SeedforgeConfig

INSTRUCTION_FILTER_STAGE = "instruction_filter"
RESPONSE_FILTER_STAGE = "response_filter"


@dataclass
class RunSummary:
    out_dir: Path
    funnel: dict[str, Any]
    stats: dict[str, Any]


def seed_records(seeds: SeedSet) -> list[Record]:
    """Seeds as records, so dedup filters compare new rows against the human-written tasks too."""
    return [Record(id=t.id, instruction=t.instruction, input=t.first_input) for t in seeds.tasks]


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="kept rows", unit="row", file=sys.stderr, dynamic_ncols=True)


def generate(
    config: SeedforgeConfig,
    seeds_path: str | Path,
    out_dir: str | Path,
    teacher: Teacher | None = None,
    progress: bool = False,
) -> RunSummary:
    started_at = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    seeds = read_seeds(seeds_path, config.seeds)  # fails before the engine starts or files appear
    out = Path(out_dir)
    own_teacher = teacher is None
    teacher = teacher or build_teacher(config.teacher)
    try:
        gateway = Gateway(teacher, base_seed=config.generation.seed, max_attempts=config.generation.max_attempts)
        instruction_chain = build_chain(INSTRUCTION_FILTER_STAGE, config.filters.instruction, seed_records(seeds))
        response_chain = build_chain(RESPONSE_FILTER_STAGE, config.filters.response)
        bar = _progress(config.generation.num, progress)

        def on_round(kept: int, target: int) -> None:
            if bar is not None:
                bar.update(min(kept, target) - bar.n)

        strategy = SelfInstruct(config.generation, gateway, instruction_chain, response_chain, on_round)
        t_gen = time.perf_counter()
        result = strategy.run(seeds.tasks)
        generation_seconds = time.perf_counter() - t_gen
        if bar is not None:
            bar.close()
    finally:
        startup = float(getattr(teacher, "startup_seconds", 0.0))
        if own_teacher:
            teacher.close()

    kept = [r.to_row() for r in result.records if not r.rejected]
    rejected = [r.to_row() for r in result.records if r.rejected]
    t_write = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", kept)
    write_jsonl(out / "rejected.jsonl", rejected)
    write_yaml(out / "config.yaml", config.resolved())
    funnel = check_accounting(result.records, len(kept), len(rejected))
    stage_stats = {name: s.as_dict() for name, s in gateway.stats.items()}
    out_tokens = sum(s.completion_tokens for s in gateway.stats.values())
    teacher_seconds = sum(s.teacher_seconds for s in gateway.stats.values())
    stats = {
        "run": {
            "started_at": started_at.isoformat(),
            "seed_file": seeds.path,
            "seed_format": seeds.format,
            "seed_sha256": seeds.sha256,
            "seeds": len(seeds.tasks),
            "skipped_seed_lines": [str(e) for e in seeds.skipped],
            "target": result.target,
            "rounds": result.rounds,
            "target_met": result.kept >= result.target,
        },
        "funnel": funnel,
        "teacher": {
            "model": teacher.model_name,
            "revision": teacher.revision,
            "endpoint": teacher.endpoint,
            "calls": gateway.teacher_calls,
            "prompt_tokens": sum(s.prompt_tokens for s in gateway.stats.values()),
            "completion_tokens": out_tokens,
            "tokens_per_second": round(out_tokens / teacher_seconds, 2) if teacher_seconds else None,
            "stages": stage_stats,
        },
        "wall_seconds": {
            "teacher_startup": round(startup, 3),
            "generation": round(generation_seconds, 3),
            "teacher": round(teacher_seconds, 3),
            INSTRUCTION_FILTER_STAGE: round(instruction_chain.seconds, 3),
            RESPONSE_FILTER_STAGE: round(response_chain.seconds, 3),
            "write": round(time.perf_counter() - t_write, 3),
            "total": round(time.perf_counter() - t0, 3),
        },
    }
    write_json(out / "stats.json", stats)
    return RunSummary(out, funnel, stats)
