"""Low-level readers: bytes on disk → (line number, raw dict) pairs, or a located error.

Every reader decodes line by line in strict UTF-8 so that a bad byte in line 40 is reported as
line 40 and the 39 lines before it are still readable with --skip-bad-lines. A UTF-8 BOM and CRLF
line endings are accepted silently: editors produce them and they carry no meaning.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_LINE_BYTES = 1 << 20  # a "line" larger than this is almost surely a binary or minified blob


@dataclass(frozen=True)
class SeedError:
    """One problem in a seed file, located precisely enough to fix it in an editor."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: field {self.field!r}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class RawRow:
    line: int
    data: dict[str, Any]


class SeedFileError(ValueError):
    """Raised with every problem found, each naming file, line and field."""

    def __init__(self, errors: list[SeedError]):
        self.errors = errors
        shown = "\n".join(f"  {e}" for e in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{len(errors)} problem(s) in seed file:\n{shown}{more}")


def _decode_lines(path: Path, errors: list[SeedError]) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) for every line that decodes; report the rest."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        chunk = chunk.removesuffix(b"\r")
        if len(chunk) > MAX_LINE_BYTES:
            errors.append(SeedError(str(path), number, "", f"line is {len(chunk)} bytes (limit {MAX_LINE_BYTES})"))
            continue
        if b"\x00" in chunk:
            column = chunk.index(b"\x00") + 1
            errors.append(SeedError(str(path), number, "", f"NUL byte at column {column}"))
            continue
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(
                SeedError(
                    str(path),
                    number,
                    "",
                    f"not valid UTF-8 (byte {exc.start + 1}: {chunk[exc.start : exc.start + 1]!r})",
                )
            )
            continue
        yield number, text


def read_jsonl(path: Path, errors: list[SeedError]) -> list[RawRow]:
    rows = []
    for number, text in _decode_lines(path, errors):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(SeedError(str(path), number, "", f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(data, dict):
            errors.append(SeedError(str(path), number, "", f"expected a JSON object, got {type(data).__name__}"))
            continue
        rows.append(RawRow(number, data))
    return rows


def read_text(path: Path, errors: list[SeedError]) -> list[RawRow]:
    """One instruction per non-empty line; lines starting with '#' are comments."""
    return [
        RawRow(number, {"instruction": text.strip()})
        for number, text in _decode_lines(path, errors)
        if text.strip() and not text.lstrip().startswith("#")
    ]


def read_csv(path: Path, errors: list[SeedError]) -> list[RawRow]:
    lines = dict(_decode_lines(path, errors))
    if not lines:
        return []
    # csv needs the logical text; undecodable physical lines were reported and become blank
    # so that the csv module's line numbers stay aligned with the file's.
    last = max(lines)
    text = "\n".join(lines.get(n, "") for n in range(1, last + 1))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        start = 2
        for record in reader:
            if any(v is None for v in record.values()) or None in record:
                errors.append(SeedError(str(path), start, "", "wrong number of columns"))
            elif any((v or "").strip() for v in record.values()):
                rows.append(RawRow(start, {k: v for k, v in record.items() if k is not None}))
            start = reader.line_num + 1
    except csv.Error as exc:
        errors.append(SeedError(str(path), reader.line_num, "", f"CSV error: {exc}"))
    return rows


def read_json_list(path: Path, errors: list[SeedError]) -> list[RawRow]:
    """A JSON array of objects (Alpaca's format), with the line each object starts on."""
    good = dict(_decode_lines(path, errors))
    if len(good) != max(good, default=0) or not good:
        if good:
            errors.append(SeedError(str(path), 0, "", "file cannot be parsed as one JSON document"))
        return []
    text = "\n".join(good[n] for n in sorted(good))
    decoder = json.JSONDecoder()
    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)

    def line_of(offset: int) -> int:
        lo, hi = 0, len(line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "[":
        errors.append(SeedError(str(path), line_of(pos), "", "expected a JSON array of objects"))
        return []
    rows: list[RawRow] = []
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return rows
    while pos < len(text):
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            errors.append(SeedError(str(path), exc.lineno, "", f"invalid JSON: {exc.msg} at column {exc.colno}"))
            return rows
        if isinstance(item, dict):
            rows.append(RawRow(line_of(pos), item))
        else:
            errors.append(SeedError(str(path), line_of(pos), "", f"expected an object, got {type(item).__name__}"))
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return rows
        else:
            errors.append(SeedError(str(path), line_of(pos), "", "expected ',' or ']' after an array item"))
            return rows
    errors.append(SeedError(str(path), line_of(len(text)), "", "unterminated JSON array"))
    return rows


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
