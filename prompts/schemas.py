"""Pydantic schemas for teacher outputs. `extra="forbid"` becomes additionalProperties: false in
the guided-decoding grammar, so the teacher cannot pad its answer with fields nobody reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NewInstruction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Length caps become maxLength in the grammar: a small teacher otherwise rambles inside one
    # string until max_tokens and the whole list is lost to truncation.
    instruction: str = Field(max_length=300)
    input: str = Field(max_length=600)


class NewInstructions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instructions: list[NewInstruction] = Field(min_length=1, max_length=20)


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: str


class LabeledTexts(BaseModel):
    """Label-conditioned generation: k new texts that all carry the label fixed by the prompt."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, max_length=10)


class Relabel(BaseModel):
    """A blind classification answer. Decoded by guided *choice*: the text is one label name."""

    model_config = ConfigDict(extra="forbid")

    label: str


class ScoredReply(BaseModel):
    """A reply the teacher scores rather than writes (SuperGen likelihood): never decoded."""

    model_config = ConfigDict(extra="forbid")

    text: str


class JudgeScores(BaseModel):
    """An LLM judge's rubric scores for one instruction/response pair (1-10 per criterion).

    The rationale comes first so the model states its reasons before it commits to numbers.
    """

    model_config = ConfigDict(extra="forbid")

    rationale: str = Field(max_length=400)
    accuracy: int = Field(ge=1, le=10)
    relevance: int = Field(ge=1, le=10)
    clarity: int = Field(ge=1, le=10)
    usefulness: int = Field(ge=1, le=10)


class PairwiseVerdict(BaseModel):
    """A judge's preference between two answers to one instruction (positions A/B, not models).

    The reason comes first so the verdict is decoded after it, and is capped: a small judge
    otherwise writes until max_tokens and the verdict is lost to truncation.
    """

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=300)
    winner: Literal["A", "B", "tie"]


class EvolvedInstruction(BaseModel):
    """An Evol-Instruct rewrite: the new prompt only (never its answer)."""

    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1, max_length=600)


class Paraphrase(BaseModel):
    """The same instruction in other words."""

    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1, max_length=600)


class Translation(BaseModel):
    """One leg of a round-trip translation."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=800)


class FollowUp(BaseModel):
    """The user's next question in a conversation."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=300)
