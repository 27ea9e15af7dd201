"""A run directory, and reading one consistent version of it.

Layout (written by `RunDir.open` + publishing, see session.py and publish.py):

    RUN_DIR/journal.jsonl            every teacher completion, appended as it arrives
    RUN_DIR/.lock                    one writer at a time
    RUN_DIR/.versions/NNNNN/         one complete published version: train.jsonl, rejected.jsonl,
                                     stats.json, config.yaml, manifest.json, report.html, ...
    RUN_DIR/current -> .versions/NNNNN   flipped atomically by each publish
    RUN_DIR/train.jsonl -> current/train.jsonl   (and every other artifact): for people and tools

A reader opens `RunDir(path).read()`: `current` is resolved once and every file is read from that
version directory, so a publish landing meanwhile cannot mix two versions into one reading.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prompts import Record
from rundir.codec import decode_records, decode_rows
from rundir.publish import CURRENT, MANIFEST, VERSIONS, current_version, describe, publish, verify
from rundir.session import JOURNAL, OpenRun, open_run, run_id


class NotARunDirectory(FileNotFoundError):
    """The one error for "this is not (yet) a run directory": which path, and what is missing."""

    def __init__(self, path: str | Path, missing: str):
        self.path = Path(path)
        self.missing = missing
        super().__init__(f"{path}: not a run directory ({missing})")


class CorruptArtifact(ValueError):
    """A published file whose bytes differ from its version's manifest."""


@dataclass(frozen=True)
class RunVersion:
    """One published version, every file read from its own directory (never via the symlinks)."""

    run_dir: Path
    path: Path  # RUN_DIR/.versions/NNNNN, resolved
    manifest: dict[str, Any]
    manifest_sha256: str

    @property
    def number(self) -> int:
        return int(self.manifest["version"])

    @property
    def artifacts(self) -> list[str]:
        return list(self.manifest.get("artifacts", {}))

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def file(self, name: str) -> Path:
        """The artifact's path inside this version (for readers that take a path)."""
        if not self.has(name):
            raise NotARunDirectory(self.run_dir, f"version {self.number} has no {name}")
        return self.path / name

    def read_bytes(self, name: str, *, check: bool = False) -> bytes:
        """The file's bytes; `check`: also hold them to the manifest's sha256 and size."""
        try:
            data = (self.path / name).read_bytes()
        except FileNotFoundError:
            raise NotARunDirectory(self.run_dir, f"version {self.number} has no {name}") from None
        expected = self.manifest.get("artifacts", {}).get(name)
        if check and expected is not None and describe(name, data) != expected:
            raise CorruptArtifact(f"{self.path / name}: sha256 differs from its manifest (version {self.number})")
        return data

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    def read_yaml(self, name: str) -> Any:
        return yaml.safe_load(self.read_bytes(name))

    def rows(self, name: str = "train.jsonl", *, check: bool = False) -> list[tuple[int, dict[str, Any]]]:
        """(line, row) of a JSONL artifact as plain JSON objects; errors name RUN_DIR/NAME:LINE."""
        return decode_rows(self.read_bytes(name, check=check), f"{self.run_dir}/{name}")

    def records(self, name: str = "train.jsonl", *, check: bool = False) -> list[Record]:
        return decode_records(self.read_bytes(name, check=check), f"{self.run_dir}/{name}")

    def all_records(self) -> list[Record]:
        """Every candidate of the version: kept rows, then rejected ones."""
        return self.records("train.jsonl") + self.records("rejected.jsonl")


class RunDir:
    """A run directory: its lock and journal (`open`), versions and publishing, consistent reads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL

    @property
    def run_id(self) -> str:
        return run_id(self.path)

    @property
    def current_version(self) -> int:
        """The published version `current` points at (0: nothing published yet)."""
        return current_version(self.path)

    # --- writing ---------------------------------------------------------------------------------

    def open(self, resume: bool = True) -> AbstractContextManager[OpenRun]:
        """Lock the directory and open its journal for a run (see session.py)."""
        return open_run(self.path, resume)

    def publish(self, artifacts: dict[str, bytes], keep: int = 3) -> dict[str, Any]:
        """`artifacts` (name -> bytes) as the next version, atomically; returns its manifest."""
        return publish(self.path, artifacts, keep=keep)

    def republish(self, updates: dict[str, bytes], keep: int = 3) -> dict[str, Any]:
        """A new version: the current one's artifacts with some replaced or added."""
        version = self.read()
        artifacts = {name: version.read_bytes(name) for name in version.artifacts}
        return self.publish({**artifacts, **updates}, keep=keep)

    # --- reading ---------------------------------------------------------------------------------

    def read(self) -> RunVersion:
        """The published version `current` points at, resolved once."""
        if not self.path.is_dir():
            raise NotARunDirectory(self.path, "no such directory")
        link = self.path / CURRENT
        try:
            version_dir = link.resolve(strict=True)
        except (FileNotFoundError, RuntimeError):
            raise NotARunDirectory(self.path, f"no published version: no {CURRENT}/{MANIFEST}") from None
        try:
            manifest_bytes = (version_dir / MANIFEST).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotARunDirectory(self.path, f"no published version: no {CURRENT}/{MANIFEST}") from None
        manifest = json.loads(manifest_bytes)
        return RunVersion(self.path, version_dir, manifest, hashlib.sha256(manifest_bytes).hexdigest())

    def versions(self) -> Iterator[int]:
        """Published versions still on disk (the newest few are kept), oldest first."""
        folder = self.path / VERSIONS
        if folder.is_dir():
            yield from sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())

    def verify(self) -> list[str]:
        """Problems found checking the files people read (the stable names) against the manifest."""
        return verify(self.path)
