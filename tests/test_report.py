"""report.html, the dataset card, the token budget and JSON logs (scripted teacher)."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import shutil
import subprocess

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from conf.config import load_config
from conf.domains import load_domain
from pipeline.instruct import generate
from pipeline.labeled import generate_labeled
from rundir.logs import log_context, setup_logging
from rundir.publish import verify
from tests.conftest import EXAMPLES, GENERAL_SEEDS, cli, cli_env
from tests.fakes import ScriptedTeacher


@pytest.fixture(scope="module")
def instruction_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("instr") / "run"
    config = load_config(overrides={"generation": {"num": 25, "min_prompts_per_round": 4}})
    generate(config, GENERAL_SEEDS, out, teacher=ScriptedTeacher())
    return out


@pytest.fixture(scope="module")
def labeled_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("labeled") / "run"
    generate_labeled(
        load_domain(EXAMPLES / "reviews" / "domain.yaml", {"targets": {"per_label": 4}}),
        out,
        teacher=ScriptedTeacher(mislabel_rate=0.3),
    )
    return out


def images(html: str) -> list[Image.Image]:
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    out = []
    for src in sources:
        assert src.startswith("data:image/png;base64,"), src[:60]
        data = base64.b64decode(src.split(",", 1)[1])
        assert len(data) > 2000
        image = Image.open(io.BytesIO(data))
        image.verify()
        out.append(Image.open(io.BytesIO(data)))
    return out


def assert_self_contained(html: str) -> None:
    for attr in re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', html):
        assert attr.startswith(("data:", "#")), attr[:80]
    assert "url(" not in html and "@import" not in html
    assert not re.search(r"<(?:link|iframe|object|embed)\b", html)
    assert not re.search(r"<script[^>]+src=", html)


def test_instruction_report_has_every_plot_and_no_external_urls(instruction_run):
    html = (instruction_run / "report.html").read_text()
    plots = images(html)
    assert len(plots) == 5  # funnel, lengths, similarity, first words, throughput
    assert all(p.width > 200 and p.height > 100 for p in plots)
    for section in ('id="funnel"', 'id="lengths"', 'id="similarity"', 'id="diversity"', 'id="teacher"', 'id="samples"'):
        assert section in html
    assert_self_contained(html)
    assert 'data-status="kept"' in html and "instruction_filter/" in html  # kept and rejected samples
    manifest = json.loads((instruction_run / "manifest.json").read_text())
    assert {"report.html", "README.md"} <= set(manifest["artifacts"]) and not verify(instruction_run)


def test_classification_report_shows_labels_vs_target(labeled_run):
    html = (labeled_run / "report.html").read_text()
    assert 'id="labels"' in html and len(images(html)) == 6
    for label in ("positive", "negative", "neutral"):
        assert f"<td>{label}</td>" in html
    assert_self_contained(html)


def test_user_text_is_escaped(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(
        "Explain <script>alert(1)</script> safely to a child please.\nDescribe the ocean tides in detail.\n"
    )
    out = tmp_path / "run"
    generate(
        load_config(overrides={"generation": {"num": 3, "min_prompts_per_round": 2}}),
        seeds,
        out,
        teacher=ScriptedTeacher(),
    )
    html = (out / "report.html").read_text()
    assert "<script>alert(1)" not in html


def test_dataset_card_header_parses(instruction_run, labeled_run):
    for run, category in ((instruction_run, "text-generation"), (labeled_run, "text-classification")):
        text = (run / "README.md").read_text()
        assert text.startswith("---\n")
        header = yaml.safe_load(text.split("---\n")[1])
        assert header["license"] == "other" and header["task_categories"] == [category]
        assert header["size_categories"] == ["n<1K"] and "synthetic" in header["tags"]
        assert header["configs"][0]["data_files"][0]["path"] == "train.jsonl"
        assert "## Filter funnel" in text and "## Lineage" in text


def test_dataset_card_links_no_placeholder(instruction_run, labeled_run):
    # The project has no public home yet: the card names Seedforge and links nothing rather than
    # sending readers to a placeholder such as https://github.com/.
    for run in (instruction_run, labeled_run):
        text = (run / "README.md").read_text()
        assert " generated with\nSeedforge from " in text
        assert re.findall(r"\]\((?:https?:)?//[^)]*\)", text) == []
        assert "github.com" not in text


def test_report_command_picks_up_student_metrics(instruction_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(instruction_run, run, symlinks=True)
    (run / "student").mkdir()
    (run / "student" / "metrics.json").write_text(
        json.dumps({"before": {"eval_loss": 2.5}, "after": {"eval_loss": 1.5}})
    )
    proc = subprocess.run(cli("report", str(run)), env=cli_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    html = (run / "report.html").read_text()
    assert "Student metrics" in html and "after.eval_loss" in html
    assert not verify(run)


def test_token_budget_stops_cleanly(tmp_path):
    config = load_config(
        overrides={
            "generation": {"num": 500, "min_prompts_per_round": 4, "prompts_per_round": 4, "max_tokens_budget": 2500}
        }
    )
    summary = generate(config, GENERAL_SEEDS, tmp_path / "run", teacher=ScriptedTeacher())
    assert summary.stats["run"]["stopped"] == "token_budget" and not summary.stats["run"]["target_met"]
    spent = summary.stats["teacher"]["prompt_tokens"] + summary.stats["teacher"]["completion_tokens"]
    assert spent >= 2500 and summary.stats["run"]["rounds"] >= 1
    assert summary.funnel["kept"] + summary.funnel["rejected_total"] == summary.funnel["candidates"]
    assert "token_budget" in (tmp_path / "run" / "report.html").read_text()


def test_the_cli_budget_option_reaches_a_seeds_run(tmp_path, monkeypatch):
    """--max-tokens-budget with --seeds (it used to reach only --domain runs and be ignored here)."""
    import pipeline.skeleton
    from cli.main import app

    monkeypatch.setattr(pipeline.skeleton, "make_teacher", lambda *args, **kwargs: ScriptedTeacher())
    logger = logging.getLogger("seedforge")  # the CLI points it at the runner's stderr: restore it after
    monkeypatch.setattr(logger, "handlers", logger.handlers[:])
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    config = tmp_path / "run.yaml"
    config.write_text("generation:\n  min_prompts_per_round: 4\n  prompts_per_round: 4\n")
    args = ["generate", "--seeds", str(GENERAL_SEEDS), "--config", str(config), "--num", "500"]
    args += ["--out", str(tmp_path / "run"), "--no-progress", "--max-tokens-budget", "2500"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["run"]["stopped"] == "token_budget" and not stats["run"]["target_met"]
    assert stats["teacher"]["prompt_tokens"] + stats["teacher"]["completion_tokens"] >= 2500
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["generation"]["max_tokens_budget"] == 2500


def test_json_logs_carry_run_id_and_stage(tmp_path, capsys):
    setup_logging("json", "INFO")
    try:
        config = load_config(overrides={"generation": {"num": 5, "min_prompts_per_round": 2}})
        summary = generate(config, GENERAL_SEEDS, tmp_path / "run", teacher=ScriptedTeacher())
    finally:
        setup_logging("text", "WARNING")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert lines and all(entry["run_id"] == summary.stats["run"]["run_id"] for entry in lines)
    assert {"instructions", "responses", "publish"} <= {entry.get("stage") for entry in lines}
    with log_context(stage="x"):
        pass


@pytest.mark.slow
def test_report_renders_in_headless_chromium(instruction_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium when it can)")
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            (instruction_run / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 2400)
    histogram = image.histogram()
    assert max(histogram) < 0.97 * sum(histogram)  # not a blank page: text and charts were drawn
