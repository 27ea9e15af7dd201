"""Multi-turn rows: the teacher plays the user (a follow-up question on the conversation so far)
and then the assistant (an answer given the whole conversation), for N exchanges per row.

Each exchange is two stages over all rows still going (an answer is asked as its question
arrives on a streaming teacher: generator/chain.py). A row whose follow-up fails keeps the
turns it has — the first exchange is already a valid row — and its `meta.multi_turn` says how
many turns were asked for, how many it got and why it stopped; nothing is dropped silently.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from generator.chain import run_chained
from generator.gateway import Call, Gateway, Outcome
from generator.modes_config import MultiTurnConfig
from prompts import Record, get_spec
from prompts.schemas import FollowUp, Response

FOLLOW_UP_STAGE = "follow_up"
FOLLOW_UP_ANSWER_STAGE = "follow_up_answers"


@dataclass
class MultiTurnResult:
    records: list[Record]  # the input rows, in order, with their follow-up turns
    extended: int
    turns_added: int


class MultiTurn:
    def __init__(self, config: MultiTurnConfig, gateway: Gateway):
        self.config = config
        self.gateway = gateway
        self.question_spec = get_spec("follow_up")
        self.answer_spec = get_spec("response")

    def run(self, records: list[Record]) -> MultiTurnResult:
        rng = random.Random(self.config.seed)
        chosen = [
            i for i, r in enumerate(records) if not r.rejected and not r.labeled and rng.random() < self.config.share
        ]
        rows = list(records)
        for i in chosen:
            rows[i] = rows[i].with_meta(multi_turn={"requested": self.config.turns, "added": 0})
        active = chosen
        for exchange in range(1, self.config.turns + 1):
            if not active or self.gateway.over_budget:
                break
            active = self._exchange(rows, active, exchange)
        extended = sum(1 for i in chosen if rows[i].turns)
        return MultiTurnResult(rows, extended, sum(len(rows[i].turns) // 2 for i in chosen))

    def _exchange(self, rows: list[Record], active: list[int], exchange: int) -> list[int]:
        asked: list[tuple[int, str]] = []

        def answer_call(k: int, outcome: Outcome) -> Call | None:
            """The follow-up question, as it arrives; asked, its answer call."""
            i = active[k]
            if not (outcome.ok and isinstance(outcome.parsed, FollowUp)):
                self._stop(rows, i, "question", outcome.failure, outcome.request_id)
                return None
            question = outcome.parsed.question.strip()
            asked.append((i, question))
            return Call(
                self.answer_spec,
                [*rows[i].messages(), {"role": "user", "content": question}],
                self.config.answer_sampling,
                key=f"follow_up_answer/{rows[i].id}/{exchange}",
            )

        questions = [
            Call(
                self.question_spec,
                self.question_spec.render(conversation=rows[i].messages()),
                self.config.question_sampling,
                key=f"follow_up/{rows[i].id}/{exchange}",
            )
            for i in active
        ]
        _, outcomes = run_chained(self.gateway, questions, FOLLOW_UP_STAGE, answer_call, FOLLOW_UP_ANSWER_STAGE)
        answers = [outcome for outcome in outcomes if outcome is not None]
        still: list[int] = []
        for (i, question), outcome in zip(asked, answers, strict=True):
            answer = outcome.parsed.output.strip() if outcome.ok and isinstance(outcome.parsed, Response) else ""
            if not answer:
                self._stop(rows, i, "answer", outcome.failure or "empty_answer", outcome.request_id)
                continue
            row = rows[i]
            turns = [*row.turns, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            state = {**row.meta["multi_turn"], "added": len(turns) // 2}
            rows[i] = row.with_fields(turns=turns).with_meta(multi_turn=state)
            still.append(i)
        return still

    @staticmethod
    def _stop(rows: list[Record], i: int, leg: str, failure: str | None, request_id: str) -> None:
        row = rows[i]
        state = {**row.meta["multi_turn"], "stopped": {"leg": leg, "failure": failure, "request_id": request_id}}
        rows[i] = row.with_meta(multi_turn=state)
