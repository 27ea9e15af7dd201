"""The golden cases: fixed inputs -> today's Python API with the scripted teacher -> a directory.

This is the one module of the golden tests that calls product code (a thin adapter): after a
refactor that moves functions around, only the imports and calls here change, and the recorded
files under tests/golden/ must stay byte-identical. Each case writes everything it produces under
its own directory `case_dir` (run directories, exports, console output), with inputs from
`inputs` (a copy of tests/golden/inputs/). Record with tests/scripts/record_golden.py; compared
by tests/test_golden.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import cli.main
import outputs.card
import outputs.report
import pipeline.skeleton
from conf.config import load_config
from conf.domains import load_domain
from generator.teachers.base import ChatRequest, Completion
from outputs.export import export
from pipeline.instruct import generate
from pipeline.label import label_texts
from pipeline.labeled import generate_labeled
from pipeline.refilter import refilter
from tests.fakes import ScriptedTeacher, schema_title

# Product modules whose clock tests/golden_tree.frozen_clock freezes; those a case imports lazily
# are imported above (outputs.card, outputs.report, cli.main) so that they are frozen too.
PACKAGES = (
    "prompts",
    "textmetrics",
    "generator",
    "filters",
    "finetune",
    "rundir",
    "conf",
    "outputs",
    "pipeline",
    "service",
    "cli",
)
PRELOAD = (outputs.card, outputs.report, cli.main)

Case = Callable[[Path, Path], None]
FORMATS = ("messages", "alpaca", "sharegpt", "hf", "parquet")  # every export format


def _instruct(inputs: Path, out: Path, config: str) -> None:
    generate(load_config(inputs / config), inputs / "seed_tasks.jsonl", out, teacher=ScriptedTeacher())


def _labeled(inputs: Path, out: Path, samples: int, mislabel_rate: float) -> None:
    loaded = load_domain(inputs / "reviews.yaml", {"verification": {"samples": samples}})
    generate_labeled(loaded, out, teacher=ScriptedTeacher(mislabel_rate=mislabel_rate))


def instruct(inputs: Path, case_dir: Path) -> None:
    """Self-Instruct from a few seed tasks, default filters."""
    _instruct(inputs, case_dir / "run", "instruct.yaml")


def _faults(request: ChatRequest) -> Completion | None:
    """Some instruction batches come back as garbage, some answers truncated (by request seed)."""
    title = schema_title(request)
    if title == "Response" and request.seed is not None and request.seed % 3 == 0:
        return Completion(text='{"output": "cut sh', finish_reason="length")
    if title == "NewInstructions" and request.seed is not None and request.seed % 2 == 0:
        return Completion(text="not json at all", finish_reason="stop")
    return None


def instruct_faults(inputs: Path, case_dir: Path) -> None:
    """Teacher faults: retried with a new seed, quarantined as `validation` rows after two tries."""
    config = load_config(inputs / "instruct.yaml", {"generation": {"max_attempts": 2}})
    generate(config, inputs / "seed_tasks.jsonl", case_dir / "run", teacher=ScriptedTeacher(faults=_faults))


def instruct_modes(inputs: Path, case_dir: Path) -> None:
    """Evol (2 rounds), a paraphrase and a French round trip, one follow-up turn, a post chain."""
    _instruct(inputs, case_dir / "run", "modes.yaml")


def labeled(inputs: Path, case_dir: Path) -> None:
    """Labeled pairs (reviews domain), blind verification with one vote; some texts mislabeled."""
    _labeled(inputs, case_dir / "run", samples=1, mislabel_rate=0.3)


def labeled_votes3(inputs: Path, case_dir: Path) -> None:
    """The same domain with three verification votes per text (confidence in meta)."""
    _labeled(inputs, case_dir / "run", samples=3, mislabel_rate=0.3)


def labeled_scored(inputs: Path, case_dir: Path) -> None:
    """Verification by scores (calibrated + likelihood ensemble) against a teacher biased toward
    'positive': the scoring requests, the calibration prior and every member's evidence."""
    overrides = {"verification": {"method": "ensemble", "members": ["calibrated", "likelihood"]}}
    loaded = load_domain(inputs / "reviews.yaml", overrides)
    generate_labeled(loaded, case_dir / "run", teacher=ScriptedTeacher(biased_to="positive"))


