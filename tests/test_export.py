"""`seedforge export`: every format round-trips and matches the field names trainers document."""

from __future__ import annotations

import json
import subprocess

import pytest

from outputs.export import ExportError, export, parse_split
from pipeline.runs import finish_run
from prompts import Record
from rundir import RunDir
from rundir.codec import encode_rows
from rundir.session import open_run
from tests.conftest import cli, cli_env

# LLaMA-Factory data/README.md, "Alpaca Format": instruction and output required; input, system and
# history optional; history is a list of [instruction, response] pairs for the EARLIER rounds.
ALPACA_REQUIRED = {"instruction": str, "input": str, "output": str, "history": list}
ALPACA_OPTIONAL = {"system": str}
# LLaMA-Factory dataset_info.json column names for alpaca (same README, "dataset_info.json").
LF_ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}
# LLaMA-Factory "Sharegpt Format" tags, and axolotl docs/dataset-formats/conversation.qmd:
# {"conversations": [{"from": "human"|"gpt"|"system", "value": ...}]}, optional first system row.
SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "system_tag": "system",
}
SHAREGPT_TURN_KEYS = {"from", "value"}
# axolotl docs/dataset-formats/inst_tune.qmd, `alpaca`: {"instruction", "input", "output"}.
AXOLOTL_ALPACA_KEYS = {"instruction", "input", "output"}

MULTI_TURN = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name a prime."},
    {"role": "assistant", "content": "2"},
    {"role": "user", "content": "Another one?"},
    {"role": "assistant", "content": "3"},
    {"role": "user", "content": "And the next?"},
    {"role": "assistant", "content": "5"},
]


def instruction_records(n: int) -> list[Record]:
    return [
        Record(id=f"r{i:03d}", instruction=f"Task {i}.", input="some context" if i % 3 == 0 else "", output=f"Ans {i}")
        for i in range(n)
    ]


def multi_turn_records() -> list[Record]:
    """Three exchanges each; the odd ones open with a system turn."""
    first, rest = MULTI_TURN[1:3], MULTI_TURN[3:]
    return [
        Record(
            id=f"multi{i}",
            instruction=first[0]["content"],
            output=first[1]["content"],
            turns=rest,
            system=MULTI_TURN[0]["content"] if i % 2 else "",
        )
        for i in range(4)
    ]


def make_run(path, records, rows=None):
    """A real published run dir; `rows` then replaces train.jsonl (rows Record would refuse)."""
    records = [*records, Record(id="dropped", instruction="x").reject("response_filter", "empty_output")]
    with open_run(path) as ctx:
        finish_run(ctx, records, {}, {})
    if rows is not None:
        RunDir(path).republish({"train.jsonl": encode_rows(rows)})
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run") / "run", instruction_records(36) + multi_turn_records())


