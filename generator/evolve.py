"""Evol-Instruct (WizardLM, Xu et al. 2023): rewrite kept instructions into harder (in-depth) or
new (in-breadth) ones, answer them, and evolve the survivors again, for N rounds.

One operation is drawn per row and round from a hash of (row id, round, seed), so a re-run asks
the same questions and resumes from the journal. A rewrite goes through the same screens as a
Self-Instruct candidate — the instruction chain (dedup against everything kept so far), then
the answer, the response chain and the elimination rules (passed in as `screen_response`) — and
its lineage (parent id and text, operation, round, root) is in `meta`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from generator.chain import run_chained
from generator.gateway import Call, Gateway, Outcome
from generator.modes_config import EvolConfig
from generator.rows import Screen, answered_record, quarantine, request_meta
from generator.teachers.base import SamplingConfig
from prompts import Record, get_spec, stable_hash
from prompts.schemas import EvolvedInstruction

EVOL_STAGE = "evol"
EVOL_RESPONSE_STAGE = "evol_responses"

# In-depth methods (the wording is ours; the four kinds are the paper's).
METHODS = {
    "add_constraints": "Add one more constraint or requirement to it.",
    "deepen": "If it asks about a topic, make the question deeper and broader.",
    "concretize": "Replace general concepts with more specific ones.",
    "reasoning": "If it can be solved in a few simple steps, make it explicitly ask for several reasoning steps.",
    "breadth": "",
}


@dataclass
class EvolResult:
    records: list[Record]  # every evolved candidate, kept or rejected, in creation order
    by_round: list[dict[str, int]] = field(default_factory=list)
    operations: dict[str, dict[str, int]] = field(default_factory=dict)  # operation -> created/kept


class EvolInstruct:
    def __init__(
        self,
        config: EvolConfig,
        gateway: Gateway,
        screen_instruction: Screen,
        screen_response: Screen,
        response_sampling: SamplingConfig,
    ):
        self.config = config
        self.gateway = gateway
        self.screen_instruction = screen_instruction
        self.screen_response = screen_response
        self.response_sampling = response_sampling
        self.spec = get_spec("evolve")
        self.response_spec = get_spec("response")

    def operation(self, record: Record, round_no: int) -> str:
        ops = self.config.operations
        return ops[int(stable_hash(record.id, round_no, self.config.seed), 16) % len(ops)]

    def run(self, parents: list[Record]) -> EvolResult:
        out: list[Record] = []
        result = EvolResult(out)
        ops: dict[str, Counter[str]] = {}
        current = [p for p in parents if not p.rejected]
        for round_no in range(1, self.config.rounds + 1):
            if not current or self.gateway.over_budget:
                break
            current = self._round(current, round_no, out, ops)
            result.by_round.append({"round": round_no, "kept": len(current)})
        result.operations = {op: dict(counts) for op, counts in sorted(ops.items())}
        return result

    def _round(
        self, parents: list[Record], round_no: int, out: list[Record], ops: dict[str, Counter[str]]
    ) -> list[Record]:
        chosen = [self.operation(p, round_no) for p in parents]
        calls = [
            Call(
                self.spec,
                self.spec.render(operation=op, method=METHODS[op], instruction=p.instruction, input=p.input),
                self.config.sampling,
                key=f"evol/r{round_no}/{p.id}",
            )
            for p, op in zip(parents, chosen, strict=True)
        ]
        candidates: list[Record] = []

        def screened(position: int, outcome: Outcome) -> Call | None:
            """The rewrite, screened as it arrives; an accepted one's answer call."""
            parent, op = parents[position], chosen[position]
            ops.setdefault(op, Counter())["created"] += 1
            lineage: dict[str, Any] = {
                "evolved_from": {"id": parent.id, "instruction": parent.instruction},
                "evol": {
                    "operation": op,
                    "round": round_no,
                    "root": parent.meta.get("evol", {}).get("root", parent.id),
                },
                # the order rows were screened in, which re-filtering replays after Self-Instruct's
                "round": 1000 + round_no,
                "prompt": position,
                "position": 0,
            }
            if not outcome.ok:
                out.append(quarantine(outcome, None, EVOL_STAGE, **lineage))
                return None
            assert isinstance(outcome.parsed, EvolvedInstruction)
            record = Record(
                id=stable_hash(outcome.request_id, "evolved"),
                instruction=outcome.parsed.instruction.strip(),
                # In-depth rewrites still refer to the parent's input; a breadth task is new.
                input="" if op == "breadth" else parent.input,
                meta={**lineage, "instruction_request": request_meta(outcome)},
            )
            record = self.screen_instruction(record)
            if record.rejected:
                out.append(record)
                return None
            candidates.append(record)
            return Call(
                self.response_spec,
                self.response_spec.render(instruction=record.instruction, input=record.input),
                self.response_sampling,
                key=f"response/{record.id}",
            )

        _, responses = run_chained(self.gateway, calls, EVOL_STAGE, screened, EVOL_RESPONSE_STAGE)
        answers = [outcome for outcome in responses if outcome is not None]
        answered = [
            answered_record(record, outcome, self.screen_response, EVOL_RESPONSE_STAGE)
            for record, outcome in zip(candidates, answers, strict=True)
        ]
        out.extend(answered)
        kept = [r for r in answered if not r.rejected]
        for record in kept:
            ops[record.meta["evol"]["operation"]]["kept"] += 1
        return kept
