"""`seedforge export`: a run's kept rows as train/validation/test files for the usual trainers.

Each row's `messages` list is the source of truth for the conversation, so rows with more than one
exchange (and an optional leading system turn) export as multi-turn data in every format; the flat
instruction/input/output (or text/label) fields are only used where a format has such columns.

The export is built in a staging directory beside the target and renamed into place, so an
interrupted export never leaves a half-written directory under the final name. The run is read
through `RunDir.read()` (one version, checked against its manifest), so a `seedforge filter`
publishing meanwhile cannot mix two versions into one export.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outputs.export_docs import export_readme
from prompts import stable_hash
from rundir import RunDir
from rundir.codec import decode_rows
from rundir.writers import atomic_write_bytes, fsync_dir, write_json, write_jsonl

FORMATS = ("messages", "alpaca", "sharegpt", "hf", "parquet")
SPLIT_NAMES = {1: ("train",), 2: ("train", "test"), 3: ("train", "validation", "test")}
DEFAULT_SPLIT = "0.9,0.05,0.05"
EXPORT_MANIFEST = "export.json"
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}
# LLaMA-Factory's dataset_info.json names for our alpaca columns (data/README.md there).
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}
SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "system_tag": "system",
}


class ExportError(ValueError):
    pass


@dataclass
class SourceRun:
    run_dir: Path
    version_dir: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    train_sha256: str
    rows: list[dict[str, Any]]


def parse_split(text: str) -> dict[str, float]:
    """ "0.9,0.05,0.05" -> {train: 0.9, validation: 0.05, test: 0.05}."""
    parts = [p.strip() for p in text.split(",")]
    try:
        fractions = [float(p) for p in parts]
    except ValueError:
        raise ExportError(f"--split {text!r}: expected 1 to 3 comma-separated numbers, e.g. 0.9,0.05,0.05") from None
    if not 1 <= len(fractions) <= 3:
        raise ExportError(f"--split {text!r}: expected 1 to 3 numbers (train[,validation],test), got {len(fractions)}")
    if any(not f > 0 for f in fractions):  # `not >` also catches nan
        raise ExportError(f"--split {text!r}: every fraction must be > 0")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ExportError(f"--split {text!r}: fractions must sum to 1 (they sum to {sum(fractions):g})")
    return dict(zip(SPLIT_NAMES[len(fractions)], fractions, strict=True))


def read_run(run_dir: Path) -> SourceRun:
    version = RunDir(run_dir).read()
    data = version.read_bytes("train.jsonl", check=True)
    where = f"{run_dir}/train.jsonl"
    rows = []
    for line, row in decode_rows(data, where):
        row["messages"] = conversation(row, f"{where}:{line} (id {row['id']})")
        rows.append(row)
    if not rows:
        raise ExportError(f"{where} is empty: the run kept no rows, nothing to export")
    train_sha = hashlib.sha256(data).hexdigest()
    return SourceRun(run_dir, version.path, version.manifest, version.manifest_sha256, train_sha, rows)


def _flat_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows written before `messages` existed: rebuild the single exchange as Record.messages does."""
    if row.get("kind") == "classification":
        user, answer = row.get("text", ""), row.get("label", "")
    else:
        user, answer = prompt_text(row), row.get("output", "")
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def prompt_text(row: dict[str, Any]) -> str:
    instruction, inp = row.get("instruction", ""), row.get("input", "")
    return f"{instruction}\n\n{inp}" if inp.strip() else instruction