def read_split(out, name, fmt):
    if fmt == "messages":
        return [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
    return json.loads((out / f"{name}.json").read_text())


def assert_alternates(roles, user="user", assistant="assistant", system="system"):
    body = roles[1:] if roles[0] == system else roles
    assert body and len(body) % 2 == 0
    assert body == [user, assistant] * (len(body) // 2)


@pytest.mark.parametrize("fmt", ["messages", "hf", "parquet"])
def test_messages_hf_parquet_load_with_datasets_in_trl_conversational_format(run_dir, tmp_path, fmt):
    from datasets import load_dataset, load_from_disk

    is_conversational = pytest.importorskip("trl.data_utils").is_conversational
    manifest = export(run_dir, fmt, out=tmp_path / fmt)
    out = tmp_path / fmt
    assert manifest["rows"] == {"train": 36, "validation": 2, "test": 2}
    assert manifest["multi_turn_rows"] == 4
    if fmt == "hf":
        ds = load_from_disk(str(out))
    else:
        ext = "jsonl" if fmt == "messages" else "parquet"
        loader = "json" if fmt == "messages" else "parquet"
        ds = load_dataset(loader, data_files={s: str(out / f"{s}.{ext}") for s in manifest["rows"]})
    assert {s: len(ds[s]) for s in ds} == manifest["rows"]
    expected_columns = {"id", "messages"} if fmt == "messages" else {"id", "messages", "instruction", "input", "output"}
    by_id = {}
    for split in ds:
        assert set(ds[split].column_names) == expected_columns
        for example in ds[split]:
            assert is_conversational(example)
            assert_alternates([m["role"] for m in example["messages"]])
            by_id[example["id"]] = example
    assert by_id["multi1"]["messages"] == MULTI_TURN
    assert by_id["multi0"]["messages"] == MULTI_TURN[1:]
    assert by_id["r003"]["messages"][0]["content"] == "Task 3.\n\nsome context"
    if fmt != "messages":
        assert by_id["r003"]["input"] == "some context" and by_id["r003"]["output"] == "Ans 3"


def test_alpaca_matches_llama_factory_and_axolotl_fields(run_dir, tmp_path):
    out = tmp_path / "alpaca"
    manifest = export(run_dir, "alpaca", out=out)
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {f"seedforge_{s}" for s in manifest["rows"]}
    by_id = {}
    for split, count in manifest["rows"].items():
        entry = info[f"seedforge_{split}"]
        assert entry["file_name"] == f"{split}.json" and entry["formatting"] == "alpaca"
        rows = read_split(out, split, "alpaca")
        assert len(rows) == count
        has_system = any("system" in r for r in rows)
        assert entry["columns"] == {**LF_ALPACA_COLUMNS, **({"system": "system"} if has_system else {})}
        for row in rows:
            assert set(row) >= AXOLOTL_ALPACA_KEYS
            assert set(ALPACA_REQUIRED) <= set(row) <= set(ALPACA_REQUIRED) | set(ALPACA_OPTIONAL)
            assert has_system == ("system" in row)  # a mapped column exists in every row of its file
            for key, kind in {**ALPACA_REQUIRED, **ALPACA_OPTIONAL}.items():
                assert key not in row or isinstance(row[key], kind)
            for pair in row["history"]:
                assert isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        by_id.update({(r["instruction"], r["output"]): r for r in rows})
    # the last exchange is instruction/output, the earlier ones history, oldest first
    multi = by_id[("And the next?", "5")]
    assert multi["history"] == [["Name a prime.", "2"], ["Another one?", "3"]] and multi["input"] == ""
    with_input = by_id[("Task 3.", "Ans 3")]
    assert with_input["input"] == "some context" and with_input["history"] == []
    assert by_id[("Task 1.", "Ans 1")]["input"] == ""
    readme = (out / "README.md").read_text()
    assert "dataset: seedforge_train" in readme and "type: alpaca" in readme


def test_sharegpt_matches_llama_factory_and_axolotl_fields(run_dir, tmp_path):
    out = tmp_path / "sharegpt"
    manifest = export(run_dir, "sharegpt", out=out)
    info = json.loads((out / "dataset_info.json").read_text())
    conversations = {}
    for split in manifest["rows"]:
        entry = info[f"seedforge_{split}"]
        assert entry == {
            "file_name": f"{split}.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": SHAREGPT_TAGS,
        }
        for row in read_split(out, split, "sharegpt"):
            assert set(row) == {"conversations", "id"}
            turns = row["conversations"]
            assert all(set(t) == SHAREGPT_TURN_KEYS and isinstance(t["value"], str) for t in turns)
            assert_alternates([t["from"] for t in turns], user="human", assistant="gpt")
            conversations[row["id"]] = turns
    assert [t["from"] for t in conversations["multi1"]] == ["system", *["human", "gpt"] * 3]
    assert conversations["multi1"][-1] == {"from": "gpt", "value": "5"}
    readme = (out / "README.md").read_text()
    assert "type: chat_template" in readme and 'user: ["human"]' in readme and 'assistant: ["gpt"]' in readme


def test_split_is_deterministic_disjoint_and_complete(run_dir, tmp_path):
    def ids(out):
        return {s: [r["id"] for r in read_split(out, s, "messages")] for s in ("train", "validation", "test")}

    export(run_dir, "messages", seed=7, out=tmp_path / "a")
    export(run_dir, "messages", seed=7, out=tmp_path / "b")
    export(run_dir, "messages", seed=8, out=tmp_path / "c")
    a, b, c = ids(tmp_path / "a"), ids(tmp_path / "b"), ids(tmp_path / "c")
    assert a == b and a != c
    everything = [i for part in a.values() for i in part]
    assert len(everything) == len(set(everything)) == 40
    first = json.loads((tmp_path / "a" / "export.json").read_text())
    assert first["seed"] == 7 and first["source"]["version"] == 1
    assert (
        first["source"]["train_sha256"]
        == json.loads((run_dir / "manifest.json").read_text())["artifacts"]["train.jsonl"]["sha256"]
    )


def test_split_fractions_parse_and_count():
    assert parse_split("1") == {"train": 1.0}
    assert parse_split("0.8, 0.2") == {"train": 0.8, "test": 0.2}
    assert parse_split("0.9,0.05,0.05") == {"train": 0.9, "validation": 0.05, "test": 0.05}
    for bad, words in [("0.9,0.2", "sum to 1"), ("a,b", "numbers"), ("1,0", "> 0"), ("0.5,0.2,0.2,0.1", "1 to 3")]:
        with pytest.raises(ExportError, match=words):
            parse_split(bad)


def test_two_way_split_and_default_out_replaces_an_earlier_export(run_dir):
    manifest = export(run_dir, "parquet", split="0.75,0.25", seed=1)
    out = run_dir / "export" / "parquet"
    assert manifest["rows"] == {"train": 30, "test": 10} and manifest["out_dir"] == str(out)
    assert sorted(p.name for p in out.glob("*.parquet")) == ["test.parquet", "train.parquet"]
    export(run_dir, "parquet", split="1")
    assert sorted(p.name for p in out.glob("*.parquet")) == ["train.parquet"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_classification_rows_export(tmp_path):
    labels = ["positive", "negative", "neutral"]
    records = [Record(id=f"c{i}", kind="classification", text=f"review {i}", label=labels[i % 3]) for i in range(12)]
    run = make_run(tmp_path / "run", records)
    export(run, "alpaca", split="0.5,0.5", out=tmp_path / "alpaca")
    rows = read_split(tmp_path / "alpaca", "train", "alpaca") + read_split(tmp_path / "alpaca", "test", "alpaca")
    assert sorted((r["instruction"], r["output"]) for r in rows) == sorted((r.text, r.label) for r in records)
    assert all(r["input"] == "" and r["history"] == [] for r in rows)
    from datasets import load_from_disk

    export(run, "hf", split="0.5,0.5", out=tmp_path / "hf")
    ds = load_from_disk(str(tmp_path / "hf"))
    assert set(ds["train"].column_names) == {"id", "messages", "text", "label"}
    assert all(e["messages"][1]["content"] == e["label"] for e in ds["train"])


def run_cli(*args):
    return subprocess.run(cli("export", *args), env=cli_env(), capture_output=True, text=True, timeout=300)


def test_cli_exports_and_reports_counts(run_dir, tmp_path):
    proc = run_cli(str(run_dir), "--format", "sharegpt", "--out", str(tmp_path / "sg"))
    assert proc.returncode == 0, proc.stderr
    assert "train       36 rows" in proc.stdout and "multi-turn rows: 4" in proc.stdout
    assert (tmp_path / "sg" / "export.json").is_file()


def test_cli_user_errors_exit_2_naming_the_problem(run_dir, tmp_path):
    not_a_run = tmp_path / "nothing"
    not_a_run.mkdir()
    empty = make_run(tmp_path / "empty", [])
    bad_rows = make_run(tmp_path / "bad", [], [{"id": "x", "messages": [{"role": "assistant", "content": "hi"}]}])
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "mine.txt").write_text("keep me")
    cases = [
        ((str(run_dir), "--format", "alpaca", "--split", "0.9,0.2"), "--split"),
        ((str(run_dir), "--format", "alpaca", "--split", "0.5,x"), "--split"),
        ((str(run_dir), "--format", "csv"), "--format"),
        ((str(not_a_run), "--format", "messages"), "not a run directory"),
        ((str(empty), "--format", "messages"), "empty"),
        ((str(bad_rows), "--format", "messages", "--split", "1"), "id x"),
        ((str(run_dir), "--format", "messages", "--out", str(occupied)), "not a Seedforge export"),
        ((str(run_dir), "--format", "messages", "--split", "0.98,0.01,0.01"), "would be empty"),
    ]
    for args, words in cases:
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert (occupied / "mine.txt").read_text() == "keep me"
