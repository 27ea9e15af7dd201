"""Executor selection (local | ray) in config, domain files and the CLI; the Ray dedup resolution rule.

Fast: no Ray cluster here (that is tests/test_ray_cluster.py)."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest

from conf.config import ConfigError, load_config
from filters.ray_dedup import _resolve
from generator.teachers.executor import ExecutorConfig
from generator.teachers.registry import make_teacher
from prompts import Record
from tests.conftest import GENERAL_SEEDS, cli, cli_env
from tests.fakes import ScriptedTeacher


def test_executor_defaults_to_local_and_accepts_the_shorthand(tmp_path):
    assert load_config().executor.kind == "local"
    path = tmp_path / "run.yaml"
    path.write_text("generation:\n  num: 3\nexecutor: ray\n")
    assert load_config(path).executor == ExecutorConfig(kind="ray")
    path.write_text("executor:\n  kind: ray\n  address: auto\n  replicas: 4\n  gpus_per_replica: 1\n")
    cfg = load_config(path)
    assert (cfg.executor.address, cfg.executor.replicas, cfg.executor.gpus_per_replica) == ("auto", 4, 1)
    assert cfg.resolved()["executor"]["kind"] == "ray"  # saved next to the outputs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("executor: spark\n", "run.yaml:1: executor.kind"),
        ("executor:\n  kind: ray\n  replicas: 0\n", "run.yaml:3: executor.replicas"),
        ("executor:\n  kind: ray\n  nodes: 2\n", "run.yaml:3: executor.nodes"),
    ],
)
def test_bad_executor_config_names_file_line_and_field(tmp_path, text, expected):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_local_executor_builds_the_teacher_in_process():
    teacher = make_teacher(None, ExecutorConfig(), functools.partial(ScriptedTeacher, model="m"))
    assert isinstance(teacher, ScriptedTeacher) and teacher.model_name == "m"


def test_cli_rejects_a_bad_replica_count_before_anything_starts(tmp_path):
    out = tmp_path / "run"
    argv = cli("generate", "--seeds", str(GENERAL_SEEDS), "--out", str(out), "--executor", "ray", "--replicas", "0")
    proc = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "executor.replicas" in proc.stderr
    assert not out.exists()


def test_ray_dedup_resolution_follows_the_local_in_order_rule():
    # 0~1, 1~2, 0≁2: row 1 goes (duplicate of 0), so 2 stays, as the sequential filter decides.
    assert _resolve({(0, 1): 0.9, (1, 2): 0.95}, n_primed=0) == {1: (0, 0.9)}
    # Two kept candidates: the most similar is named, the earliest on ties.
    assert _resolve({(0, 3): 0.85, (1, 3): 0.9, (2, 3): 0.9}, n_primed=0) == {3: (1, 0.9)}
    # Primed rows (the seeds) are never dropped, even when they duplicate each other.
    assert _resolve({(0, 1): 1.0, (1, 2): 1.0}, n_primed=2) == {2: (1, 1.0)}


def test_jobs_cannot_choose_the_executor(tmp_path):
    from service.settings import ServiceSettings
    from service.submit import SubmissionError, _domain_job, _job_config

    settings = ServiceSettings(data_dir=tmp_path, allow_job_teacher=True)
    text = b"executor:\n  kind: ray\n  address: ray://elsewhere:10001\n"
    (tmp_path / "config.yaml").write_bytes(text)
    with pytest.raises(SubmissionError, match=r"config\.yaml: executor: the executor is set by the service"):
        _job_config(settings, tmp_path, text, None)
    with pytest.raises(SubmissionError, match="executor: the executor is set by the service"):
        _domain_job(settings, tmp_path, b"name: x\nexecutor: ray\n", None, None)


def write_pool(path, texts):
    rows = [Record(id=f"p{i}", instruction=t, output="answer").to_row() for i, t in enumerate(texts)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_dedup_cli_locally_writes_kept_and_named_duplicates(tmp_path):
    pool = tmp_path / "pool.jsonl"
    write_pool(pool, ["Explain the water cycle to a child", "explain the water cycle to a child!", "Name three rivers"])
    for method, dropped in (("exact", 1), ("minhash", 1)):
        out = tmp_path / method
        argv = cli("dedup", str(pool), "--out", str(out), "--method", method)
        proc = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        kept = [json.loads(line)["id"] for line in (out / "kept.jsonl").read_text().splitlines()]
        dups = [json.loads(line) for line in (out / "duplicates.jsonl").read_text().splitlines()]
        assert kept == ["p0", "p2"] and len(dups) == dropped
        assert dups[0]["stage"] == "dedup" and dups[0]["detail"]["duplicate_of"] == "p0"
        assert json.loads((out / "stats.json").read_text())["rows"] == 3


def test_dedup_cli_errors_name_the_line_and_write_nothing(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"id": "a", "instruction": "x", "output": "y"}\nnot json\n')
    proc = subprocess.run(
        cli("dedup", str(pool), "--out", str(tmp_path / "o")), env=cli_env(), capture_output=True, text=True
    )
    assert proc.returncode != 0 and f"{pool}:2" in proc.stderr
    assert not (tmp_path / "o" / "kept.jsonl").exists() and not (tmp_path / "o" / "kept.jsonl.tmp").exists()
    proc = subprocess.run(
        cli("dedup", str(pool), "--out", str(tmp_path / "o"), "--method", "rouge"),
        env=cli_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "--method" in proc.stderr


def test_ray_workers_get_the_checkout_on_their_path():
    """Replicas import Seedforge from the driver's checkout (runtime_env PYTHONPATH): the root
    must be the directory holding the packages, wherever the Ray pool module lives."""
    from generator.teachers.ray import _source_root

    root = _source_root()
    assert root is not None and (Path(root) / "generator" / "teachers" / "ray.py").is_file()
    assert (Path(root) / "rundir" / "run.py").is_file()
