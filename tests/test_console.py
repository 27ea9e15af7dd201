"""The quiet console: library and engine output goes to RUN_DIR/logs/engine.log, Seedforge's own
lines and errors to the terminal; the live stage lines read progress.json."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from cli.live import LiveLines
from cli.quiet import ENGINE_LOG
from tests.conftest import ROOT, cli_env

# A run-sized stand-in for a library and an engine: Python warnings, a library logger, raw writes
# to fds 1 and 2, a child process started inside the run (as vLLM's engine core is) writing to
# the stderr it inherits, Seedforge's own logger and the console stream.
NOISY = textwrap.dedent(
    """
    import logging, os, subprocess, sys, warnings
    from pathlib import Path
    from cli.quiet import quiet_run
    from rundir.logs import setup_logging

    setup_logging("text", sys.argv[2])
    with quiet_run(Path(sys.argv[1])) as console:
        warnings.warn("library-warning-1")
        logging.getLogger("vllm.fake").warning("library-log-2")
        print("library-print-3")
        os.write(2, b"cpp-stderr-4\\n")
        subprocess.run([sys.executable, "-c", "import sys; print('child-5', file=sys.stderr)"], check=True)
        logging.getLogger("torch.fake").error("library-error-6")
        logging.getLogger("seedforge.test").warning("ours-7")
        console.write("progress-8\\n")
    print("summary-9")
    """
)
LIBRARY = ["library-warning-1", "library-log-2", "library-print-3", "cpp-stderr-4", "child-5"]


def noisy(run_dir: Path, level: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", NOISY, str(run_dir), level],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_library_output_goes_to_the_engine_log(tmp_path):
    proc = noisy(tmp_path, "WARNING")
    console = proc.stdout + proc.stderr
    log = (tmp_path / ENGINE_LOG).read_text()
    for marker in LIBRARY:
        assert marker in log and marker not in console, marker
    # Errors reach the terminal as well as the log; our own lines only the terminal.
    assert "library-error-6" in proc.stderr and "library-error-6" in log
    assert "ours-7" in proc.stderr and "progress-8" in proc.stderr
    assert "ours-7" not in log and "progress-8" not in log
    assert proc.stdout == "summary-9\n"  # stdout is back once the run is over


def test_debug_level_keeps_everything_on_the_console(tmp_path):
    proc = noisy(tmp_path, "DEBUG")
    console = proc.stdout + proc.stderr
    assert all(marker in console for marker in LIBRARY)
    assert not (tmp_path / "logs").exists()


def test_a_silent_run_leaves_no_log(tmp_path):
    script = "import sys; from pathlib import Path; from cli.quiet import quiet_run\n"
    script += "with quiet_run(Path(sys.argv[1])) as console: console.write('x')\n"
    out = tmp_path / "runs" / "run"
    subprocess.run([sys.executable, "-c", script, str(out)], cwd=ROOT, env=cli_env(), check=True, timeout=60)
    assert list(tmp_path.iterdir()) == []


def progress(run_dir: Path, **state) -> None:
    base = {"stage": "starting", "kept": 0, "target": 10, "completions": 0, "reused": 0, "stages": {}}
    (run_dir / "progress.json").write_text(json.dumps({**base, **state}))


def test_live_lines_one_per_stage(tmp_path):
    console = io.StringIO()  # not a terminal: a stage's line is printed when the run leaves it
    now = [100.0]
    lines = LiveLines(tmp_path, console, every=0.0, clock=lambda: now[0])
    progress(tmp_path, stage="instructions")
    now[0] += 30  # engine start
    lines.tick()
    assert "waiting for the teacher to start (30 s)" in lines.stages["instructions"].line
    assert console.getvalue() == ""
    progress(tmp_path, stage="instructions", completions=4, stages={"instructions": {"completion_tokens": 400}})
    lines.tick()  # the first answers: rows/s count from here
    now[0] += 2
    progress(tmp_path, stage="responses", kept=5, completions=8, stages={"instructions": {"completion_tokens": 400}})
    lines.tick()
    printed = console.getvalue().splitlines()
    assert len(printed) == 1 and printed[0].startswith("instructions") and "kept 5/10" in printed[0]
    # 400 tokens in the 2 s it was seen current, 5 rows in the 2 s since the first answer, 5 to go
    assert "  2.50 rows/s     200 tokens/s  ETA 0:02" in printed[0]
    assert "kept 5/10" in lines.stages["responses"].line
    progress(tmp_path, stage="done", kept=10, stages={"instructions": {"completion_tokens": 400}})
    lines.tick()
    assert lines.stages["responses"].line.endswith("ETA done")
    assert set(lines.stages) == {"instructions", "responses"}  # starting/done are not stages of work
