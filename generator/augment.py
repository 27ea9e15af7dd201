"""Augmentation: new wordings of existing rows — paraphrases, and round trips through a pivot
language (text → pivot → back) — with the teacher.

The answer is carried over from the source row: a rewording asks the same thing, so the answer
stays right and costs no teacher call. Augmented rows carry their source's id and text, and go
through the instruction chain like any candidate: dedup there sees the source (it was kept or
primed before), so a rewording too close to it is rejected naming it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from generator.chain import run_chained
from generator.gateway import Call, Gateway, Outcome
from generator.modes_config import AugmentConfig
from generator.rows import Screen, quarantine, request_meta
from prompts import Record, get_spec, stable_hash
from prompts.schemas import Paraphrase, Translation

AUGMENT_STAGE = "augment"
Job = tuple[Record, dict[str, Any], Outcome]  # (source, how the new wording was made, the outcome holding it)


@dataclass
class AugmentResult:
    records: list[Record]
    methods: dict[str, dict[str, int]] = field(default_factory=dict)  # method -> created/kept


class Augmenter:
    def __init__(self, config: AugmentConfig, gateway: Gateway, screen_instruction: Screen, screen_response: Screen):
        self.config = config
        self.gateway = gateway
        self.screen_instruction = screen_instruction
        self.screen_response = screen_response
        self.paraphrase_spec = get_spec("paraphrase")
        self.translate_spec = get_spec("translate")

    def run(self, sources: list[Record]) -> AugmentResult:
        sources = [s for s in sources if not s.rejected and s.output.strip()]
        # (source, how the new wording was made, the outcome holding it)
        jobs: list[tuple[Record, dict[str, Any], Outcome]] = []
        variants = [(s, v) for s in sources for v in range(self.config.paraphrases)]
        calls = [
            Call(
                self.paraphrase_spec,
                self.paraphrase_spec.render(instruction=s.instruction),
                self.config.sampling,
                key=f"paraphrase/{s.id}/{v}",  # the key seeds the request: variants differ
            )
            for s, v in variants
        ]
        outcomes = self.gateway.run(calls, AUGMENT_STAGE) if calls else []
        jobs += [(s, {"method": "paraphrase", "variant": v}, o) for (s, v), o in zip(variants, outcomes, strict=True)]
        jobs += self._round_trips(sources)
        out: list[Record] = []
        methods: dict[str, Counter[str]] = {}
        for position, (source, how, outcome) in enumerate(jobs):
            kind = how["method"]
            methods.setdefault(kind, Counter())["created"] += 1
            lineage: dict[str, Any] = {
                "augmented_from": {"id": source.id, "instruction": source.instruction},
                "augmentation": how,
                "round": 2000,
                "prompt": position,
                "position": 0,
            }
            if not outcome.ok:
                out.append(quarantine(outcome, None, AUGMENT_STAGE, **lineage))
                continue
            parsed = outcome.parsed
            text = parsed.instruction if isinstance(parsed, Paraphrase) else getattr(parsed, "text", "")
            record = Record(
                id=stable_hash(outcome.request_id, "augmented"),
                instruction=text.strip(),
                input=source.input,
                output=source.output,
                meta={**lineage, "instruction_request": request_meta(outcome)},
            )
            record = self.screen_instruction(record)
            if not record.rejected:
                record = self.screen_response(record)
            if not record.rejected:
                methods[kind]["kept"] += 1
            out.append(record)
        return AugmentResult(out, {k: dict(v) for k, v in sorted(methods.items())})

    def _round_trips(self, sources: list[Record]) -> list[tuple[Record, dict[str, Any], Outcome]]:
        """Both legs per pivot; a failed first leg is the row's outcome."""
        jobs: list[tuple[Record, dict[str, Any], Outcome]] = []
        for pivot in self.config.pivots:
            self._round_trip(sources, pivot, jobs)
        return jobs

    def _round_trip(self, sources: list[Record], pivot: str, jobs: list[Job]) -> None:
        """Each way back is sent as its way there arrives (on a streaming teacher)."""
        pivot_texts: dict[int, str] = {}

        def back(i: int, there: Outcome) -> Call | None:
            if not there.ok:
                jobs.append((sources[i], {"method": "round_trip", "pivot": pivot, "failed_leg": "there"}, there))
                return None
            assert isinstance(there.parsed, Translation)
            pivot_texts[i] = there.parsed.text
            key = f"round_trip/{pivot}/{sources[i].id}/back"
            return self._translate(there.parsed.text, self.config.language, key)

        calls = [self._translate(s.instruction, pivot, f"round_trip/{pivot}/{s.id}/there") for s in sources]
        _, answers = run_chained(self.gateway, calls, AUGMENT_STAGE, back, AUGMENT_STAGE)
        for i, outcome in enumerate(answers):
            if outcome is not None:
                how = {"method": "round_trip", "pivot": pivot, "pivot_text": pivot_texts[i]}
                jobs.append((sources[i], how, outcome))

    def _translate(self, text: str, language: str, key: str) -> Call:
        messages = self.translate_spec.render(text=text, language=language)
        return Call(self.translate_spec, messages, self.config.translation_sampling, key=key)
