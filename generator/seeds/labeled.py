"""Labeled example files — seeds, test sets, texts to auto-label — as JSONL or CSV rows.

Problems are collected with file, line and field like seed files, and raised together.
"""

from __future__ import annotations

from pathlib import Path

from generator.seeds.readers import RawRow, SeedError, SeedFileError, read_csv, read_jsonl, read_text


def _rows(path: Path, errors: list[SeedError]) -> list[RawRow]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, errors)
    if suffix in {".txt", ".text"}:
        return [RawRow(r.line, {"text": r.data["instruction"]}) for r in read_text(path, errors)]
    return read_jsonl(path, errors)


def read_labeled(
    path: str | Path,
    labels: list[str] | None,
    *,
    text_field: str = "text",
    label_field: str = "label",
    require_label: bool = True,
) -> list[tuple[int, str, str]]:
    """(line, text, label) rows. `labels` given: every label must be one of them."""
    path = Path(path)
    if not path.is_file():
        raise SeedFileError([SeedError(str(path), 0, "", "file not found")])
    errors: list[SeedError] = []
    out = []
    for row in _rows(path, errors):
        text = row.data.get(text_field)
        label = row.data.get(label_field, "")
        if not isinstance(text, str) or not text.strip():
            errors.append(SeedError(str(path), row.line, text_field, "missing or empty text"))
            continue
        if require_label and (not isinstance(label, str) or not label.strip()):
            errors.append(SeedError(str(path), row.line, label_field, "missing or empty label"))
            continue
        label = str(label or "").strip()
        if require_label and labels is not None and label not in labels:
            errors.append(SeedError(str(path), row.line, label_field, f"unknown label {label!r}; labels: {labels}"))
            continue
        out.append((row.line, text.strip(), label))
    if not out and not errors:
        errors.append(SeedError(str(path), 0, "", "no rows found"))
    if errors:
        raise SeedFileError(sorted(errors, key=lambda e: e.line))
    return out
