"""Rows from teacher outcomes, shared by the strategies (Self-Instruct, Evol, augmentation): a
failed request becomes a rejected row with its evidence, an answer becomes a screened row, and
each row carries the lineage of the requests that made it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from generator.calls import Outcome
from prompts import Record, stable_hash
from prompts.schemas import Response

Screen = Callable[[Record], Record]  # returns the record kept (maybe with scores) or rejected


def quarantine(outcome: Outcome, record_id: str | None, stage: str, **meta: Any) -> Record:
    """A request that never produced valid output still becomes a row: rejected, with evidence.
    Without a record id, the row's id comes from the call's key and the failed request's id."""
    if record_id is None:
        record_id = stable_hash("quarantine", outcome.call.key, outcome.request_id)
    return Record(id=record_id, meta={**meta, "request_ids": outcome.request_ids}).reject(
        "validation",
        outcome.failure or "invalid",
        spec=outcome.call.spec.name,
        teacher_stage=stage,
        raw=outcome.text,
        errors=outcome.errors,
        attempts=outcome.attempts,
    )


def request_meta(outcome: Outcome) -> dict[str, Any]:
    """Lineage of one teacher request, kept in a row's meta: id, template, sampling, seed, attempts."""
    spec = outcome.call.spec
    return {
        "id": outcome.request_id,
        "template": {"name": spec.name, "hash": spec.template_hash},
        "sampling": outcome.call.sampling.model_dump(),
        "seed": outcome.seed,
        "attempts": outcome.attempts,
    }


def answered_record(record: Record, outcome: Outcome, screen: Screen, stage: str) -> Record:
    """`record` with the answer of its `Response` call, screened; a failed call quarantines it."""
    if not outcome.ok:
        failed = quarantine(outcome, record.id, stage)
        return record.with_meta(response_request=request_meta(outcome)).model_copy(
            update={"rejection": failed.rejection}
        )
    assert isinstance(outcome.parsed, Response)
    answered = record.with_fields(output=outcome.parsed.output.strip()).with_meta(
        response_request=request_meta(outcome)
    )
    return screen(answered)
