"""`seedforge filter RUN_DIR`: re-run the filter chains over a run's existing candidates.

No generation: the candidates are the rows of the run's current version (train.jsonl plus
rejected.jsonl), minus the rows rejected at `validation` — teacher outputs that never parsed
have nothing to filter, so they are carried into the new version unchanged. Each candidate goes
through the config's chains as in generation: instruction chain (primed with the run's seeds),
response chain, the `generation.num` quota, then the post chain in batches. The LLM judge is
the one filter that may call the teacher; its calls go through the run's journal, so a repeat
answers every judged row from disk.

Order matters for dedup (each row is compared with the rows kept before it), so candidates are
replayed in the order generation screened them: (round, prompt, position) from `meta`. Runs
written before `prompt` was recorded are replayed in file order, and stats say so.

The result is published as the run's next version (`.versions/NNNNN/`, `current` flipped, the
stable names RUN_DIR/train.jsonl... follow); earlier versions stay beside it (see rundir/publish.py).
Accounting is checked before anything is published: kept + rejected = every row read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conf.config import ConfigError, SeedforgeConfig, load_config
from filters import FilterChain
from generator.seeds import SeedFileError, read_seeds
from generator.teachers.base import Teacher
from pipeline.filtering import GatewayJudge, build_chains, needs_judge, screen_post
from pipeline.instruct import seed_records, teacher_plan
from pipeline.modes import elimination_chain, evolved_instruction_chain
from pipeline.runs import RunSummary
from pipeline.skeleton import Outcome, RunContext, execute
from prompts import Record
from rundir import RunDir

REFILTER_STAGE = "refilter"
CARRIED_STAGES = ("validation",)


class RefilterError(ValueError):
    pass


def generation_order(records: Sequence[Record]) -> tuple[list[Record], str]:
    keys = ("round", "prompt", "position")
    if records and all(all(isinstance(r.meta.get(k), int) for k in keys) for r in records):
        return sorted(records, key=lambda r: tuple(r.meta[k] for k in keys)), "generation"
    return list(records), "file"


def reset(record: Record) -> Record:
    """A candidate as it was before filtering, remembering how the previous version decided."""
    previous = {"stage": record.rejection.stage, "reason": record.rejection.reason} if record.rejection else "kept"
    meta = {k: v for k, v in record.meta.items() if k != "filters"}
    return record.model_copy(update={"rejection": None, "meta": {**meta, "previous": previous}})


def _seed_records(run_dir: Path, stats: dict[str, Any], seeds_path: Path | None, config: SeedforgeConfig) -> Any:
    run = stats.get("run", {})
    path = seeds_path or (Path(run["seed_file"]) if run.get("seed_file") else None)
    if path is None or not path.is_file():
        return [], None
    try:
        seeds = read_seeds(path, config.seeds)
    except SeedFileError:
        if seeds_path is not None:
            raise
        return [], None
    if seeds_path is None and run.get("seed_sha256") and seeds.sha256 != run["seed_sha256"]:
        return [], None  # the file changed since generation: priming with it would not replay the run
    return seed_records(seeds), str(path)


class RefilterRun:
    """The run's current candidates through the config's chains again; nothing is generated."""

    target = 0

    def __init__(self, run_dir: Path, config: SeedforgeConfig | None, seeds_path: str | Path | None):
        version = RunDir(run_dir).read()  # every file below from this one version
        self.source_version = version.number
        if config is None:
            try:
                config = load_config(version.path / "config.yaml")
            except ConfigError as exc:
                raise RefilterError(f"{run_dir / 'config.yaml'}: cannot reuse the run's config: {exc}") from None
        self.config = config
        self.old_stats = version.read_json("stats.json") if version.has("stats.json") else {}
        self.rows = version.all_records()
        self.carried = [r for r in self.rows if r.rejection is not None and r.rejection.stage in CARRIED_STAGES]
        fresh = [reset(r) for r in self.rows if r.rejection is None or r.rejection.stage not in CARRIED_STAGES]
        self.candidates, self.order = generation_order(fresh)
        seeds = Path(seeds_path) if seeds_path else None
        prime, self.seed_file = _seed_records(run_dir, self.old_stats, seeds, config)
        self.judge = GatewayJudge() if needs_judge(config.filters) else None
        self.chains = build_chains(config.filters, prime, self.judge)  # bad filter config: fail before the lock
        self.elimination = elimination_chain(config)

    @property
    def needs_teacher(self) -> bool:
        return self.judge is not None  # the LLM judge is the one filter that calls the teacher

    def run(self, ctx: RunContext) -> Outcome:
        config, chains = self.config, self.chains
        if self.judge is not None:
            self.judge.gateway = ctx.teacher_gateway()
        started = time.perf_counter()
        evolved = (evolved_instruction_chain(config, chains), self.elimination)
        screened = screen(self.candidates, chains.instruction, chains.response, config.generation.num, evolved)
        screened = screen_post(chains.post, screened)
        stats: dict[str, Any] = {
            "run": {**self.old_stats.get("run", {}), "refiltered_from_version": self.source_version},
            "refilter": {
                "source_version": self.source_version,
                "rows_read": len(self.rows),
                "candidates": len(self.candidates),
                "carried_rejected": len(self.carried),
                "kept": sum(not r.rejected for r in screened),
                "order": self.order,
                "seed_file": self.seed_file,
                "primed_with_seeds": self.seed_file is not None,
            },
            "wall_seconds": {"filtering": round(time.perf_counter() - started, 3), **chains.seconds},
        }
        return Outcome(screened + self.carried, config.resolved(), stats)


def refilter(
    run_dir: str | Path,
    config: SeedforgeConfig | None = None,
    seeds_path: str | Path | None = None,
    teacher: Teacher | None = None,
) -> RunSummary:
    run = RefilterRun(Path(run_dir), config, seeds_path)
    # No progress.json: it describes the generation that made the run, which re-filtering does not redo.
    plan = teacher_plan(run.config, token_budget=False)
    return execute(run, run_dir, plan, teacher=teacher, live=False)


def screen(
    records: Sequence[Record],
    instruction: FilterChain,
    response: FilterChain,
    target: int,
    evolved: tuple[FilterChain, FilterChain] | None = None,
) -> list[Record]:
    """Instruction chain, response chain and quota, row by row in generation order. Evolved rows
    take the chains they took when generated: `evolved` = (instruction chain without the filters
    they skip, elimination). The quota counts Self-Instruct's rows only, as generation did."""
    out = []
    kept = 0
    for record in records:
        is_evolved = evolved is not None and "evolved_from" in record.meta
        record = (evolved[0] if evolved is not None and is_evolved else instruction)(record)
        if not record.rejected:
            if "response_request" not in record.meta and not record.output:
                # Rejected before it was ever answered, and re-filtering does not generate.
                record = record.reject(REFILTER_STAGE, "unanswered")
            else:
                record = response(record)
        if not record.rejected and evolved is not None and is_evolved:
            record = evolved[1](record)
        if not record.rejected and not ({"evolved_from", "augmented_from"} & record.meta.keys()):
            if kept >= target:
                record = record.reject("quota", "over_target", target=target)
            else:
                kept += 1
        out.append(record)
    return out
