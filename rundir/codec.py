"""The row codec: a `Record` <-> one JSON line of train.jsonl / rejected.jsonl.

The row's shape is `Record.to_row` / `Record.from_row` (prompts/record.py); this module is the
bytes around it, used by the writer (publish) and every reader, so a bad line is reported the same
way everywhere: file, line number, what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from prompts import Record


class BadRow(ValueError):
    """A line of a run's JSONL file that is not a Seedforge row; the message names file and line."""


def encode_rows(rows: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n" for row in rows)


def encode_records(records: Iterable[Record]) -> bytes:
    return encode_rows(record.to_row() for record in records)


def _lines(data: bytes) -> Iterable[tuple[int, str]]:
    for number, raw in enumerate(data.decode("utf-8").splitlines(), 1):
        if raw.strip():
            yield number, raw


def decode_rows(data: bytes, where: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for every non-blank line; `where` names the file in errors."""
    rows = []
    for number, raw in _lines(data):
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadRow(f"{where}:{number}: not JSON: {exc}") from None
        if not isinstance(row, dict) or "id" not in row:
            raise BadRow(f"{where}:{number}: not a Seedforge row (no id)")
        rows.append((number, row))
    return rows


def decode_records(data: bytes, where: str) -> list[Record]:
    records = []
    for number, row in decode_rows(data, where):
        try:
            records.append(Record.from_row(row))
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRow(f"{where}:{number}: not a Seedforge row: {exc}") from None
    return records
