"""kill -9 of a real `seedforge generate` (vLLM CPU engine and its worker processes), then resume."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess

import pytest

from prompts import get_spec
from rundir.journal import scan
from rundir.publish import verify
from tests.conftest import GENERAL_SEEDS, ROOT, assert_resumed_exactly, cli, cli_env, kill_mid_run, wait_for_journal

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_real_engine_kill_and_resume_uses_every_journaled_completion_once(tmp_path):
    config = tmp_path / "fast.yaml"
    config.write_text(  # send_ahead off: a response sent in vain is journaled but never reused
        "teacher:\n  enforce_eager: true\n"
        "generation:\n  min_prompts_per_round: 8\n  prompts_per_round: 8\n  send_ahead: false\n"
        "  instruction_sampling: {temperature: 0.9, top_p: 0.95, max_tokens: 384}\n"
        "  response_sampling: {temperature: 0.7, top_p: 0.95, max_tokens: 256}\n"
    )
    out = tmp_path / "run"
    args = cli(
        "generate",
        "--seeds",
        str(GENERAL_SEEDS),
        "--num",
        "6",
        "--out",
        str(out),
        "--config",
        str(config),
        "--no-progress",
    )
    before = kill_mid_run(args, out / "journal.jsonl", 4)

    resumed = subprocess.run(args, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_resumed_exactly(out, before)  # each journaled completion used, unchanged, journaled once
    stats = json.loads((out / "stats.json").read_text())

    rows = [json.loads(x) for name in ("train.jsonl", "rejected.jsonl") for x in (out / name).read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows) == stats["funnel"]["candidates"]
    assert stats["funnel"]["kept"] + stats["funnel"]["rejected_total"] == stats["funnel"]["candidates"]
    instructions, responses = get_spec("new_instructions"), get_spec("response")
    for row in rows:
        request = row["meta"].get("instruction_request")
        if request and request["id"] in before and before[request["id"]].finish_reason == "stop":
            parsed = instructions.parse(before[request["id"]].text)
            assert parsed.instructions[row["meta"]["position"]].instruction.strip() == row["instruction"]
        answer = row["meta"].get("response_request")
        if answer and answer["id"] in before and "output" in row and row.get("stage") != "validation":
            assert responses.parse(before[answer["id"]].text).output.strip() == row["output"]
    assert not verify(out)


def test_sigterm_stops_the_run_and_its_engine_processes(tmp_path):
    """`kill PID` (not the group): the CLI shuts its engine down on the way out, so no vLLM
    process outlives it, and what was journaled stays readable for a resume."""
    import psutil

    out = tmp_path / "run"
    args = cli("generate", "--seeds", str(GENERAL_SEEDS), "--num", "6", "--out", str(out), "--no-progress")
    config = tmp_path / "eager.yaml"
    config.write_text("teacher:\n  enforce_eager: true\n")
    args += ["--config", str(config)]
    proc = subprocess.Popen(args, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = out / "journal.jsonl"
    wait_for_journal(proc, journal, 2)
    engine = psutil.Process(proc.pid).children(recursive=True)
    assert engine, "the engine runs in child processes"
    try:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 143, stderr[-3000:]
        assert "run the same command again to resume" in stderr
        _, alive = psutil.wait_procs(engine, timeout=60)
        assert not alive, [p.pid for p in alive]
    finally:
        for leftover in engine:  # a failed check must not leave an engine running for the next test
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
    assert scan(journal).entries  # the finished completions survive for a resume
