"""`seedforge export`: a run's kept rows as train/validation/test files for the usual trainers.

Rows are read as `Record`s (rundir's codec) and each format takes its conversation from
`Record.messages()`, so rows with more than one exchange (and an optional leading system turn)
export as multi-turn data in every format; the flat instruction/input/output (or text/label)
fields are only used where a format has such columns. The formats: formats/registry.py.

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
from typing import Any, TypeVar

from outputs.formats.base import HERE
from outputs.formats.registry import FORMATS
from prompts import Record, stable_hash
from rundir import RunDir
from rundir.codec import decode_records
from rundir.writers import atomic_write_bytes, fsync_dir, write_json

SPLIT_NAMES = {1: ("train",), 2: ("train", "test"), 3: ("train", "validation", "test")}
DEFAULT_SPLIT = "0.9,0.05,0.05"
EXPORT_MANIFEST = "export.json"
T = TypeVar("T")


class ExportError(ValueError):
    pass


@dataclass
class SourceRun:
    run_dir: Path
    version_dir: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    train_sha256: str
    records: list[Record]


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
    """The kept rows of the current version, checked against its manifest; a bad row names its line."""
    version = RunDir(run_dir).read()
    data = version.read_bytes("train.jsonl", check=True)
    where = f"{run_dir}/train.jsonl"
    records = decode_records(data, where)
    if not records:
        raise ExportError(f"{where} is empty: the run kept no rows, nothing to export")
    train_sha = hashlib.sha256(data).hexdigest()
    return SourceRun(run_dir, version.path, version.manifest, version.manifest_sha256, train_sha, records)


def split_rows(rows: list[T], fractions: dict[str, float], seed: int) -> dict[str, list[T]]:
    """Seeded shuffle, then cut at the rounded cumulative fractions (counts always sum to len(rows))."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    out: dict[str, list[T]] = {}
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


def export_readme(fmt: str, splits: list[str]) -> str:
    """README.md of an export: what it is, then how to point each trainer at these files."""
    head = f"# Seedforge export ({fmt})\n\nSplits: {', '.join(splits)}. "
    head += "`export.json` records the source run, split and seed.\n"
    head += f"Replace {HERE} below by this directory's path.\n\n"
    return head + FORMATS[fmt].readme(splits)


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
    parts = split_rows(source.records, fractions, seed)
    target = Path(out) if out is not None else run_dir / "export" / fmt
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        files = FORMATS[fmt].write(staging, parts)
        manifest = {
            "format": fmt,
            "split": fractions,
            "seed": seed,
            "rows": {name: len(records) for name, records in parts.items()},
            # the ids themselves are in the split files; a digest proves which rows went where
            "ids_sha256": {name: stable_hash([r.id for r in records], length=64) for name, records in parts.items()},
            "multi_turn_rows": sum(r.multi_turn for r in source.records),
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
