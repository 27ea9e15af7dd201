"""Decontamination: drop rows that overlap the user's evaluation files.

The GPT-3 / Llama recipe: a row is contaminated when it shares any word 13-gram (`ngram`) with
an eval row; eval rows shorter than that are matched whole when they have at least `min_words`
words. Optionally, rows whose sentence embedding has cosine ≥ `embedding_threshold` with an eval
row are dropped too (paraphrased leaks that share no 13-gram). A dropped row names the eval
file, its line, and the matching span of the row's own text, extended over every consecutive
overlapping n-gram.

Eval files: .jsonl / .json (every string value, or `eval_fields`), .csv (every column, or
`eval_fields`), anything else one text per line. Each string value is indexed on its own, so no
n-gram spans two fields.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from filters.base import Filter, record_text
from filters.embeddings import embed, resolve_model
from prompts import Record, Verdict

_WORD = re.compile(r"\w+")


class EvalFileError(ValueError):
    pass


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def read_eval_texts(path: Path, fields: Sequence[str] | None) -> Iterator[tuple[int, str]]:
    """(line number, text) for every text in an eval file."""
    if not path.is_file():
        raise EvalFileError(f"{path}: eval file not found")

    def pick(row: Any, line: int) -> Iterator[tuple[int, str]]:
        if fields and isinstance(row, dict):
            missing = [f for f in fields if f not in row]
            if missing:
                raise EvalFileError(f"{path}:{line}: field {missing[0]!r} missing")
            row = [row[f] for f in fields]
        for text in _strings(row):
            yield line, text

    suffix = path.suffix.lower()
    with path.open(encoding="utf-8") as handle:
        if suffix == ".jsonl":
            for line, raw in enumerate(handle, 1):
                if raw.strip():
                    try:
                        row = json.loads(raw)
                    except json.JSONDecodeError as exc:
                        raise EvalFileError(f"{path}:{line}: invalid JSON: {exc.msg}") from None
                    yield from pick(row, line)
        elif suffix == ".json":
            try:
                rows = json.load(handle)
            except json.JSONDecodeError as exc:
                raise EvalFileError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
            for index, row in enumerate(rows if isinstance(rows, list) else [rows], 1):
                yield from pick(row, index)  # a JSON list: the "line" is the item's 1-based index
        elif suffix == ".csv":
            for line, row in enumerate(csv.DictReader(handle), 2):
                yield from pick(row, line)
        else:
            for line, raw in enumerate(handle, 1):
                if raw.strip():
                    yield line, raw.strip()


def _tokens(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    matches = list(_WORD.finditer(text.casefold()))
    return [m.group(0) for m in matches], [m.span() for m in matches]


class Decontaminate(Filter):
    name: ClassVar[str] = "decontaminate"
    requires: ClassVar[tuple[str, ...]] = ("encoder_dir",)

    def __init__(
        self,
        eval_files: list[str],
        ngram: int = 13,
        min_words: int = 8,
        fields: list[str] | None = None,
        eval_fields: list[str] | None = None,
        embedding_threshold: float | None = None,
        model: str | None = None,
        encoder_dir: str | None = None,
    ):
        if not eval_files:
            raise ValueError("decontaminate: name at least one eval file in `eval_files`")
        self.eval_files = [str(f) for f in eval_files]
        self.ngram = ngram
        self.min_words = min_words
        self.fields = list(fields or ["instruction", "input", "output"])
        self.eval_fields = list(eval_fields) if eval_fields else None
        self.embedding_threshold = embedding_threshold
        self.model = resolve_model(model, encoder_dir, self.name) if embedding_threshold is not None else None
        self._index: dict[str, int] = {}  # n-gram -> position in _sources
        self._sources: list[tuple[str, int, str]] = []  # (file, line, text)
        self._lengths = {ngram}  # n, plus the lengths of short eval rows matched whole
        for name in self.eval_files:
            for line, text in read_eval_texts(Path(name), self.eval_fields):
                self._add(name, line, text)
        self._vectors: np.ndarray | None = None
        self._cache: dict[str, np.ndarray] = {}

    def _add(self, name: str, line: int, text: str) -> None:
        words, _ = _tokens(text)
        source = len(self._sources)
        self._sources.append((name, line, text))
        if len(words) < self.ngram:
            if len(words) >= self.min_words:
                self._lengths.add(len(words))
                self._index.setdefault(" ".join(words), source)
            return
        for i in range(len(words) - self.ngram + 1):
            self._index.setdefault(" ".join(words[i : i + self.ngram]), source)

    def _overlap(self, text: str) -> dict[str, Any] | None:
        words, spans = _tokens(text)
        for length in sorted(self._lengths, reverse=True):
            for i in range(len(words) - length + 1):
                source = self._index.get(" ".join(words[i : i + length]))
                if source is None:
                    continue
                end, hits = i + length, 1
                while end < len(words) and " ".join(words[end - length + 1 : end + 1]) in self._index:
                    end, hits = end + 1, hits + 1
                name, line, eval_text = self._sources[source]
                return {
                    "eval_file": name,
                    "eval_line": line,
                    "span": text[spans[i][0] : spans[end - 1][1]],
                    "ngram": length,
                    "matched_ngrams": hits,
                    "eval_text": eval_text[:300],
                }
        return None

    def _eval_vectors(self) -> np.ndarray:
        if self._vectors is None:
            assert self.model is not None
            self._vectors = embed(self.model, [text for _, _, text in self._sources])
        return self._vectors

    def prepare(self, records: Sequence[Record]) -> None:
        if self.model is not None and records:
            vectors = embed(self.model, [record_text(r, self.fields) for r in records])
            self._cache = dict(zip((r.id for r in records), vectors, strict=True))

    def check(self, record: Record) -> Verdict:
        text = record_text(record, self.fields)
        found = self._overlap(text)
        if found is not None:
            return Verdict.drop("contaminated", score=1.0, **found)
        if self.model is None or self.embedding_threshold is None or not self._sources:
            return Verdict.ok(score=0.0)
        vector = self._cache.get(record.id)
        if vector is None:
            vector = embed(self.model, [text])[0]
        sims = self._eval_vectors() @ vector
        best = int(np.argmax(sims))
        score = round(float(sims[best]), 4)
        if score >= self.embedding_threshold:
            name, line, eval_text = self._sources[best]
            return Verdict.drop(
                "contaminated_semantic", score=score, eval_file=name, eval_line=line, span=eval_text[:300]
            )
        return Verdict.ok(score=score)
