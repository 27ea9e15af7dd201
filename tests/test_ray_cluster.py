"""The Ray executor on a real 2-node Ray cluster (two `ray start` processes on 127.0.0.1).

The teacher inside each replica is the deterministic scripted one (answers depend only on the
request, like a seeded engine), so a run on Ray must publish byte-for-byte the rows a local run
publishes — also when a worker node is killed in the middle of a batch. The real vLLM engine in a
replica is covered by tests/test_ray_vllm.py.
"""

from __future__ import annotations

import functools
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bench.corpus import corpus
from conf.config import load_config
from filters.exact import ExactDedup
from filters.minhash import MinHashDedup
from filters.ray_dedup import ray_exact_dedup, ray_minhash_dedup
from generator.teachers.executor import ExecutorConfig
from generator.teachers.registry import make_teacher
from pipeline.instruct import generate
from prompts import Record
from rundir.publish import verify
from tests.conftest import GENERAL_SEEDS, cli
from tests.fakes import StreamingScriptedTeacher

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray")


def config():
    return load_config(overrides={"generation": {"num": 40}})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from tests.ray_cluster import local_cluster

    with local_cluster(tmp_path_factory.mktemp("ray"), nodes=2) as made:
        yield made


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The same job on the local executor: what every Ray run must reproduce."""
    out = tmp_path_factory.mktemp("local")
    generate(config(), GENERAL_SEEDS, out, teacher=StreamingScriptedTeacher(), resume=False)
    return out


def pool(delay: float, replicas: int = 2):
    executor = ExecutorConfig(kind="ray", replicas=replicas, batch_size=8, start_timeout=120)
    return make_teacher(None, executor, functools.partial(StreamingScriptedTeacher, delay=delay))


def journal_ids(run_dir: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def test_ray_run_publishes_the_local_rows_using_both_nodes(cluster, reference, tmp_path):
    teacher = pool(delay=0.0)
    try:
        summary = generate(config(), GENERAL_SEEDS, tmp_path / "ray", teacher=teacher, resume=False)
        # A run dir written locally resumes on the cluster: same request ids, nothing re-sent.
        resumed = generate(config(), GENERAL_SEEDS, reference, teacher=teacher)
    finally:
        teacher.close()
    assert (tmp_path / "ray" / "train.jsonl").read_bytes() == (reference / "train.jsonl").read_bytes()
    assert (tmp_path / "ray" / "rejected.jsonl").read_bytes() == (reference / "rejected.jsonl").read_bytes()
    assert verify(tmp_path / "ray") == []
    funnel = summary.funnel
    assert funnel["kept"] == 40 and funnel["candidates"] == funnel["kept"] + funnel["rejected_total"]
    pool_stats = summary.stats["teacher"]["executor"]
    assert pool_stats["executor"] == "ray" and pool_stats["replicas_lost"] == 0
    assert len(pool_stats["completions_by_node"]) == 2, "both nodes' replicas must have answered"
    assert sum(pool_stats["completions_by_node"].values()) == summary.stats["teacher"]["calls"]
    assert resumed.stats["teacher"]["calls"] == 0


def local_verdicts(make, rows, primed=()):
    """The local filter as a chain drives it: check each row in order, accept the kept ones."""
    flt = make()
    flt.prime(primed)
    if hasattr(flt, "prepare"):
        flt.prepare(rows)
    out = []
    for row in rows:
        verdict = flt.check(row)
        if verdict.keep:
            flt.accept(row)
        out.append(verdict)
    return out


@pytest.mark.parametrize("params", [{}, {"threshold": 0.6, "ngram": 2, "num_perm": 64}])
def test_minhash_on_ray_data_keeps_exactly_the_local_rows(cluster, params):
    texts, duplicates = corpus(1500, dup_rate=0.15, seed=11)
    rows = [Record(id=f"r{i}", instruction=t) for i, t in enumerate(texts)]
    seeds = [Record(id="seed0", instruction=texts[7]), Record(id="seed1", instruction=texts[900] + " please")]
    local = local_verdicts(lambda: MinHashDedup(**params), rows, seeds)
    on_ray = ray_minhash_dedup(rows, params, primed=seeds, block_rows=300)
    kept_local = [r.id for r, v in zip(rows, local, strict=True) if v.keep]
    kept_ray = [r.id for r, v in zip(rows, on_ray, strict=True) if v.keep]
    assert kept_ray == kept_local
    assert len(kept_local) < len(rows) - len(duplicates) // 2  # the input really had near-duplicates
    for want, got in zip(local, on_ray, strict=True):  # same reason, same kept row named, same estimate
        if not want.keep:
            assert (got.reason, got.detail["duplicate_of"], got.score) == (
                want.reason,
                want.detail["duplicate_of"],
                want.score,
            )


def test_exact_dedup_on_ray_data_keeps_exactly_the_local_rows(cluster):
    texts, _ = corpus(600, dup_rate=0.1, seed=2)
    texts += [t.upper() + "!" for t in texts[:50:3]]  # normalization-equal copies
    rows = [Record(id=f"r{i}", instruction=t, input="ctx" if i % 7 == 0 else "") for i, t in enumerate(texts)]
    local = local_verdicts(ExactDedup, rows, rows[:3])
    on_ray = ray_exact_dedup(rows, primed=rows[:3], block_rows=128)
    assert [v.keep for v in local] == [v.keep for v in on_ray]
    assert sum(not v.keep for v in on_ray) >= 17
    assert [v.detail.get("duplicate_of") for v in local] == [v.detail.get("duplicate_of") for v in on_ray]


@pytest.mark.parametrize("method", ["exact", "minhash"])
def test_dedup_cli_on_the_cluster_writes_the_local_files(cluster, tmp_path, method):
    from tests.ray_cluster import ray_env

    texts, _ = corpus(800, dup_rate=0.2, seed=4)
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(Record(id=f"p{i}", instruction=t).to_row()) + "\n" for i, t in enumerate(texts)))
    outputs = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        argv = cli("dedup", str(pool), "--out", str(out), "--method", method, "--executor", executor)
        argv += ["--ray-address", cluster.address]
        proc = subprocess.run(argv, env=ray_env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[executor] = [(out / name).read_bytes() for name in ("kept.jsonl", "duplicates.jsonl")]
    assert outputs["ray"] == outputs["local"]
    assert outputs["local"][1].count(b"\n") > 50


# Last: it kills the second node of the module's cluster.
def test_killing_a_worker_node_mid_batch_loses_and_duplicates_nothing(cluster, reference, tmp_path):
    out = tmp_path / "ray"
    teacher = pool(delay=0.05)
    node = cluster.nodes[-1]
    snapshot: dict[str, bytes] = {}

    def kill_when_journaled(min_lines: int = 4) -> None:
        journal = out / "journal.jsonl"
        while not journal.exists() or journal.read_bytes().count(b"\n") < min_lines:
            time.sleep(0.01)
        snapshot["before"] = journal.read_bytes()
        cluster.kill(node)

    killer = threading.Thread(target=kill_when_journaled, daemon=True)
    killer.start()
    try:
        summary = generate(config(), GENERAL_SEEDS, out, teacher=teacher, resume=False)
    finally:
        teacher.close()
    killer.join(5)
    assert "before" in snapshot, "the node was never killed"
    pool_stats = summary.stats["teacher"]["executor"]
    assert pool_stats["replicas_lost"] == 1
    assert pool_stats["requests_resent"] >= 1, "the kill must land while the node held unanswered requests"
    # 0 lost, 0 duplicated: exactly the rows of the undisturbed local run.
    assert (out / "train.jsonl").read_bytes() == (reference / "train.jsonl").read_bytes()
    assert (out / "rejected.jsonl").read_bytes() == (reference / "rejected.jsonl").read_bytes()
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in rows}) == len(rows) == 40
    assert verify(out) == []
    # Completions journaled before the kill are kept byte for byte and never asked for again.
    journal = (out / "journal.jsonl").read_bytes()
    assert journal.startswith(snapshot["before"])
    ids = journal_ids(out)
    assert len(ids) == len(set(ids)) == summary.stats["teacher"]["calls"]
    assert summary.stats["journal"]["entries"] == len(ids)
