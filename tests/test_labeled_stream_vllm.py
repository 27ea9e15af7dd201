"""A labeled run streaming on the real engine (vLLM CPU): the next round out before this one's
verdicts, each text's checks as it arrives. Kill -9 mid-run, resume, then replay the same
journal round-based (`in_flight: 0`): nothing lost, nothing duplicated, the same rows."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from rundir.publish import verify
from tests.conftest import EXAMPLES, ROOT, assert_resumed_exactly, cli, cli_env, kill_mid_run

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def domain_file(tmp_path, name: str, in_flight: int):
    """The reviews domain, small: one prompt a label a round, so quotas take several rounds and
    every round but the last has one out ahead; the default ensemble verifies."""
    data = yaml.safe_load((EXAMPLES / "reviews" / "domain.yaml").read_text())
    data["targets"] = {"per_label": 3, "max_shortfall": 1.0}  # a short label must not fail the test
    data["generation"] = {
        **data["generation"],
        "max_prompts_per_label": 1,
        "max_rounds": 4,
        "sampling": {"temperature": 0.9, "top_p": 1.0, "max_tokens": 320},
    }
    data["teacher"] = {"enforce_eager": True, "in_flight": in_flight}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def generate(out, domain) -> list[str]:
    return [*cli("generate", "--domain", str(domain), "--out", str(out)), "--no-progress"]


def test_killed_labeled_stream_resumes_and_replays_round_based_to_the_same_rows(tmp_path):
    # in_flight 8 < a round's checks: the flow's cap and its queue (checks first) are exercised
    streaming, rounds = domain_file(tmp_path, "stream", 8), domain_file(tmp_path, "rounds", 0)
    out = tmp_path / "run"
    # mid-stream: texts of two rounds and their checks in the engine
    before = kill_mid_run(generate(out, streaming), out / "journal.jsonl", 12)

    resumed = subprocess.run(generate(out, streaming), cwd=ROOT, env=cli_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    attempts = assert_resumed_exactly(out, before)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["run"]["rounds"] > 1
    funnel = stats["funnel"]
    assert funnel["kept"] > 0 and funnel["kept"] + funnel["rejected_total"] == funnel["candidates"]
    assert not verify(out)
    rows = {name: (out / name).read_bytes() for name in ("train.jsonl", "rejected.jsonl")}

    replay = subprocess.run(generate(out, rounds), cwd=ROOT, env=cli_env(), capture_output=True, text=True)
    assert replay.returncode == 0, replay.stderr[-3000:]
    again = json.loads((out / "stats.json").read_text())
    assert again["teacher"]["calls"] == 0 and again["teacher"]["cached"] == attempts
    assert {name: (out / name).read_bytes() for name in rows} == rows
