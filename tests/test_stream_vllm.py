"""A streaming run on the real engine (vLLM CPU): kill -9 mid-stream, resume, then replay the same
journal round-based (`in_flight: 0`): nothing lost, nothing duplicated, the same rows."""

from __future__ import annotations

import json
import subprocess

import pytest

from rundir.publish import verify
from tests.conftest import GENERAL_SEEDS, ROOT, assert_resumed_exactly, cli, cli_env, kill_mid_run

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

# At most 2 x 5 instructions a round: 14 rows take several rounds (and requests sent ahead). No
# likely responses sent ahead: those sent in vain are journaled and counted beyond the decisions',
# which would blur the exact accounting below (tests/test_flow.py covers them).
CONFIG = (
    "generation:\n  min_prompts_per_round: 2\n  prompts_per_round: 2\n  send_ahead: false\n"
    "  instruction_sampling: {temperature: 0.9, top_p: 0.95, max_tokens: 384}\n"
    "  response_sampling: {temperature: 0.7, top_p: 0.95, max_tokens: 256}\n"
)


def generate(out, config) -> list[str]:
    return cli("generate", "--seeds", str(GENERAL_SEEDS), "--num", "14", "--out", str(out), "--config", str(config))


def test_killed_stream_resumes_and_replays_round_based_to_the_same_rows(tmp_path):
    streaming, rounds = tmp_path / "stream.yaml", tmp_path / "rounds.yaml"
    # in_flight 8 < the requests a round makes: the flow's cap and its queue are exercised too
    streaming.write_text("teacher:\n  enforce_eager: true\n  in_flight: 8\n" + CONFIG)
    rounds.write_text("teacher:\n  enforce_eager: true\n  in_flight: 0\n" + CONFIG)
    out = tmp_path / "run"
    args = [*generate(out, streaming), "--no-progress"]
    before = kill_mid_run(args, out / "journal.jsonl", 10)  # requests of several stages in the engine

    resumed = subprocess.run(args, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    attempts = assert_resumed_exactly(out, before)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["run"]["rounds"] > 1 and stats["funnel"]["kept"] == 14
    assert not verify(out)
    rows = {name: (out / name).read_bytes() for name in ("train.jsonl", "rejected.jsonl")}

    replay = subprocess.run(
        [*generate(out, rounds), "--no-progress"], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=900
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    again = json.loads((out / "stats.json").read_text())
    assert again["teacher"]["calls"] == 0 and again["teacher"]["cached"] == attempts
    assert {name: (out / name).read_bytes() for name in rows} == rows
