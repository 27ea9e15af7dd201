"""Atomic publication of a run's artifacts, all files at once, with a manifest.

Renaming files one by one leaves moments where train.jsonl is new and stats.json or the
manifest still old. Instead every publish writes a complete, fsynced version directory
(`.versions/00003/`, manifest included) and then flips one symlink, `current`, with a single
atomic rename. The stable names users read (`RUN_DIR/train.jsonl`, ...) are fixed symlinks into
`current/`, so a reader sees the whole old version or the whole new one, never a mix, whatever
kills the writer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rundir.writers import fsync_dir

VERSIONS = ".versions"
CURRENT = "current"
MANIFEST = "manifest.json"


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def describe(name: str, data: bytes) -> dict[str, Any]:
    entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if name.endswith(".jsonl"):
        entry["rows"] = data.count(b"\n")
    return entry


def current_version(run_dir: Path) -> int:
    link = run_dir / CURRENT
    return int(Path(os.readlink(link)).name) if link.is_symlink() else 0


def publish(run_dir: str | Path, artifacts: dict[str, bytes], keep: int = 3) -> dict[str, Any]:
    """Write `artifacts` (name -> bytes) as the run's new version; return its manifest."""
    run_dir = Path(run_dir)
    versions = run_dir / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    existing = [int(p.name) for p in versions.iterdir() if p.name.isdigit()]
    number = max([*existing, current_version(run_dir)], default=0) + 1
    name = f"{number:05d}"
    manifest = {
        "version": number,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "artifacts": {n: describe(n, data) for n, data in sorted(artifacts.items())},
    }
    staging = versions / f".{name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for filename, data in artifacts.items():
        _write_synced(staging / filename, data)
    _write_synced(staging / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    fsync_dir(staging)
    os.replace(staging, versions / name)
    fsync_dir(versions)
    _replace_symlink(run_dir / CURRENT, f"{VERSIONS}/{name}")  # the commit point
    fsync_dir(run_dir)
    for filename in [*artifacts, MANIFEST]:
        link = run_dir / filename
        target = f"{CURRENT}/{filename}"
        if not (link.is_symlink() and os.readlink(link) == target):
            _replace_symlink(link, target)
    fsync_dir(run_dir)
    _prune(versions, keep_from=number - keep + 1)
    return manifest


def republish(run_dir: str | Path, updates: dict[str, bytes], keep: int = 3) -> dict[str, Any]:
    """A new version with the current artifacts, some replaced or added (e.g. a fresh report)."""
    run_dir = Path(run_dir)
    manifest = json.loads((run_dir / CURRENT / MANIFEST).read_text())
    artifacts = {name: (run_dir / CURRENT / name).read_bytes() for name in manifest["artifacts"]}
    return publish(run_dir, {**artifacts, **updates}, keep=keep)


def _prune(versions: Path, keep_from: int) -> None:
    for path in versions.iterdir():
        stale_version = path.name.isdigit() and int(path.name) < keep_from
        if stale_version or path.name.endswith(".tmp"):  # .tmp: staging left by a killed publish
            shutil.rmtree(path, ignore_errors=True)


def verify(run_dir: str | Path) -> list[str]:
    """Problems found when checking the current version against its manifest (empty = intact)."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / CURRENT / MANIFEST
    if not manifest_path.is_file():
        return [f"{run_dir}: no published version"]
    manifest = json.loads(manifest_path.read_text())
    problems = []
    for name, expected in manifest["artifacts"].items():
        path = run_dir / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        actual = describe(name, path.read_bytes())
        if actual != expected:
            problems.append(f"{path}: sha256/size differ from manifest version {manifest['version']}")
    return problems
