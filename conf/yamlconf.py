"""YAML → pydantic with errors that point into the file: `run.yaml:7: generation.num: ...`.

Used for the run config and for domain files alike, so every YAML a user writes fails the same
clear way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    pass


def node_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
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


def deep_merge(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """Parse a YAML mapping, keeping the node tree for locating errors later."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from None
    try:
        root = yaml.compose(text)
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{where}:1: expected a mapping of fields at the top level")
    return loaded or {}, root


def validate_located(
    model: type[M], data: dict[str, Any], where: str, root: yaml.Node | None, context: dict[str, Any] | None = None
) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            number = node_line(root, loc) if root is not None else None
            field = ".".join(str(p) for p in loc)
            lines.append(f"{where}{f':{number}' if number else ''}: {field}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def load_yaml_model(path: str | Path | None, model: type[M], overrides: dict[str, Any] | None = None) -> M:
    """Load YAML (optional), apply overrides, validate; errors name file, line and field."""
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    if path is not None:
        data, root = read_yaml(path)
    return validate_located(model, deep_merge(data, overrides or {}), str(path) if path else "<defaults>", root)
