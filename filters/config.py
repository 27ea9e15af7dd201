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
        accepted = inspect.signature(FILTERS[self.name].__init__).parameters
        unknown = sorted(set(self.params) - set(accepted) - {"self"})
        if unknown:
            raise ValueError(
                f"filter {self.name!r} has no parameter(s) {unknown}; it takes {sorted(set(accepted) - {'self'})}"
            )
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

    @field_validator("instruction", "response")
    @classmethod
    def _unique(cls, value: list[FilterSpec]) -> list[FilterSpec]:
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"filter(s) listed twice: {dupes}")
        return value
