"""The one record type that flows through every stage of Seedforge.

A `Record` is created when the teacher proposes something (an instruction, a labeled text, or a
failed output that has to be quarantined) and is never dropped afterwards: it ends either kept or
rejected with the stage and reason that rejected it. Records are immutable so that a stage can
never change a row behind another stage's back; stages return updated copies instead.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RecordKind = Literal["instruction", "classification"]


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Hash JSON-able parts into a short hex id that is identical across runs and machines."""
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


class Rejection(BaseModel):
    """Why a record left the pipeline: the stage that decided, a machine-readable reason, evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Verdict(BaseModel):
    """What one filter says about one record. `score` lands in the record's meta either way."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep: bool
    reason: str | None = None
    score: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def ok(cls, score: float | None = None, **detail: Any) -> Verdict:
        return cls(keep=True, score=score, detail=detail)

    @classmethod
    def drop(cls, reason: str, score: float | None = None, **detail: Any) -> Verdict:
        return cls(keep=False, reason=reason, score=score, detail=detail)


class Record(BaseModel):
    """One candidate row. Instruction rows fill instruction/input/output; labeled rows text/label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: RecordKind = "instruction"
    instruction: str = ""
    input: str = ""
    output: str = ""
    text: str = ""
    label: str = ""
    # Follow-up turns after the first answer (user, assistant, ...): multi-turn instruction rows.
    turns: list[dict[str, str]] = Field(default_factory=list)
    # A system turn before the conversation. Generation leaves it empty; rows may carry one.
    system: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    rejection: Rejection | None = None

    @field_validator("turns")
    @classmethod
    def _exchanges(cls, turns: list[dict[str, str]]) -> list[dict[str, str]]:
        """Follow-up turns are whole exchanges: user, assistant, user, assistant..."""
        if len(turns) % 2:
            raise ValueError(f"turns must be user/assistant pairs (got {len(turns)} turns)")
        for i, turn in enumerate(turns):
            expected = "user" if i % 2 == 0 else "assistant"
            if turn.get("role") != expected or not isinstance(turn.get("content"), str):
                raise ValueError(f"turns[{i}] must be {{role: {expected}, content}}")
        return turns

    @property
    def rejected(self) -> bool:
        return self.rejection is not None

    @property
    def labeled(self) -> bool:
        """A labeled text (text + label), as opposed to an instruction row."""
        return self.kind == "classification"

    @property
    def multi_turn(self) -> bool:
        """More than one user/assistant exchange."""
        return bool(self.turns)

    def with_meta(self, **updates: Any) -> Record:
        return self.model_copy(update={"meta": {**self.meta, **updates}})

    def with_fields(self, **updates: Any) -> Record:
        return self.model_copy(update=updates)

    def reject(self, stage: str, reason: str, **detail: Any) -> Record:
        return self.model_copy(update={"rejection": Rejection(stage=stage, reason=reason, detail=detail)})

    def prompt_text(self) -> str:
        """The user turn as a student sees it: instruction, then the optional input."""
        if self.labeled:
            return self.text
        return f"{self.instruction}\n\n{self.input}" if self.input.strip() else self.instruction

    def answer(self) -> str:
        """The first assistant turn: the output, or the label of a labeled text."""
        return self.label if self.labeled else self.output

    def messages(self) -> list[dict[str, str]]:
        """The conversation, built here and only here: what export formats and students get."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [
            *system,
            {"role": "user", "content": self.prompt_text()},
            {"role": "assistant", "content": self.answer()},
            *({"role": t["role"], "content": t["content"]} for t in self.turns),
        ]

    def to_row(self) -> dict[str, Any]:
        """The JSON row written to train.jsonl / rejected.jsonl."""
        row: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.labeled:
            row.update(text=self.text, label=self.label)
        else:
            row.update(instruction=self.instruction, input=self.input, output=self.output)
            if self.turns:
                row["turns"] = self.turns
        if self.system:
            row["system"] = self.system
        row["messages"] = self.messages()
        row["meta"] = self.meta
        if self.rejection is not None:
            row["stage"] = self.rejection.stage
            row["reason"] = self.rejection.reason
            row["detail"] = self.rejection.detail
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Record:
        """Inverse of `to_row`: every reader of a run's rows gets them back with this.

        `messages` is derived from the fields (rows written before it existed have none); a row
        whose `messages` say something else was edited by hand and is refused rather than guessed.
        """
        rejection = None
        if "stage" in row:
            rejection = Rejection(stage=row["stage"], reason=row["reason"], detail=row.get("detail", {}))
        fields = {k: row[k] for k in ("instruction", "input", "output", "text", "label", "system") if k in row}
        record = cls(
            id=row["id"],
            kind=row.get("kind", "instruction"),
            meta=row.get("meta", {}),
            rejection=rejection,
            turns=row.get("turns", []),
            **fields,
        )
        if "messages" in row and row["messages"] != record.messages():
            raise ValueError(
                f"id {record.id}: `messages` differ from the conversation its fields give "
                "(instruction/input/output/turns/system, or text/label)"
            )
        return record
