"""The run's dataset card (`README.md`) in the Hugging Face format: YAML header, then prose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

from prompts import Record

TEMPLATES = Path(__file__).parent / "templates"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def size_category(n: int) -> str:
    """The Hub's size buckets."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _templates(records: list[Record]) -> dict[str, str]:
    """The prompt templates (name -> hash) behind the rows, from their meta."""
    out: dict[str, str] = {}
    for record in records[:200]:
        for value in record.meta.values():
            if isinstance(value, dict) and isinstance(value.get("template"), dict):
                template = value["template"]
                out[template["name"]] = template["hash"]
    return out


def render_card(kept: list[Record], stats: dict[str, Any], config: dict[str, Any]) -> str:
    classification = config.get("kind") == "classify"
    run = stats.get("run", {})
    lineage = {k: run[k] for k in ("seed_file", "seed_sha256", "domain_file", "run_id") if run.get(k)}
    name = config.get("name") or (f"seedforge-{run.get('run_id', 'run')}")
    return _ENV.get_template("dataset_card.md.j2").render(
        pretty_name=str(name),
        classification=classification,
        task_category="text-classification" if classification else "text-generation",
        size_category=size_category(len(kept)),
        source=f"the domain file `{run['domain_file']}`"
        if run.get("domain_file")
        else f"the seed file `{run.get('seed_file', '?')}`",
        teacher={"model": "-", "revision": "-", "endpoint": "-", **stats.get("teacher", {})},
        funnel=stats["funnel"],
        labels=stats.get("labels") if classification else None,
        templates=_templates(kept),
        lineage=lineage,
        config_yaml=yaml.safe_dump(config, sort_keys=False, allow_unicode=True).strip(),
    )
