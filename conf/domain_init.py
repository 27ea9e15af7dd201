"""`seedforge init`: a commented domain file and a seed template for a new task domain, and the
check that refuses to run a template whose TODO placeholders were never filled in."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, get_args

import jinja2

from conf.yamlconf import ConfigError

DomainKind = Literal["instruct", "classify"]
KINDS: tuple[str, ...] = get_args(DomainKind)
TEMPLATES = Path(__file__).parent / "templates" / "init"
PLACEHOLDER = "TODO"
NAME = re.compile(r"[^a-z0-9]+")


def init_domain(directory: str | Path, kind: DomainKind, force: bool = False) -> list[Path]:
    """Write DIR/domain.yaml (and DIR/seeds.jsonl for instruct). Never overwrites without force."""
    directory = Path(directory)
    name = NAME.sub("-", directory.resolve().name.lower()).strip("-") or "my-domain"
    files = {"domain.yaml": f"{kind}.domain.yaml.j2"}
    if kind == "instruct":
        files["seeds.jsonl"] = "instruct.seeds.jsonl.j2"
    existing = [directory / f for f in files if (directory / f).exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]}: already exists (pass --force to overwrite)")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for target, template in files.items():
        text = env.from_string((TEMPLATES / template).read_text(encoding="utf-8")).render(
            name=name, directory=str(directory), seeds_file="seeds.jsonl"
        )
        (directory / target).write_text(text, encoding="utf-8")
        written.append(directory / target)
    return written


def _placeholders(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        return [path] if value.strip().startswith(PLACEHOLDER) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _placeholders(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _placeholders(v, f"{path}.{i}")]
    return []


def check_domain_filled(path: Path, data: dict[str, Any], lines: dict[str, int | None]) -> None:
    """Refuse a domain file that still holds template placeholders, naming line and field."""
    found = _placeholders(data, "")
    if found:
        shown = [f"{path}{f':{lines.get(f)}' if lines.get(f) else ''}: {f}: still the template's TODO" for f in found]
        raise ConfigError("fill in the domain template first:\n  " + "\n  ".join(shown[:10]))


def check_seeds_filled(path: Path) -> None:
    """Refuse seed rows that still hold template placeholders (JSONL seeds only)."""
    if path.suffix != ".jsonl" or not path.is_file():
        return
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            continue  # the seed reader reports malformed lines with their own message
        for field in _placeholders(row, ""):
            problems.append(f"{path}:{number}: field {field!r}: still the template's TODO — write your own seed task")
    if problems:
        raise ConfigError("fill in the seed template first:\n  " + "\n  ".join(problems[:10]))
