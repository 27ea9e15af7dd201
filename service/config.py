"""The one configuration file: every section's pydantic model, loaded from YAML with located errors.

Each package owns its section (teacher/generation in generator, filters in filters); this module
only composes them, so a new section is one field here. Errors name the file, the YAML line and
the dotted field, e.g. `run.yaml:7: generation.num: Input should be greater than or equal to 1`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from filters.config import FiltersConfig
from generator.config import GenerationConfig, TeacherConfig
from generator.seeds import SeedsConfig


class SeedforgeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seeds: SeedsConfig = Field(default_factory=SeedsConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)

    def resolved(self) -> dict[str, Any]:
        """Every value, defaults included: what is saved next to every output."""
        return self.model_dump(mode="json")


class ConfigError(ValueError):
    pass


def _node_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a 1-based line number."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _deep_merge(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> SeedforgeConfig:
    """Load YAML (optional), apply CLI overrides, validate. Raises ConfigError with locations."""
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    where = str(path) if path else "<defaults>"
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        try:
            root = yaml.compose(text)
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{where}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{where}:1: the config must be a mapping of sections")
        data = loaded or {}
    try:
        return SeedforgeConfig.model_validate(_deep_merge(data, overrides or {}))
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            number = _node_line(root, loc) if root is not None else None
            field = ".".join(str(p) for p in loc)
            lines.append(f"{where}{f':{number}' if number else ''}: {field}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
