"""Domain files: one YAML per task domain. `kind` says which pipeline runs it.

A classification domain is the generation-side `LabeledTask` plus the teacher, filter and student
sections. Seed examples may be inline per label or in a JSONL/CSV `seeds_file` next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from conf.config import SeedforgeConfig
from conf.domain_init import check_domain_filled, check_seeds_filled
from conf.yamlconf import ConfigError, deep_merge, node_line, read_yaml, validate_located
from filters.config import FilterSpec
from finetune.classifier_config import ClassifierConfig
from generator.classify_config import LabeledTask
from generator.seeds import SeedFileError
from generator.seeds.labeled import read_labeled
from generator.teachers.executor import ExecutorConfig
from generator.teachers.registry import TeacherConfig, default_teacher_config


class ClassifyDomain(LabeledTask):
    kind: Literal["classify"] = "classify"
    teacher: TeacherConfig = Field(default_factory=default_teacher_config)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    # Applied to verified texts; default: length (text_length), exact and ROUGE-L dedup on text.
    filters: list[FilterSpec] | None = None
    student: ClassifierConfig = Field(default_factory=ClassifierConfig)

    def filter_specs(self) -> list[FilterSpec]:
        if self.filters is not None:
            return self.filters
        length = self.text_length
        return [
            FilterSpec(
                name="length", params={"field": "text", "min_words": length.min_words, "max_words": length.max_words}
            ),
            FilterSpec(name="exact_dedup", params={"fields": ["text"]}),
            FilterSpec(name="rouge_l", params={"field": "text"}),
        ]


class InstructDomain(SeedforgeConfig):
    """An instruction domain: the whole run config plus where its seed tasks are."""

    kind: Literal["instruct"] = "instruct"
    name: str = ""
    description: str = Field("", description="what the tasks are about (used as generation.domain)")
    seeds_file: str = "seeds.jsonl"

    def run_config(self) -> SeedforgeConfig:
        data = self.model_dump(exclude={"kind", "name", "description", "seeds_file"})
        if self.description and not self.generation.domain:
            data["generation"]["domain"] = self.description
        return SeedforgeConfig.model_validate(data)


@dataclass
class LoadedInstructDomain:
    path: Path
    domain: InstructDomain
    seeds_path: Path


@dataclass
class LoadedDomain:
    path: Path
    domain: ClassifyDomain
    seeds: dict[str, list[str]]  # label -> seed texts (inline first, then the seeds file)


def _field_lines(data: object, root: yaml.Node | None, prefix: tuple[Any, ...] = ()) -> dict[str, int | None]:
    """Dotted field path -> YAML line, for every scalar in the file (error messages)."""
    out: dict[str, int | None] = {}
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        path = (*prefix, key)
        if isinstance(value, dict | list):
            out.update(_field_lines(value, root, path))
        else:
            out[".".join(str(p) for p in path)] = node_line(root, path)
    return out


def load_domain(path: str | Path, overrides: dict[str, object] | None = None) -> LoadedDomain:
    """A classification domain (labels, targets, student)."""
    loaded = load_any_domain(path, overrides)
    if isinstance(loaded, LoadedInstructDomain):
        raise ConfigError(
            f"{loaded.path}: kind: instruct — this command needs a classification domain (kind: classify)"
        )
    return loaded


def load_any_domain(
    path: str | Path, overrides: dict[str, object] | None = None
) -> LoadedDomain | LoadedInstructDomain:
    """Validate a domain file and its seeds; every error names the file, line and field."""
    path = Path(path)
    if path.is_dir():
        path = path / "domain.yaml"
    data, root = read_yaml(path)
    if overrides:
        data = deep_merge(data, overrides)
    kind = data.get("kind", "classify")
    if kind not in ("classify", "instruct"):
        line = node_line(root, ("kind",)) if root is not None else None
        raise ConfigError(
            f"{path}{f':{line}' if line else ''}: kind: {kind!r} is not supported (known: classify, instruct)"
        )
    lines = _field_lines(data, root)
    check_domain_filled(path, data, lines)
    if kind == "instruct":
        instruct = validate_located(InstructDomain, data, str(path), root)
        seeds_path = (path.parent / instruct.seeds_file).resolve()
        check_seeds_filled(seeds_path)
        return LoadedInstructDomain(path, instruct, seeds_path)
    domain = validate_located(ClassifyDomain, data, str(path), root)
    seeds = {label.name: list(label.seeds) for label in domain.labels}
    if domain.seeds_file:
        seeds_path = (path.parent / domain.seeds_file).resolve()
        try:
            for _, text, label in read_labeled(seeds_path, domain.label_names):
                seeds[label].append(text)
        except SeedFileError as exc:
            line = node_line(root, ("seeds_file",)) if root is not None else None
            where = f"{path}:{line}" if line else str(path)
            raise ConfigError(f"{where}: seeds_file: {domain.seeds_file!r}:\n{exc}") from None
    missing = [i for i, label in enumerate(domain.labels) if not seeds[label.name]]
    if missing:
        problems = []
        for i in missing:
            line = node_line(root, ("labels", i)) if root is not None else None
            problems.append(
                f"{path}{f':{line}' if line else ''}: labels.{i}.seeds: label {domain.labels[i].name!r} has no "
                "seed examples (inline `seeds:` or rows in seeds_file)"
            )
        raise ConfigError("invalid domain:\n  " + "\n  ".join(problems))
    return LoadedDomain(path, domain, seeds)
