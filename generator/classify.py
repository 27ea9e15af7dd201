"""Labeled pairs: label-conditioned generation with quotas, then blind verification.

Self-Instruct's output-first idea: each request fixes the label (and sampled attributes) and asks
for k new texts of that label. Every text is then classified blind — the teacher sees the label
set, not the intended label — and a disagreement is rejected as `label_mismatch`. Generation goes
on per label until its quota is met or the round budget is spent; a shortfall is reported.
The same blind classifier serves auto-labeling and the teacher's zero-shot baseline.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from generator.classify_config import LabeledTask
from generator.gateway import Call, Gateway, Outcome
from generator.teacher import SamplingConfig
from prompts import Record, get_spec, stable_hash
from prompts.schemas import LabeledTexts, Relabel

Screen = Callable[[Record], Record]
TEXT_STAGE = "texts"
VERIFY_STAGE = "verification"


@dataclass(frozen=True)
class Vote:
    """The blind classifier's answer for one text: majority label and its share of the votes."""

    label: str | None
    confidence: float
    votes: dict[str, int]
    request_ids: list[str]


def pick_shots(seeds: dict[str, list[str]], per_label: int, seed: int) -> list[tuple[str, str]]:
    """Demonstrations for the blind classifier: the first seeds of each label, interleaved.

    Interleaving (not label-by-label) keeps the last demonstration from biasing every answer
    toward its label.
    """
    shots = [(text, label) for label, texts in seeds.items() for text in texts[:per_label]]
    random.Random(seed).shuffle(shots)
    return shots


def classify_texts(
    gateway: Gateway,
    task: LabeledTask,
    texts: Sequence[str],
    *,
    samples: int,
    sampling: SamplingConfig,
    key: str,
    stage: str = VERIFY_STAGE,
    shots: Sequence[tuple[str, str]] = (),
) -> list[Vote]:
    """Blind-classify texts with guided choice over the label names, `samples` votes each.

    `shots` are (text, label) demonstrations given as earlier chat turns; none = zero-shot.
    """
    spec = get_spec("classify")
    labels = [{"name": label.name, "description": label.description} for label in task.labels]
    demo_turns = [({"text": text}, label) for text, label in shots]
    calls = [
        Call(
            spec,
            spec.render_with_shots(demo_turns, task=task.task, labels=labels, text=text),
            sampling,
            key=f"{key}/{stable_hash(text)}/v{vote}",
            choices=tuple(task.label_names),
        )
        for text in texts
        for vote in range(samples)
    ]
    outcomes = gateway.run(calls, stage)
    results = []
    for i in range(len(texts)):
        mine = outcomes[i * samples : (i + 1) * samples]
        counts = Counter(o.parsed.label for o in mine if o.ok and isinstance(o.parsed, Relabel))
        ids = [o.request_id for o in mine]
        if not counts:
            results.append(Vote(None, 0.0, {}, ids))
            continue
        # Ties go to the label listed first in the domain: deterministic, and documented.
        top = max(counts.values())
        winner = next(name for name in task.label_names if counts.get(name) == top)
        results.append(Vote(winner, top / samples, dict(counts), ids))
    return results


@dataclass
class LabeledResult:
    records: list[Record]
    targets: dict[str, int]
    rounds: int
    stopped: str = "target"


