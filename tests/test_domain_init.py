"""`seedforge init`: templates that refuse to run until filled in, then generate as written."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from conf.domain_init import init_domain
from conf.domains import LoadedInstructDomain, load_any_domain, load_domain
from conf.yamlconf import ConfigError
from tests.conftest import cli, cli_env
from tests.fakes import ScriptedTeacher

SEEDS = [
    ("Plan a two-day city trip to Lisbon on a small budget.", "", "Day one: walk the Alfama, ride tram 28..."),
    ("Compare travelling by night train and by plane.", "Paris to Vienna", "The night train takes longer but..."),
    ("List what to pack for a rainy week in Scotland.", "", "A waterproof jacket, layers, sturdy boots..."),
]


def fill_instruct(directory):
    path = directory / "domain.yaml"
    text = path.read_text().replace(
        path.read_text().split("description: ", 1)[1].split("\n", 1)[0], "travel planning questions"
    )
    path.write_text(text)
    rows = [
        {"id": f"trip-{i}", "instruction": q, "instances": [{"input": x, "output": a}]}
        for i, (q, x, a) in enumerate(SEEDS)
    ]
    (directory / "seeds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_init_writes_a_commented_domain_and_seed_template_and_never_overwrites(tmp_path):
    directory = tmp_path / "Travel Q&A"
    written = init_domain(directory, "instruct")
    assert [p.name for p in written] == ["domain.yaml", "seeds.jsonl"]
    text = (directory / "domain.yaml").read_text()
    assert text.startswith("# Seedforge domain: travel-q-a") and "seedforge generate --domain" in text
    data = yaml.safe_load(text)
    assert data["kind"] == "instruct" and data["seeds_file"] == "seeds.jsonl" and data["evol"] == {"rounds": 0}
    assert len((directory / "seeds.jsonl").read_text().splitlines()) == 3
    with pytest.raises(ConfigError, match="already exists"):
        init_domain(directory, "instruct")
    init_domain(directory, "instruct", force=True)


def test_an_unfilled_template_is_refused_naming_file_line_and_field(tmp_path):
    init_domain(tmp_path / "d", "instruct")
    with pytest.raises(ConfigError) as err:
        load_any_domain(tmp_path / "d")
    assert f"{tmp_path / 'd' / 'domain.yaml'}:11: description: still the template's TODO" in str(err.value)
    text = (tmp_path / "d" / "domain.yaml").read_text().replace("description: TODO", "description: x #")
    (tmp_path / "d" / "domain.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_any_domain(tmp_path / "d")
    assert f"{tmp_path / 'd' / 'seeds.jsonl'}:2: field 'instances.0.input'" in str(err.value)


def test_filled_instruct_template_generates_a_run(tmp_path):
    from pipeline.instruct import generate

    init_domain(tmp_path / "travel", "instruct")
    fill_instruct(tmp_path / "travel")
    loaded = load_any_domain(tmp_path / "travel", {"generation": {"num": 6, "min_prompts_per_round": 4}})
    assert isinstance(loaded, LoadedInstructDomain)
    config = loaded.domain.run_config()
    assert config.generation.domain == "travel planning questions"
    summary = generate(config, loaded.seeds_path, tmp_path / "run", teacher=ScriptedTeacher())
    assert summary.funnel["kept"] == 6
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["generation"]["domain"] == "travel planning questions"
    with pytest.raises(ConfigError, match="needs a classification domain"):
        load_domain(tmp_path / "travel")


def test_filled_classify_template_generates_labeled_rows(tmp_path):
    from pipeline.labeled import generate_labeled

    init_domain(tmp_path / "tickets", "classify")
    path = tmp_path / "tickets" / "domain.yaml"
    with pytest.raises(ConfigError, match=r"domain\.yaml:\d+: task: still the template's TODO"):
        load_domain(path)
    data = yaml.safe_load(path.read_text())
    data["task"] = "The topic of a customer support ticket."
    data["labels"] = [
        {
            "name": "billing",
            "description": "charges and invoices",
            "seeds": ["I was charged twice.", "Where is my invoice?"],
        },
        {"name": "bug", "description": "something is broken", "seeds": ["The app crashes on start.", "Login fails."]},
    ]
    data["targets"] = {"per_label": 3}
    path.write_text(yaml.safe_dump(data))
    loaded = load_domain(path)
    summary = generate_labeled(loaded, tmp_path / "run", teacher=ScriptedTeacher())
    assert summary.funnel["kept"] >= 1


def test_init_cli(tmp_path):
    done = subprocess.run(
        cli("init", str(tmp_path / "x"), "--kind", "classify"),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and (tmp_path / "x" / "domain.yaml").is_file()
    assert not (tmp_path / "x" / "seeds.jsonl").exists()
    done = subprocess.run(
        cli("init", str(tmp_path / "y"), "--kind", "chat"), env=cli_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "--kind" in done.stderr


@pytest.mark.vllm
@pytest.mark.slow
def test_init_then_generate_with_the_real_engine_in_three_commands(tmp_path):
    """The README recipe: init, fill in three seeds, generate (real vLLM CPU engine)."""
    domain = tmp_path / "travel"
    assert subprocess.run(cli("init", str(domain)), env=cli_env(), timeout=120).returncode == 0
    fill_instruct(domain)
    text = (domain / "domain.yaml").read_text().replace("  model: embedded", "  enforce_eager: true\n  model: embedded")
    (domain / "domain.yaml").write_text(text)
    done = subprocess.run(
        cli("generate", "--domain", str(domain), "--out", str(tmp_path / "run"), "--num", "3", "--no-progress"),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    train = [json.loads(line) for line in (tmp_path / "run" / "train.jsonl").read_text().splitlines()]
    assert len(train) == 3 and all(r["instruction"] and r["output"] for r in train)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["run"]["seeds"] == 3
