"""Two dependent teacher stages — a call, then a call made from its answer — as the modes ask them
(an evolved instruction then its answer; a translation there then back; a follow-up question then
its answer).

On a streaming teacher each second call is sent the moment its first answer is taken, so the
second stage decodes beside the first stage's slower requests instead of after all of them. On a
batch teacher it is two batches. Either way `then` sees the first answers in call order, so its
decisions (screens with state: dedup against what came before) and every row are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from generator.calls import Call, Outcome
from generator.gateway import Gateway

Then = Callable[[int, Outcome], Call | None]  # (index, first answer) -> the second call, or none


def run_chained(
    gateway: Gateway, calls: Sequence[Call], stage: str, then: Then, then_stage: str
) -> tuple[list[Outcome], list[Outcome | None]]:
    """Every first outcome, and per call the outcome of the call `then` made from it (or None)."""
    if not calls:
        return [], []
    if not gateway.streams:
        firsts = gateway.run(calls, stage)
        made = [then(i, outcome) for i, outcome in enumerate(firsts)]
        answers = iter(gateway.run([c for c in made if c is not None], then_stage))
        return firsts, [next(answers) if c is not None else None for c in made]
    with gateway.open_flow() as flow:
        gateway.stage_begins(stage)
        tickets = [flow.submit(call, stage) for call in calls]
        firsts, seconds = [], []
        for i, ticket in enumerate(tickets):
            firsts.append(flow.take(ticket))
            second = then(i, firsts[-1])
            seconds.append(flow.submit(second, then_stage) if second is not None else None)
        gateway.stage_ends(stage)
        gateway.stage_begins(then_stage)
        outcomes = [flow.take(ticket) if ticket is not None else None for ticket in seconds]
        gateway.stage_ends(then_stage)
    return firsts, outcomes
