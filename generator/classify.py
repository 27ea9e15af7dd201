"""Labeled pairs: label-conditioned generation with quotas, then verification.

Self-Instruct's output-first idea: each request fixes the label (and sampled attributes) and asks
for k new texts of that label. Every text is then verified — does it carry the label it was
written for? — by the domain's `verification.method` (generator/verify/), and a text that fails
is rejected with the method's reason and scores. Generation goes on until every quota is met or
the round budget is spent, sending requests to the labels furthest from their quota; a label
falling far behind is reported while it happens (generator/label_guard.py). Rounds are the unit
of verification (confident learning cross-validates a round's texts together), not of traffic:
the next round goes out before this one's verdicts, and each text's checks as it arrives.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
class _Round:
    number: int
    allocation: dict[str, int]  # prompts per label
    tickets: list[tuple[int, str]]  # (flow ticket, label) in request order
    checked: set[int] = field(default_factory=set)  # tickets whose checks went out ahead


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
        """Rounds go out `rounds_ahead` before the verdicts of the ones before them: a round's
        allocation counts the prompts still out at the yield observed so far, so decisions are
        taken at fixed points of this loop (each round allocated when the one `rounds_ahead`
        before it is judged) and never depend on timing; a streaming teacher decodes the next
        round's texts beside this round's slowest texts and its checks."""
        task, gen = self.task, self.task.generation
        targets = task.targets_for({name: len(texts) for name, texts in self.seeds.items()})
        method = task.verification.method if self.verifier is not None else None
        guard = LabelGuard(targets, gen.overgenerate, method)
        records: list[Record] = []
        out: deque[_Round] = deque()  # sent, not yet judged
        sent = 0
        with self.gateway.open_flow() as flow:
            flow.watch = lambda: self._check_ahead(flow, out)
            while True:
                while len(out) <= gen.rounds_ahead and sent < gen.max_rounds and self._short(guard):
                    pending = Counter({label: n for rnd in out for label, n in rnd.allocation.items()})
                    allocation = guard.allocate(gen.texts_per_prompt, gen.max_prompts_per_label, pending)
                    if not allocation:
                        break  # the prompts out are expected to fill every quota
                    out.append(self._send(flow, sent, allocation))
                    sent += 1
                if not out:
                    break
                self._judge(flow, out, guard, records, targets)
                out.popleft()
        met = all(e.need == 0 for e in guard.tally.values())
        stopped = "target" if met else "token_budget" if self.gateway.over_budget else "max_rounds"
        return LabeledResult(records, targets, sent, stopped, guard, dict(self.context.facts))

    def _short(self, guard: LabelGuard) -> bool:
        """Is some label short of its quota, with tokens left to spend?"""
        return any(e.need for e in guard.tally.values()) and not self.gateway.over_budget

    def _send(self, flow: Flow, round_no: int, allocation: dict[str, int]) -> _Round:
        tickets = [
            (flow.submit(self._text_call(round_no, label, i), TEXT_STAGE), label)
            for label, n in allocation.items()
            for i in range(n)
        ]
        return _Round(round_no, allocation, tickets)

    def _check_ahead(self, flow: Flow, out: deque[_Round]) -> None:
        """Streaming: send the checks of every text answered so far in rounds not yet judged, so
        they decode beside slower texts instead of after them; verification later asks for
        exactly these calls and gets these answers."""
        if self.verifier is None or not flow.streaming:
            return
        for rnd in out:
            for ticket, label in rnd.tickets:
                outcome = flow.peek(ticket)
                if outcome is None or ticket in rnd.checked:
                    continue
                rnd.checked.add(ticket)
                found = [_candidate(r) for r in self._proposed(outcome, label, rnd.number) if not r.rejected]
                for stage, call in self.verifier.calls_ahead(found, rnd.number) if found else []:
                    flow.send_ahead(call, stage, first=True)  # this round's verdicts wait on them

    def _judge(
        self, flow: Flow, out: deque[_Round], guard: LabelGuard, records: list[Record], targets: dict[str, int]
    ) -> None:
        """Take the oldest round's texts in request order, verify and screen them, count the verdicts."""
        rnd = out[0]
        candidates: list[Record] = []
        self.gateway.stage_begins(TEXT_STAGE)  # progress.json: which stage the run waits on
        for ticket, label in rnd.tickets:
            for record in self._proposed(flow.take(ticket), label, rnd.number):
                if record.rejected:  # the teacher's invalid answer, quarantined
                    guard.observe(record)
                    records.append(record)
                else:
                    candidates.append(record)
        self.gateway.stage_ends(TEXT_STAGE)
        self._check_ahead(flow, out)  # every check of the round goes out before later rounds' texts
        for record in self._verify(candidates, rnd.number):
            if not record.rejected:
                if guard.tally[record.label].need <= 0:
                    record = record.reject("quota", "over_target", target=targets[record.label])
                else:
                    record = self.screen(record)
            guard.observe(record)
            records.append(record)
        for lag in guard.lagging():
            self.on_lag(lag)
        self.on_round(sum(min(e.kept, e.target) for e in guard.tally.values()), sum(targets.values()))

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

    def _proposed(self, outcome: Outcome, label: str, round_no: int) -> list[Record]:
        """The candidate texts of one answer, or the answer quarantined (no side effects: the
        streaming checks and the verdicts build the same records from the same outcome)."""
        teacher = self.gateway.teacher
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
            return [
                Record(id=rid, kind="classification", label=label, meta=meta).reject(
                    "validation",
                    outcome.failure or "invalid",
                    raw=outcome.text,
                    errors=outcome.errors,
                    attempts=outcome.attempts,
                    teacher_stage=TEXT_STAGE,
                )
            ]
        assert isinstance(outcome.parsed, LabeledTexts)
        return [
            Record(
                id=stable_hash(outcome.request_id, j),
                kind="classification",
                text=text.strip(),
                label=label,
                meta={**meta, "position": j},
            )
            for j, text in enumerate(outcome.parsed.texts)
        ]

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
