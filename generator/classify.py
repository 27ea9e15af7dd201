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
from collections import Counter
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
        self._descriptions = {label.name: label.description for label in task.labels}
        self._prompts: dict[tuple[int, str], tuple[random.Random, list[Call]]] = {}  # drawn so far
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
        records: list[Record] = []
        rounds = 0
        # One flow for the run: the next round's texts that are certain go out while this round's
        # verdicts decode, and the next round's submits join them.
        with self._traffic() as flow:
            while rounds < gen.max_rounds and self._short(guard):
                allocation = guard.allocate(gen.texts_per_prompt, gen.max_prompts_per_label)
                calls = [self._text_call(rounds, label, i) for label, n in allocation.items() for i in range(n)]
                call_labels = [label for label, n in allocation.items() for _ in range(n)]
                first = len(records)
                candidates = self._texts(flow, calls, call_labels, rounds, records)
                if flow is not None and self._certain_next(rounds):
                    self._send_next(flow, guard, candidates, records[first:], rounds + 1)
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
    def _traffic(self) -> Iterator[Flow | None]:
        if self.gateway.streams:
            with self.gateway.open_flow() as flow:
                yield flow
        else:
            yield None

    def _short(self, guard: LabelGuard) -> bool:
        """Is some label short of its quota, with tokens left to spend?"""
        return any(e.need for e in guard.tally.values()) and not self.gateway.over_budget

    def _certain_next(self, round_no: int) -> bool:
        """Can another round follow this one? (A token budget may stop any round: then no.)"""
        return round_no + 1 < self.task.generation.max_rounds and self.gateway.token_budget is None

    def _send_next(
        self, flow: Flow, guard: LabelGuard, candidates: list[Record], failed: list[Record], round_no: int
    ) -> None:
        gen = self.task.generation
        pending = Counter(r.label for r in candidates)
        settled = Counter(r.label for r in failed)
        for label, n in guard.certain_next(pending, settled, gen.texts_per_prompt, gen.max_prompts_per_label).items():
            for i in range(n):
                flow.send_ahead(self._text_call(round_no, label, i), TEXT_STAGE)

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

    def _text_call(self, round_no: int, label: str, index: int) -> Call:
        """Prompt `index` of `label` in round `round_no`. Its attributes and demos come from that
        label's own stream for the round, drawn in prompt order, so a prompt is the same call
        whether it is sent ahead or in its round, and whatever the other labels' allocations."""
        task, gen = self.task, self.task.generation
        key = (round_no, label)
        if key not in self._prompts:
            self._prompts[key] = (random.Random(f"{gen.seed}/{round_no}/{label}"), [])
        rng, drawn = self._prompts[key]
        pool = self.seeds.get(label, [])
        while len(drawn) <= index:
            attributes = {name: rng.choice(values) for name, values in sorted(task.attributes.items())}
            demos = rng.sample(pool, min(gen.demos_per_prompt, len(pool)))
            messages = self.spec.render(
                task=task.task,
                num=gen.texts_per_prompt,
                label=label,
                label_description=self._descriptions[label] or label,
                attributes=attributes,
                demos=demos,
                min_words=task.text_length.min_words,
                max_words=task.text_length.max_words,
            )
            schema = self.spec.json_schema_with({"texts": gen.texts_per_prompt})
            call_key = f"labeled/r{round_no}/{label}/p{len(drawn)}"
            drawn.append(Call(self.spec, messages, gen.sampling, key=call_key, json_schema=schema))
        return drawn[index]

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
