"""Filters wired into a run: the runtime objects filters cannot build, and the post chain.

Filters never import the generator. What they need from it arrives here as `resources`: the
offline encoder's directory (semantic dedup, embedding decontamination) and `judge`, a callable
that runs a batch of judge prompts through the run's Gateway — guided JSON into the judge
schema, retries, the journal (so a re-run answers every judged row from disk).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from filters import FILTERS, FilterChain, FiltersConfig, FilterSpec
from filters.chain import build_filters
from filters.judge import JudgeReply, JudgeRequest
from generator.gateway import Call, Gateway
from generator.teachers.base import SamplingConfig
from generator.teachers.models import ModelNotFound, embedded_encoder_dir
from prompts import Record, get_spec
from prompts.schemas import JudgeScores

INSTRUCTION_FILTER_STAGE = "instruction_filter"
RESPONSE_FILTER_STAGE = "response_filter"
POST_FILTER_STAGE = "post_filter"
JUDGE_STAGE = "judge"


class FilterSetupError(ValueError):
    """A filter could not be built from the config (missing eval file, unknown language...)."""


class GatewayJudge:
    """The judge callable. Built before the run opens (so a bad filter config fails before any
    file is touched); the gateway is bound once the run's journal exists."""

    def __init__(self) -> None:
        self.gateway: Gateway | None = None

    def __call__(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        if self.gateway is None:
            raise RuntimeError("the judge was called before a run was opened")
        calls = [
            Call(
                get_spec(r.spec),
                r.messages,
                SamplingConfig(temperature=r.temperature, top_p=1.0, max_tokens=r.max_tokens),
                key=r.key,
            )
            for r in requests
        ]
        outcomes = self.gateway.run(calls, JUDGE_STAGE)  # one batch for the whole block
        return [
            JudgeReply(o.parsed if isinstance(o.parsed, JudgeScores) else None, o.failure, o.request_id, o.errors)
            for o in outcomes
        ]


def _all_specs(config: FiltersConfig) -> list[FilterSpec]:
    return [*config.instruction, *config.response, *config.post]


def needs_judge(config: FiltersConfig) -> bool:
    return any("judge" in FILTERS[s.name].requires for s in _all_specs(config))


def filter_resources(config: FiltersConfig, judge: GatewayJudge | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if judge is not None:
        resources["judge"] = judge
    if any("encoder_dir" in FILTERS[s.name].requires for s in _all_specs(config)):
        # Without the wheel, filters that need an encoder say so, naming the `model` param to set.
        with contextlib.suppress(ModelNotFound):
            resources["encoder_dir"] = str(embedded_encoder_dir())
    return resources


@dataclass
class Chains:
    instruction: FilterChain
    response: FilterChain
    post: FilterChain

    @property
    def seconds(self) -> dict[str, float]:
        return {
            INSTRUCTION_FILTER_STAGE: round(self.instruction.seconds, 3),
            RESPONSE_FILTER_STAGE: round(self.response.seconds, 3),
            POST_FILTER_STAGE: round(self.post.seconds, 3),
        }


def build_chains(config: FiltersConfig, prime: Iterable[Record], judge: GatewayJudge | None = None) -> Chains:
    """All three chains, or one clear error naming the config entry that cannot be built."""
    prime = list(prime)
    resources = filter_resources(config, judge)
    built: dict[str, FilterChain] = {}
    for section, stage in (
        ("instruction", INSTRUCTION_FILTER_STAGE),
        ("response", RESPONSE_FILTER_STAGE),
        ("post", POST_FILTER_STAGE),
    ):
        filters = []
        for i, spec in enumerate(getattr(config, section)):
            try:
                filters.extend(build_filters([spec], resources))
            except (ValueError, OSError) as exc:
                raise FilterSetupError(f"filters.{section}.{i} ({spec.name}): {exc}") from None
        chain = FilterChain(stage, filters)
        if section != "response":  # seeds have no outputs for response filters to compare
            chain.prime(prime)
        built[section] = chain
    return Chains(built["instruction"], built["response"], built["post"])


def screen_post(chain: FilterChain, records: Sequence[Record]) -> list[Record]:
    """Run the post chain over the kept rows in order (in batches); rejected rows pass through."""
    kept = [r for r in records if not r.rejected]
    if not chain.filters or not kept:
        return list(records)
    screened = {r.id: r for r in chain.screen_many(kept)}
    return [screened.get(r.id, r) for r in records]