def conversation(row: dict[str, Any], where: str) -> list[dict[str, str]]:
    """The row's turns as [{role, content}], checked: optional system, then user/assistant pairs.

    Every target format (TRL, LLaMA-Factory, axolotl) rejects or silently mis-masks anything else,
    so a malformed row stops the export here with its line number instead.
    """
    raw = row.get("messages")
    if raw is None:
        raw = _flat_messages(row)
    if not isinstance(raw, list):
        raise ExportError(f"{where}: `messages` is not a list")
    turns = []
    for i, turn in enumerate(raw):
        if not (isinstance(turn, dict) and isinstance(turn.get("role"), str) and isinstance(turn.get("content"), str)):
            raise ExportError(f"{where}: messages[{i}] is not a {{role, content}} object with string values")
        turns.append({"role": turn["role"], "content": turn["content"]})
    body = turns[1:] if turns and turns[0]["role"] == "system" else turns
    if not body or len(body) % 2:
        raise ExportError(f"{where}: messages must be user/assistant pairs (got {len(body)} non-system turns)")
    for i, turn in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if turn["role"] != expected:
            raise ExportError(f"{where}: turn {i} has role {turn['role']!r}, expected {expected!r}")
    return turns


def split_rows(rows: list[dict[str, Any]], fractions: dict[str, float], seed: int) -> dict[str, list[dict[str, Any]]]:
    """Seeded shuffle, then cut at the rounded cumulative fractions (counts always sum to len(rows))."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    out: dict[str, list[dict[str, Any]]] = {}
    start, cumulative = 0, 0.0
    names = list(fractions)
    for name in names:
        cumulative += fractions[name]
        end = len(rows) if name == names[-1] else int(cumulative * len(rows) + 0.5)
        out[name] = [rows[i] for i in order[start:end]]
        start = end
    empty = [name for name, part in out.items() if not part]
    if empty:
        counts = ", ".join(f"{n} {len(p)}" for n, p in out.items())
        raise ExportError(
            f"--split: split {', '.join(empty)} would be empty with {len(rows)} rows ({counts}); "
            "give fewer splits or larger fractions"
        )
    return out


def _system_and_pairs(messages: list[dict[str, str]]) -> tuple[str | None, list[tuple[str, str]]]:
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    body = messages[1:] if system is not None else messages
    return system, [(body[i]["content"], body[i + 1]["content"]) for i in range(0, len(body), 2)]


def alpaca_row(row: dict[str, Any]) -> dict[str, Any]:
    """LLaMA-Factory alpaca: instruction/input/output are the LAST exchange, `history` the earlier ones.

    The row's separate `input` is only kept apart for a single exchange whose user turn is exactly
    instruction + input: in a longer conversation that text belongs to the first turn, which is
    in `history`, and LLaMA-Factory appends `input` to the last turn.
    """
    system, pairs = _system_and_pairs(row["messages"])
    instruction, output = pairs[-1]
    inp = ""
    if (
        len(pairs) == 1
        and row.get("kind", "instruction") != "classification"
        and row.get("input", "").strip()
        and instruction == prompt_text(row)
    ):
        instruction, inp = row["instruction"], row["input"]
    out: dict[str, Any] = {"instruction": instruction, "input": inp, "output": output}
    if system is not None:
        out["system"] = system
    out["history"] = [[q, a] for q, a in pairs[:-1]]
    return out


def sharegpt_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "conversations": [{"from": SHAREGPT_ROLES[t["role"]], "value": t["content"]} for t in row["messages"]],
        "id": row["id"],
    }


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    kinds = {row.get("kind", "instruction") for row in rows}
    columns = ["id", "messages"]
    if kinds - {"classification"}:
        columns += ["instruction", "input", "output"]
    if "classification" in kinds:
        columns += ["text", "label"]
    if len(kinds) > 1:
        columns.append("kind")
    return columns


def _dataset_dict(parts: dict[str, list[dict[str, Any]]], columns: list[str]) -> Any:
    from datasets import Dataset, DatasetDict, Features, List, Value

    features = Features(
        {
            name: List({"role": Value("string"), "content": Value("string")}) if name == "messages" else Value("string")
            for name in columns
        }
    )
    return DatasetDict(
        {
            split: Dataset.from_list(
                [{c: row["messages"] if c == "messages" else str(row.get(c, "")) for c in columns} for row in rows],
                features=features,
            )
            for split, rows in parts.items()
        }
    )


def _write_files(fmt: str, staging: Path, parts: dict[str, list[dict[str, Any]]]) -> list[str]:
    if fmt == "messages":
        for split, rows in parts.items():
            write_jsonl(staging / f"{split}.jsonl", ({"messages": r["messages"], "id": r["id"]} for r in rows))
        return [f"{split}.jsonl" for split in parts]
    if fmt in ("alpaca", "sharegpt"):
        info = {}
        for split, rows in parts.items():
            records = [alpaca_row(r) if fmt == "alpaca" else sharegpt_row(r) for r in rows]
            if fmt == "alpaca" and any("system" in r for r in records):
                # A column LLaMA-Factory is told about must exist in every row of the file.
                records = [{**r, "system": r.get("system", "")} for r in records]
            write_json(staging / f"{split}.json", records)
            info[f"seedforge_{split}"] = _dataset_info_entry(fmt, f"{split}.json", records)
        write_json(staging / "dataset_info.json", info)
        return [*(f"{split}.json" for split in parts), "dataset_info.json"]
    from datasets.utils import logging as ds_logging

    all_rows = [row for rows in parts.values() for row in rows]
    dataset = _dataset_dict(parts, table_columns(all_rows))
    bars_were_on = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()  # one bar per split and shard is noise in a CLI summary
    try:
        if fmt == "hf":
            dataset.save_to_disk(str(staging))
            return ["dataset_dict.json", *parts]
        for split in parts:
            dataset[split].to_parquet(str(staging / f"{split}.parquet"))
        return [f"{split}.parquet" for split in parts]
    finally:
        if bars_were_on:
            ds_logging.enable_progress_bar()


def _dataset_info_entry(fmt: str, file_name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    if fmt == "sharegpt":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": dict(SHAREGPT_TAGS),
        }
    columns = dict(ALPACA_COLUMNS)
    if records and "system" in records[0]:
        columns["system"] = "system"
    return {"file_name": file_name, "formatting": "alpaca", "columns": columns}


def _check_target(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (out / EXPORT_MANIFEST).is_file()):
        raise ExportError(f"--out {out}: exists and is not a Seedforge export; choose another --out or remove it")


def _swap_in(staging: Path, out: Path) -> None:
    """Replace `out` by the finished staging dir: two renames, the old export removed afterwards."""
    _check_target(out)
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    fsync_dir(out.parent)
    shutil.rmtree(old, ignore_errors=True)


def export(
    run_dir: str | Path,
    fmt: str,
    split: str = DEFAULT_SPLIT,
    seed: int = 0,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Write the run's kept rows in `fmt`, split as asked; return the export manifest."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    fractions = parse_split(split)
    run_dir = Path(run_dir)
    source = read_run(run_dir)
    parts = split_rows(source.rows, fractions, seed)
    target = Path(out) if out is not None else run_dir / "export" / fmt
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        files = _write_files(fmt, staging, parts)
        manifest = {
            "format": fmt,
            "split": fractions,
            "seed": seed,
            "rows": {name: len(rows) for name, rows in parts.items()},
            # the ids themselves are in the split files; a digest proves which rows went where
            "ids_sha256": {name: stable_hash([row["id"] for row in rows], length=64) for name, rows in parts.items()},
            "multi_turn_rows": sum(len(_system_and_pairs(r["messages"])[1]) > 1 for r in source.rows),
            "files": [*files, "README.md"],
            "source": {
                "run_dir": str(run_dir.resolve()),
                "version": source.manifest.get("version"),
                "version_created_at": source.manifest.get("created_at"),
                "manifest_sha256": source.manifest_sha256,
                "train_sha256": source.train_sha256,
            },
        }
        atomic_write_bytes(staging / "README.md", export_readme(fmt, list(parts)).encode("utf-8"))
        write_json(staging / EXPORT_MANIFEST, manifest)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {**manifest, "out_dir": str(target)}