def auto_label(inputs: Path, case_dir: Path) -> None:
    """`seedforge label`: existing texts, three votes, low-confidence rows rejected."""
    loaded = load_domain(inputs / "reviews.yaml")
    label_texts(
        loaded,
        inputs / "unlabeled.jsonl",
        case_dir / "run",
        teacher=ScriptedTeacher(mislabel_rate=0.4),
        samples=3,
        min_confidence=0.6,
    )


def refiltered(inputs: Path, case_dir: Path) -> None:
    """The `instruct` run, then `seedforge filter` with a stricter config: version 2 beside 1."""
    run = case_dir / "run"
    _instruct(inputs, run, "instruct.yaml")
    refilter(run, load_config(inputs / "refilter.yaml"))


def _export_all(run: Path, split: str) -> None:
    for fmt in FORMATS:
        export(run, fmt, split=split, seed=3)


def export_instruct(inputs: Path, case_dir: Path) -> None:
    """An instruct run with some multi-turn rows, exported in every format (3-way split)."""
    run = case_dir / "run"
    _instruct(inputs, run, "export.yaml")
    _export_all(run, "0.6,0.2,0.2")


def export_labeled(inputs: Path, case_dir: Path) -> None:
    """A labeled run exported in every format (2-way split)."""
    run = case_dir / "run"
    _labeled(inputs, run, samples=1, mislabel_rate=0.0)
    _export_all(run, "0.5,0.5")


def _published(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in json.loads((run / "manifest.json").read_text())["artifacts"]}


def resume(inputs: Path, case_dir: Path) -> None:
    """Run, then the same run again on the same dir: zero teacher calls, the same rows published
    (as version 2). resume.json records what the second run asked and which artifacts match."""
    run = case_dir / "run"
    first, second = ScriptedTeacher(), ScriptedTeacher()
    config, seeds = load_config(inputs / "instruct.yaml"), inputs / "seed_tasks.jsonl"
    generate(config, seeds, run, teacher=first)
    v1 = _published(run)
    generate(config, seeds, run, teacher=second)
    v2 = _published(run)
    facts = {
        "first_run_teacher_requests": len(first.calls),
        "second_run_teacher_requests": len(second.calls),
        "artifacts_equal_to_version_1": {name: v1.get(name) == data for name, data in sorted(v2.items())},
    }
    (case_dir / "resume.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def _cli_with_scripted_teacher() -> Iterator[None]:
    """The CLI builds its own teacher: hand it the scripted one. The CLI also points the seedforge
    logger at the runner's stderr, which is closed afterwards: put the logger back as it was."""
    logger = logging.getLogger("seedforge")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    real = pipeline.skeleton.make_teacher
    pipeline.skeleton.make_teacher = lambda *args, **kwargs: ScriptedTeacher()
    try:
        yield
    finally:
        pipeline.skeleton.make_teacher = real
        logger.handlers[:], logger.level, logger.propagate = saved


def cli_instruct(inputs: Path, case_dir: Path) -> None:
    """`seedforge generate` (twice: the second resumes) and `seedforge export`, with their console
    output (stdout and stderr) recorded in console.txt."""
    from typer.testing import CliRunner

    run = case_dir / "run"
    commands = [
        ["generate", "--seeds", str(inputs / "seed_tasks.jsonl"), "--config", str(inputs / "instruct.yaml")],
        ["generate", "--seeds", str(inputs / "seed_tasks.jsonl"), "--config", str(inputs / "instruct.yaml")],
    ]
    commands = [[*c, "--out", str(run), "--num", "4", "--no-progress"] for c in commands]
    commands.append(["export", str(run), "--format", "alpaca", "--split", "0.5,0.5"])
    transcript = []
    with _cli_with_scripted_teacher():
        for args in commands:
            result = CliRunner().invoke(cli.main.app, args)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            transcript.append(
                f"$ seedforge {' '.join(args)}\n"
                f"--- exit {result.exit_code}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
            )
    (case_dir / "console.txt").write_text("\n".join(transcript))


CASES: dict[str, Case] = {
    "instruct": instruct,
    "instruct_faults": instruct_faults,
    "instruct_modes": instruct_modes,
    "labeled": labeled,
    "labeled_votes3": labeled_votes3,
    "labeled_scored": labeled_scored,
    "auto_label": auto_label,
    "refilter": refiltered,
    "export_instruct": export_instruct,
    "export_labeled": export_labeled,
    "resume": resume,
    "cli_instruct": cli_instruct,
}
