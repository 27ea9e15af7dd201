"""`seedforge generate --executor ray` with the real vLLM CPU engine inside Ray actors.

A 2-node local cluster (two `ray start` processes, 1 CPU each); the CLI joins it with
--ray-address and runs one replica per node, each holding its own engine with the embedded model.
A handful of prompts only: this proves the engine works inside an actor, end to end, on 2 cores.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from rundir.publish import verify
from tests.conftest import GENERAL_SEEDS, cli

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

ray = pytest.importorskip("ray")

CONFIG = """\
teacher:
  enforce_eager: true
  max_model_len: 1536
generation:
  num: 4
  min_prompts_per_round: 4
  prompts_per_round: 4
  instruction_sampling: {temperature: 0.9, top_p: 0.95, max_tokens: 256}
  response_sampling: {temperature: 0.7, top_p: 0.95, max_tokens: 128}
executor:
  kind: ray
  batch_size: 4
  start_timeout: 500
"""


def test_generate_on_ray_with_a_vllm_engine_per_node(tmp_path):
    from tests.ray_cluster import local_cluster, ray_env

    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    with local_cluster(tmp_path, nodes=2) as cluster:
        ray.shutdown()  # the CLI is the driver; this process only made the cluster
        argv = cli("generate", "--seeds", str(GENERAL_SEEDS), "--config", str(config), "--out", str(out))
        argv += ["--ray-address", cluster.address, "--replicas", "2", "--no-progress"]
        proc = subprocess.run(argv, env=ray_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert verify(out) == []
    stats = json.loads((out / "stats.json").read_text())
    pool = stats["teacher"]["executor"]
    assert pool["executor"] == "ray" and pool["replicas_started"] == 2 and pool["replicas_lost"] == 0
    assert sum(pool["completions_by_node"].values()) == stats["teacher"]["calls"] > 0
    funnel = stats["funnel"]
    assert funnel["candidates"] == funnel["kept"] + funnel["rejected_total"]
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(rows) == funnel["kept"] and len({r["id"] for r in rows}) == len(rows)
    assert all(r["instruction"].strip() and r["output"].strip() for r in rows)
    assert stats["teacher"]["endpoint"] == "in-process"  # the replicas' engine identity, as locally
