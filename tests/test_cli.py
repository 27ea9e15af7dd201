"""CLI commands that need no engine, through a real subprocess."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import GENERAL_SEEDS, cli, cli_env


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), env=cli_env(), capture_output=True, text=True, timeout=300)


def test_seeds_lint_json():
    proc = run("seeds", "lint", str(GENERAL_SEEDS), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["count"] == 20 and report["ok"] and report["format"] == "self-instruct"


def test_python_m_service_is_still_the_same_cli():
    import sys

    alias = subprocess.run(
        [sys.executable, "-m", "service", "seeds", "lint", str(GENERAL_SEEDS), "--json"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert alias.returncode == 0, alias.stderr
    assert alias.stdout == run("seeds", "lint", str(GENERAL_SEEDS), "--json").stdout


def test_seeds_lint_reports_problems_with_exit_1(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "instruction": "Fine task here."}\n{"id": "a", "instruction": "Dup id."}\n')
    proc = run("seeds", "lint", str(bad))
    assert proc.returncode == 1
    assert f"{bad}:2: field 'id': duplicate id 'a'" in proc.stdout


def test_generate_with_bad_seeds_is_a_clear_error_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "instruction": "ok task"}\n{broken\n')
    out = tmp_path / "run"
    proc = run("generate", "--seeds", str(bad), "--out", str(out), "--num", "2")
    assert proc.returncode == 2
    assert f"{bad}:2: invalid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_generate_with_bad_config_names_the_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("generation:\n  num: -1\n")
    proc = run("generate", "--seeds", str(GENERAL_SEEDS), "--out", str(tmp_path / "r"), "--config", str(config))
    assert proc.returncode == 2 and f"{config}:2: generation.num" in proc.stderr


def test_models_lists_the_embedded_teacher_and_encoder():
    proc = run("models")
    assert proc.returncode == 0, proc.stderr
    assert "embedded:smollm2-135m-instruct" in proc.stdout and "embedded:all-minilm-l6-v2" in proc.stdout


def test_choices_follow_the_lists_their_packages_keep():
    from typing import get_args

    from cli.choices import EXECUTORS, DedupMethod, ExportFormat, SeedFormatChoice
    from generator.seeds import SeedFormat
    from outputs.formats.registry import FORMATS

    assert [f.value for f in ExportFormat] == list(FORMATS) == ["messages", "alpaca", "sharegpt", "hf", "parquet"]
    assert [f.value for f in SeedFormatChoice] == list(get_args(SeedFormat))
    assert EXECUTORS == ("local", "ray") and [m.value for m in DedupMethod] == ["exact", "minhash"]


def test_typer_refuses_a_value_outside_a_choice_naming_the_option(tmp_path, monkeypatch):
    import logging

    from typer.testing import CliRunner

    from cli.main import app

    logger = logging.getLogger("seedforge")  # the CLI points it at the runner's stderr: restore it after
    for attr in ("handlers", "level", "propagate"):
        monkeypatch.setattr(logger, attr, getattr(logger, attr))

    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"id": "a", "instruction": "x"}\n')
    cases = [
        (["export", str(tmp_path), "--format", "csv"], "--format"),
        (["dedup", str(pool), "--out", str(tmp_path / "o"), "--method", "simhash"], "--method"),
        (["dedup", str(pool), "--out", str(tmp_path / "o"), "--executor", "dask"], "--executor"),
        (["seeds", "lint", str(pool), "--format", "xml"], "--format"),
        (["generate", "--seeds", str(pool), "--out", str(tmp_path / "r"), "--executor", "k8s"], "--executor"),
        (["finetune", "merge", str(tmp_path), "--out", str(tmp_path / "m"), "--dtype", "int8"], "--dtype"),
        (["--log-format", "xml", "models"], "--log-format"),
    ]
    for args, option in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"Invalid value for '{option}'" in result.output, (args, result.output)
    assert not (tmp_path / "o").exists() and not (tmp_path / "r").exists()
    ok = CliRunner().invoke(app, ["dedup", str(pool), "--out", str(tmp_path / "o"), "--method", "exact"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "o" / "stats.json").read_text())["kept"] == 1