def label_balance(records: Sequence[Record], targets: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per label: target, generated, kept, shortfall and rejections by stage/reason."""
    out: dict[str, dict[str, Any]] = {
        name: {"target": target, "generated": 0, "kept": 0, "rejected": {}} for name, target in targets.items()
    }
    for record in records:
        entry = out.setdefault(record.label, {"target": 0, "generated": 0, "kept": 0, "rejected": {}})
        entry["generated"] += 1
        if record.rejection is None:
            entry["kept"] += 1
        else:
            key = f"{record.rejection.stage}/{record.rejection.reason}"
            entry["rejected"][key] = entry["rejected"].get(key, 0) + 1
    for entry in out.values():
        entry["shortfall"] = max(entry["target"] - entry["kept"], 0)
    return out


class LabeledGenerator:
    def __init__(
        self,
        task: LabeledTask,
        seeds: dict[str, list[str]],
        gateway: Gateway,
        screen: Screen,
        on_round: Callable[[int, int], None] | None = None,
    ):
        self.task = task
        self.seeds = seeds
        self.gateway = gateway
        self.screen = screen
        self.on_round = on_round or (lambda kept, target: None)
        self.spec = get_spec("labeled_texts")
        # The blind classifier sees seed examples as demonstration turns, never the intended label.
        self.shots = pick_shots(seeds, task.verification.shots_per_label, task.generation.seed)

    def run(self) -> LabeledResult:
        task, gen = self.task, self.task.generation
        targets = task.targets_for({name: len(texts) for name, texts in self.seeds.items()})
        rng = random.Random(gen.seed)
        kept = dict.fromkeys(targets, 0)
        records: list[Record] = []
        rounds = 0
        while rounds < gen.max_rounds and any(kept[n] < targets[n] for n in targets) and not self.gateway.over_budget:
            calls: list[Call] = []
            call_labels: list[str] = []
            for label in task.labels:
                need = targets[label.name] - kept[label.name]
                if need <= 0:
                    continue
                n_prompts = min(gen.max_prompts_per_label, math.ceil(need * gen.overgenerate / gen.texts_per_prompt))
                calls += [self._text_call(rng, label.name, label.description, rounds, i) for i in range(n_prompts)]
                call_labels += [label.name] * n_prompts
            outcomes = self.gateway.run(calls, TEXT_STAGE)
            candidates = self._candidates(outcomes, call_labels, rounds, records)
            for record in self._verify(candidates, rounds):
                if not record.rejected:
                    if kept[record.label] >= targets[record.label]:
                        record = record.reject("quota", "over_target", target=targets[record.label])
                    else:
                        record = self.screen(record)
                        kept[record.label] += not record.rejected
                records.append(record)
            rounds += 1
            self.on_round(sum(min(kept[n], targets[n]) for n in targets), sum(targets.values()))
        met = all(kept[n] >= targets[n] for n in targets)
        stopped = "target" if met else "token_budget" if self.gateway.over_budget else "max_rounds"
        return LabeledResult(records, targets, rounds, stopped)

    def _text_call(self, rng: random.Random, label: str, description: str, round_no: int, index: int) -> Call:
        task, gen = self.task, self.task.generation
        attributes = {name: rng.choice(values) for name, values in sorted(task.attributes.items())}
        pool = self.seeds.get(label, [])
        demos = rng.sample(pool, min(gen.demos_per_prompt, len(pool)))
        messages = self.spec.render(
            task=task.task,
            num=gen.texts_per_prompt,
            label=label,
            label_description=description or label,
            attributes=attributes,
            demos=demos,
            min_words=task.text_length.min_words,
            max_words=task.text_length.max_words,
        )
        schema = self.spec.json_schema_with({"texts": gen.texts_per_prompt})
        return Call(self.spec, messages, gen.sampling, key=f"labeled/r{round_no}/{label}/p{index}", json_schema=schema)

    def _candidates(
        self, outcomes: list[Outcome], labels: list[str], round_no: int, records: list[Record]
    ) -> list[Record]:
        teacher = self.gateway.teacher
        out = []
        for outcome, label in zip(outcomes, labels, strict=True):
            meta: dict[str, Any] = {
                "round": round_no,
                "intended_label": label,
                "teacher": {"model": teacher.model_name, "revision": teacher.revision, "endpoint": teacher.endpoint},
                "text_request": {
                    "id": outcome.request_id,
                    "template": {"name": self.spec.name, "hash": self.spec.template_hash},
                    "sampling": outcome.call.sampling.model_dump(),
                    "seed": outcome.seed,
                    "attempts": outcome.attempts,
                },
            }
            if not outcome.ok:
                rid = stable_hash("quarantine", outcome.call.key, outcome.request_id)
                records.append(
                    Record(id=rid, kind="classification", label=label, meta=meta).reject(
                        "validation",
                        outcome.failure or "invalid",
                        raw=outcome.text,
                        errors=outcome.errors,
                        attempts=outcome.attempts,
                        teacher_stage=TEXT_STAGE,
                    )
                )
                continue
            assert isinstance(outcome.parsed, LabeledTexts)
            for j, text in enumerate(outcome.parsed.texts):
                rid = stable_hash(outcome.request_id, j)
                out.append(
                    Record(id=rid, kind="classification", text=text.strip(), label=label, meta={**meta, "position": j})
                )
        return out

    def _verify(self, candidates: list[Record], round_no: int) -> list[Record]:
        verification = self.task.verification
        if not verification.enabled or not candidates:
            return candidates
        votes = classify_texts(
            self.gateway,
            self.task,
            [r.text for r in candidates],
            samples=verification.samples,
            sampling=verification.sampling(),
            key=f"verify/r{round_no}",
            shots=self.shots,
        )
        out = []
        for record, vote in zip(candidates, votes, strict=True):
            info = {
                "predicted": vote.label,
                "confidence": vote.confidence,
                "votes": vote.votes,
                "request_ids": vote.request_ids,
            }
            record = record.with_meta(verification=info)
            if vote.label is None:
                record = record.reject("verification", "verification_failed", **info)
            elif vote.label != record.label:
                record = record.reject("verification", "label_mismatch", **info)
            out.append(record)
        return out
