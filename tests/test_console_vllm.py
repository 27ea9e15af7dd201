"""The quiet console with the real engine: a demo-sized `seedforge generate` shows only its own
lines (stage lines on stderr, the summary on stdout); vLLM's, torch's and the engine core's
output is in RUN_DIR/logs/engine.log."""

from __future__ import annotations

import re
import subprocess

import pytest

from cli.quiet import ENGINE_LOG
from tests.conftest import GENERAL_SEEDS, cli, cli_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

STAGE_LINE = re.compile(r"^\S+ +(kept \d+/\d+ .* tokens/s  ETA \S+|waiting for the teacher to start \(\d+ s\))$")
SUMMARY = ("run directory: ", "  ", "candidates ", "teacher: ", "report: ")


def test_demo_sized_run_has_a_quiet_console(tmp_path):
    out = tmp_path / "run"
    env = cli_env()
    env.pop("VLLM_LOGGING_LEVEL", None)  # the product's default, as `make demo` runs it
    proc = subprocess.run(
        cli("generate", "--seeds", str(GENERAL_SEEDS), "--num", "10", "--out", str(out)),
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stderr = proc.stderr.splitlines()
    assert stderr and all(STAGE_LINE.match(line) for line in stderr), proc.stderr[-3000:]
    assert all(line.startswith(SUMMARY) for line in proc.stdout.splitlines()), proc.stdout
    assert f"report: {out / 'report.html'}" in proc.stdout
    log = (out / ENGINE_LOG).read_text()
    # vLLM's own format, with the process prefix its multiprocessing adds: "(EngineCore pid=1) INFO ... [x.py:1]"
    assert re.search(r"^(\(\S+ pid=\d+\) )?(INFO|WARNING) .*\[\S+\.py:\d+\]", log, re.MULTILINE), log[:3000]
    assert "WARNING" in log  # the warnings the console used to show
