"""Labeled pairs: label-conditioned generation with quotas, then verification.

Self-Instruct's output-first idea: each request fixes the label (and sampled attributes) and asks
for k new texts of that label. Every text is then verified — does it carry the label it was
written for? — by the domain's `verification.method` (generator/verify/), and a text that fails
is rejected with the method's reason and scores. Generation goes on until every quota is met or
the round budget is spent, sending requests to the labels furthest from their quota; a label
falling far behind is reported while it happens (generator/label_guard.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from generator.classify_config import LabeledTask
from generator.flow import Flow
from generator.gateway import Call, Gateway, Outcome
from generator.label_guard import LabelGuard, Lag
from generator.verify import Candidate, Embed, Verifier, VerifyContext, make_verifier, pick_shots
from generator.verify.blind import VERIFY_STAGE, Vote, classify_texts
from prompts import Record, get_spec, stable_hash
from prompts.schemas import LabeledTexts

Screen = Callable[[Record], Record]
TEXT_STAGE = "texts"
__all__ = ["VERIFY_STAGE", "LabeledGenerator", "LabeledResult", "Vote", "classify_texts", "label_balance", "pick_shots"]


@dataclass
class LabeledResult:
    records: list[Record]
    targets: dict[str, int]
    rounds: int
    stopped: str = "target"
    guard: LabelGuard | None = None
    facts: dict[str, Any] | None = None  # what verification learned once per run (e.g. its prior)


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
        *,
        embed: Embed | None = None,
        on_lag: Callable[[Lag], None] | None = None,
    ):
        self.task = task
        self.seeds = seeds
        self.gateway = gateway
        self.screen = screen
        self.on_round = on_round or (lambda kept, target: None)
        self.on_lag = on_lag or (lambda lag: None)
        self.spec = get_spec("labeled_texts")
        # The blind classifier sees seed examples as demonstration turns, never the intended label.
        shots = pick_shots(seeds, task.verification.shots_per_label, task.generation.seed)
        self.context = VerifyContext(gateway, task, seeds, shots, embed)
        self.verifier: Verifier | None = (
            make_verifier(task.verification.method, self.context) if task.verification.enabled else None
        )

    def run(self) -> LabeledResult:
        task, gen = self.task, self.task.generation
        targets = task.targets_for({name: len(texts) for name, texts in self.seeds.items()})
        method = task.verification.method if self.verifier is not None else None
        guard = LabelGuard(targets, gen.overgenerate, method)
        descriptions = {label.name: label.description for label in task.labels}
        rng = random.Random(gen.seed)
        records: list[Record] = []
        rounds = 0
        while rounds < gen.max_rounds and any(e.need for e in guard.tally.values()) and not self.gateway.over_budget:
            calls: list[Call] = []
            call_labels: list[str] = []
            for label, n_prompts in guard.allocate(gen.texts_per_prompt, gen.max_prompts_per_label).items():
                calls += [self._text_call(rng, label, descriptions[label], rounds, i) for i in range(n_prompts)]
                call_labels += [label] * n_prompts
            first = len(records)
            with self._round_traffic() as flow:
                candidates = self._texts(flow, calls, call_labels, rounds, records)
                verified = self._verify(candidates, rounds)
            for record in records[first:]:  # the teacher's invalid answers, quarantined
                guard.observe(record)
            for record in verified:
                if not record.rejected:
                    if guard.tally[record.label].need <= 0:
                        record = record.reject("quota", "over_target", target=targets[record.label])
                    else:
                        record = self.screen(record)
                guard.observe(record)
                records.append(record)
            rounds += 1
            for lag in guard.lagging():
                self.on_lag(lag)
            self.on_round(sum(min(e.kept, e.target) for e in guard.tally.values()), sum(targets.values()))
        met = all(e.need == 0 for e in guard.tally.values())
        stopped = "target" if met else "token_budget" if self.gateway.over_budget else "max_rounds"
        return LabeledResult(records, targets, rounds, stopped, guard, dict(self.context.facts))

    @contextmanager
    def _round_traffic(self) -> Iterator[Flow | None]:
        if self.gateway.streams:
            with self.gateway.open_flow() as flow:
                yield flow
        else:
            yield None

    def _texts(
        self, flow: Flow | None, calls: list[Call], labels: list[str], round_no: int, records: list[Record]
    ) -> list[Record]:
        """The round's candidate texts. Streaming, each answer's verification requests are sent
        as it arrives, so they decode beside the round's slower texts instead of after them;
        verification later asks for exactly these (same calls), answered once."""
        if flow is None:
            return self._candidates(self.gateway.run(calls, TEXT_STAGE), labels, round_no, records)
        tickets = [flow.submit(call, TEXT_STAGE) for call in calls]
        candidates: list[Record] = []
        for ticket, label in zip(tickets, labels, strict=True):
            found = self._candidates([flow.take(ticket)], [label], round_no, records)
            candidates += found
            if self.verifier is not None and found:
                for stage, call in self.verifier.calls_ahead([_candidate(r) for r in found], round_no):
                    flow.send_ahead(call, stage)
        return candidates

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
        if self.verifier is None or not candidates:
            return candidates
        judged = self.verifier.judge([_candidate(r) for r in candidates], round_no)
        out = []
        for record, judgement in zip(candidates, judged, strict=True):
            info = {"method": self.verifier.name, **judgement.as_meta()}
            record = record.with_meta(verification=info)
            if not judgement.keep:
                evidence = {k: v for k, v in info.items() if k not in ("keep", "reason")}
                record = record.reject(VERIFY_STAGE, judgement.reason or "rejected", **evidence)
            out.append(record)
        return out


def _candidate(record: Record) -> Candidate:
    return Candidate(record.text, record.label, record.id)
