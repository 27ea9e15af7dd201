"""Filter chains as configuration: an ordered list of registry names with parameters."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from filters.registry import FILTERS


class FilterSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # YAML users write `- rouge_l` for a filter with default parameters.
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known(self) -> FilterSpec:
        if self.name not in FILTERS:
            raise ValueError(f"unknown filter {self.name!r}; known: {', '.join(sorted(FILTERS))}")
        cls = FILTERS[self.name]
        # Injected runtime objects (a judge, the default encoder) are not settable from YAML.
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", *cls.requires}
        unknown = sorted(set(self.params) - accepted)
        if unknown:
            raise ValueError(f"filter {self.name!r} has no parameter(s) {unknown}; it takes {sorted(accepted)}")
        return self


DEFAULT_INSTRUCTION_FILTERS = [
    "length",
    "blocklist",
    "write_a_program",
    "punctuation_start",
    "non_ascii_start",
    "exact_dedup",
    "rouge_l",
]
DEFAULT_RESPONSE_FILTERS = ["empty_output", "output_equals_input"]


class FiltersConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    instruction: list[FilterSpec] = Field(
        default_factory=lambda: [FilterSpec(name=n) for n in DEFAULT_INSTRUCTION_FILTERS]
    )
    response: list[FilterSpec] = Field(default_factory=lambda: [FilterSpec(name=n) for n in DEFAULT_RESPONSE_FILTERS])
    # Runs once generation is done, over the kept rows in blocks: where batch work belongs
    # (embeddings, the LLM judge, decontamination against eval files).
    post: list[FilterSpec] = Field(default_factory=list)

    @field_validator("instruction", "response", "post")
    @classmethod
    def _unique(cls, value: list[FilterSpec]) -> list[FilterSpec]:
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"filter(s) listed twice: {dupes}")
        return value

    @field_validator("instruction", "response")
    @classmethod
    def _per_row(cls, value: list[FilterSpec]) -> list[FilterSpec]:
        batch = [s.name for s in value if FILTERS[s.name].batch_only]
        if batch:
            raise ValueError(f"{batch} run on whole batches of rows: list them under filters.post")
        return value
