"""Language filter: keep rows written in the expected language(s), by an offline detector (lingua).

lingua ships its n-gram models inside the wheel, so detection needs no network. Confidence for
short instructions is low in absolute terms (0.2-0.4 for "Name three fruits." in English), so the
rule is relative: a row is dropped when the most likely language is not an allowed one. The score
is the detector's confidence in the best allowed language. Rows with nothing to detect (numbers,
code symbols) are kept unless `keep_unknown` is false.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any, ClassVar

from filters.base import Filter, record_text
from prompts import Record, Verdict

# The candidates a row is judged against: the widely used languages. Loading all 75 lingua
# models costs ~1 GB and seconds per process; `candidates: all` does that when needed.
COMMON = tuple(re.findall(r"\S+", "en de fr es it pt nl sv da nb fi pl cs ru uk tr ar fa hi bn zh ja ko vi id"))
_LOCK = threading.Lock()


@cache
def _detector(candidates: tuple[str, ...]) -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    if candidates == ("all",):
        return LanguageDetectorBuilder.from_all_languages().build()
    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in candidates]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def _code(language: Any) -> str:
    return str(language.iso_code_639_1.name).lower()


class LanguageFilter(Filter):
    name: ClassVar[str] = "language"

    def __init__(
        self,
        languages: list[str] | None = None,
        fields: list[str] | None = None,
        candidates: list[str] | str | None = None,
        keep_unknown: bool = True,
    ):
        self.languages = [code.lower() for code in (languages or ["en"])]
        self.fields = list(fields or ["instruction", "input", "output"])
        pool = candidates or COMMON
        self.candidates = ["all"] if pool == "all" or pool == ["all"] else sorted({*pool, *self.languages})
        self.keep_unknown = keep_unknown
        try:
            from lingua import IsoCode639_1

            for code in [*self.languages, *(c for c in self.candidates if c != "all")]:
                getattr(IsoCode639_1, code.upper())
        except AttributeError as exc:
            raise ValueError(f"language: unknown ISO 639-1 code {exc.name!r}") from None
        self._cache: dict[str, list[tuple[str, float]]] = {}

    def _confidences(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        detector = _detector(tuple(self.candidates))
        with _LOCK:  # lingua loads models lazily; one loader at a time
            values = detector.compute_language_confidence_values_in_parallel(list(texts))
        return [[(_code(v.language), float(v.value)) for v in row] for row in values]

    def prepare(self, records: Sequence[Record]) -> None:
        texts = [record_text(r, self.fields) for r in records]
        self._cache = dict(zip((r.id for r in records), self._confidences(texts), strict=True))

    def check(self, record: Record) -> Verdict:
        ranked = self._cache.get(record.id)
        if ranked is None:
            ranked = self._confidences([record_text(record, self.fields)])[0]
        if not ranked or ranked[0][1] == 0.0:
            if self.keep_unknown:
                return Verdict.ok(score=None, language=None)
            return Verdict.drop("language_unknown")
        top, _ = ranked[0]
        score = round(max((v for code, v in ranked if code in self.languages), default=0.0), 4)
        if top not in self.languages:
            return Verdict.drop("wrong_language", score=score, language=top, expected=self.languages)
        return Verdict.ok(score=score, language=top)
