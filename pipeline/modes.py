"""The generation modes after Self-Instruct, wired to the run's filter chains.

Order: Evol-Instruct evolves the kept rows; augmentation rewords kept rows (evolved ones too) or
the seeds; the post chain then screens everything; multi-turn extends the survivors last, so no
teacher time goes into conversations a post filter would drop. Evolved rows also pass the
evol_elimination filter (the paper's elimination rules), as a chain of their own whose rejections
carry the stage name `evol_elimination`.
"""

from __future__ import annotations

from typing import Any

from conf.config import SeedforgeConfig
from filters import FilterChain, FilterSpec
from filters.chain import build_filters
from generator.augment import Augmenter
from generator.evolve import EvolInstruct
from generator.gateway import Gateway
from generator.multiturn import MultiTurn
from generator.seeds import SeedSet
from pipeline.filtering import Chains, FilterSetupError
from prompts import Record

ELIMINATION_STAGE = "evol_elimination"


def elimination_chain(config: SeedforgeConfig) -> FilterChain:
    """Built before the run opens, so a bad `evol.elimination` fails before any file is touched."""
    try:
        spec = FilterSpec(name="evol_elimination", params=config.evol.elimination)
        return FilterChain(ELIMINATION_STAGE, build_filters([spec]))
    except (ValueError, TypeError) as exc:
        raise FilterSetupError(f"evol.elimination: {exc}") from None


def evolved_instruction_chain(config: SeedforgeConfig, chains: Chains) -> FilterChain:
    """The instruction chain evolved rows take: the same filter objects (so dedup state is shared
    with every other row), less those listed in `evol.skip_filters`."""
    skip = set(config.evol.skip_filters)
    return FilterChain(chains.instruction.stage, [f for f in chains.instruction.filters if f.name not in skip])


def seeds_with_answers(seeds: SeedSet) -> list[Record]:
    """Seed tasks that have an answer, as rows to augment (their first instance)."""
    return [
        Record(id=t.id, instruction=t.instruction, input=t.instances[0].input, output=t.instances[0].output)
        for t in seeds.tasks
        if t.instances and t.instances[0].output.strip()
    ]


def run_before_post(
    config: SeedforgeConfig,
    gateway: Gateway,
    chains: Chains,
    screen: Any,
    elimination: FilterChain,
    seeds: SeedSet,
    records: list[Record],
) -> tuple[list[Record], dict[str, Any]]:
    """Evol then augmentation: new candidate rows appended after Self-Instruct's. `screen` wraps a
    chain so its rejections are counted in the run's live progress."""
    stats: dict[str, Any] = {}
    if config.evol.rounds > 0:
        response = screen(chains.response)
        eliminate = screen(elimination)

        def screen_evolved(record: Record) -> Record:
            record = response(record)
            return record if record.rejected else eliminate(record)

        evolved_instruction = evolved_instruction_chain(config, chains)
        evol = EvolInstruct(
            config.evol,
            gateway,
            screen(evolved_instruction),
            screen_evolved,
            config.generation.response_sampling,
        ).run([r for r in records if not r.rejected])
        records = [*records, *evol.records]
        stats["evol"] = {
            "rounds": config.evol.rounds,
            "candidates": len(evol.records),
            "kept": sum(1 for r in evol.records if not r.rejected),
            "by_round": evol.by_round,
            "operations": evol.operations,
        }
    if config.augment.enabled:
        sources = (
            seeds_with_answers(seeds)
            if config.augment.source == "seeds"
            else [r for r in records if not r.rejected and not r.labeled]
        )
        augment = Augmenter(config.augment, gateway, screen(chains.instruction), screen(chains.response)).run(sources)
        records = [*records, *augment.records]
        stats["augment"] = {
            "source": config.augment.source,
            "sources": len(sources),
            "candidates": len(augment.records),
            "kept": sum(1 for r in augment.records if not r.rejected),
            "methods": augment.methods,
        }
    return records, stats


def run_multi_turn(config: SeedforgeConfig, gateway: Gateway, records: list[Record]) -> tuple[list[Record], dict]:
    if config.multi_turn.turns == 0:
        return records, {}
    result = MultiTurn(config.multi_turn, gateway).run(records)
    return result.records, {
        "multi_turn": {
            "turns": config.multi_turn.turns,
            "rows_extended": result.extended,
            "exchanges_added": result.turns_added,
        }
    }
