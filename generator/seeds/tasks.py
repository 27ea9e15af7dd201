"""Seed files: Self-Instruct/Alpaca seed tasks, Alpaca JSON, JSONL/CSV with mapped fields, text.

A seed file is read completely and validated before any teacher time is spent. Problems are
collected (not raised one by one) so the user fixes the whole file in one pass; with
`skip_bad_lines` the valid lines are used and the bad ones are listed in the run's stats.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from generator.seeds.readers import (
    RawRow,
    SeedError,
    SeedFileError,
    read_csv,
    read_json_list,
    read_jsonl,
    read_text,
)

SeedFormat = Literal["auto", "self-instruct", "alpaca", "jsonl", "csv", "text"]
_SELF_INSTRUCT_FIELDS = {"id", "name", "instruction", "instances", "is_classification"}


class SeedsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: SeedFormat = "auto"
    # Seedforge field -> column in the user's JSONL/CSV, e.g. {"instruction": "question"}.
    fields: dict[str, str] = Field(default_factory=dict)
    skip_bad_lines: bool = False

    @field_validator("fields")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"id", "name", "instruction", "input", "output", "is_classification"}
        if unknown:
            raise ValueError(f"unknown seed fields {sorted(unknown)}")
        return value


class Instance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = ""
    output: str = ""


class SeedTask(BaseModel):
    """One human-written task, in Self-Instruct's seed_tasks.jsonl shape."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    name: str = ""
    instruction: str
    instances: list[Instance] = Field(default_factory=list)
    is_classification: bool = False

    @field_validator("instruction")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("instruction is empty")
        return value.strip()

    @property
    def first_input(self) -> str:
        return self.instances[0].input if self.instances else ""


@dataclass
class SeedSet:
    path: str
    format: str
    sha256: str
    tasks: list[SeedTask]
    skipped: list[SeedError] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # task id -> line number


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        errors: list[SeedError] = []
        rows = read_jsonl(path, errors)
        return "self-instruct" if rows and "instances" in rows[0].data else "jsonl"
    if suffix == ".json":
        return "alpaca"
    if suffix == ".csv":
        return "csv"
    return "text"


def _to_task(fmt: str, row: RawRow, index: int, mapping: dict[str, str]) -> dict[str, Any]:
    """Reshape a raw row of any format into SeedTask's fields (validation happens after)."""
    data = row.data
    if fmt == "self-instruct":
        return data
    if fmt == "text":
        return {"id": f"line-{row.line}", "instruction": data["instruction"]}
    if fmt == "alpaca":
        data = {k: v for k, v in data.items()}
        task: dict[str, Any] = {
            "id": str(data.pop("id", f"alpaca-{index}")),
            "instruction": data.pop("instruction", ""),
        }
        instance = {k: data.pop(k) for k in ("input", "output") if k in data}
        task["instances"] = [instance] if instance else []
        task.update(data)  # leftover keys are unknown fields: the model forbids and names them
        return task

    # jsonl / csv with a field mapping
    def col(name: str) -> str:
        return mapping.get(name, name)

    if "instances" in data and fmt == "jsonl":
        return data
    task = {"id": str(data.get(col("id")) or f"line-{row.line}"), "instruction": data.get(col("instruction"), "")}
    if col("name") in data:
        task["name"] = data[col("name")]
    instance = {k: data[col(k)] for k in ("input", "output") if data.get(col(k)) not in (None, "")}
    task["instances"] = [instance] if instance else []
    if col("is_classification") in data:
        flag = data[col("is_classification")]
        task["is_classification"] = (
            flag if isinstance(flag, bool) else str(flag).strip().lower() in {"1", "true", "yes"}
        )
    return task


def _raw_rows(path: Path, fmt: str, errors: list[SeedError]) -> list[RawRow]:
    if fmt in {"self-instruct", "jsonl"}:
        return read_jsonl(path, errors)
    if fmt == "alpaca":
        return read_json_list(path, errors)
    if fmt == "csv":
        return read_csv(path, errors)
    return read_text(path, errors)


def read_seeds(path: str | Path, config: SeedsConfig | None = None) -> SeedSet:
    """Read and validate a seed file. Raises SeedFileError unless every line is valid (or skipped)."""
    config = config or SeedsConfig()
    path = Path(path)
    if not path.is_file():
        raise SeedFileError([SeedError(str(path), 0, "", "file not found")])
    fmt = detect_format(path) if config.format == "auto" else config.format
    errors: list[SeedError] = []
    tasks: list[SeedTask] = []
    lines: dict[str, int] = {}
    for index, row in enumerate(_raw_rows(path, fmt, errors)):
        try:
            task = SeedTask.model_validate(_to_task(fmt, row, index, dict(config.fields)))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"])
                errors.append(SeedError(str(path), row.line, loc, err["msg"]))
            continue
        if task.id in lines:
            errors.append(
                SeedError(str(path), row.line, "id", f"duplicate id {task.id!r} (first on line {lines[task.id]})")
            )
            continue
        lines[task.id] = row.line
        tasks.append(task)
    if not tasks and not errors:
        errors.append(SeedError(str(path), 0, "", "no seed tasks found"))
    if errors and (not config.skip_bad_lines or not tasks):
        raise SeedFileError(sorted(errors, key=lambda e: e.line))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return SeedSet(str(path), fmt, digest, tasks, sorted(errors, key=lambda e: e.line), lines)
