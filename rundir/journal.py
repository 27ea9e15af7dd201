"""The run journal: every teacher completion, appended as it arrives, keyed by request id.

A run is a pure function of its inputs and this file. On resume every stage is recomputed from
scratch; requests whose id is in the journal are answered from it, so only missing ones reach the
teacher, and a completion that was paid for is never asked for (or used) twice.

Format: one JSON object per line, `{"id": ..., "completion": {...}, "check": ...}` where `check` is
a hash of the id and completion. A kill can leave a torn last line (or, with a filesystem that
zero-fills, garbage); records that fail their check are ignored, and a torn tail is cut off before
new records are appended so that it can never glue itself to the next good record.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from generator.teachers.base import Completion

SCORE_FIELDS = ("choice_logprobs", "reply_logprob", "reply_tokens")


def _check(request_id: str, completion: dict[str, Any]) -> str:
    payload = json.dumps([request_id, completion], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def encode_entry(request_id: str, completion: Completion) -> bytes:
    data = completion.model_dump()
    for key in SCORE_FIELDS:  # absent unless set: generation entries keep their bytes and checks
        if data.get(key) is None:
            data.pop(key, None)
    line = json.dumps({"id": request_id, "completion": data, "check": _check(request_id, data)}, ensure_ascii=False)
    return line.encode("utf-8") + b"\n"


def decode_entry(line: bytes) -> tuple[str, Completion] | None:
    """A valid (id, completion) or None for anything torn, garbled or tampered with."""
    try:
        obj = json.loads(line)
        request_id, data = obj["id"], obj["completion"]
        if not isinstance(request_id, str) or obj.get("check") != _check(request_id, data):
            return None
        return request_id, Completion.model_validate(data)
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class JournalScan:
    entries: dict[str, Completion]
    good_end: int  # byte offset just past the last valid record
    bad_records: int
    torn_bytes: int


def scan(path: Path) -> JournalScan:
    entries: dict[str, Completion] = {}
    bad_ends: list[int] = []
    good_end = 0
    offset = 0
    data = path.read_bytes() if path.exists() else b""
    for raw in data.splitlines(keepends=True):
        offset += len(raw)
        decoded = decode_entry(raw) if raw.endswith(b"\n") else None
        if decoded is None:
            if raw.strip():
                bad_ends.append(offset)
            continue
        request_id, completion = decoded
        entries.setdefault(request_id, completion)  # first write wins; later copies are identical
        good_end = offset
    # Bad lines before the last good record are corruption inside the file (ignored, counted);
    # whatever follows the last good record is a torn tail and gets cut.
    mid_file = sum(end <= good_end for end in bad_ends)
    return JournalScan(entries, good_end, mid_file, len(data) - good_end)


class Journal:
    """Append-only completion store with batched fsync. One writer per run dir (file lock)."""

    def __init__(self, path: str | Path, *, sync_every: int = 32, sync_seconds: float = 2.0):
        self.path = Path(path)
        self.sync_every = sync_every
        self.sync_seconds = sync_seconds
        self.path.parent.mkdir(parents=True, exist_ok=True)
        result = scan(self.path)
        self.entries = result.entries
        self.loaded = len(result.entries)
        self._loaded_ids = set(result.entries)
        self.bad_records = result.bad_records
        self.torn_bytes = result.torn_bytes
        self.used: set[str] = set()
        self._handle: IO[bytes] = self.path.open("ab")
        if result.torn_bytes:
            # Cut the torn tail (and anything after it) so appends start on a clean line.
            self._handle.truncate(result.good_end)
            os.fsync(self._handle.fileno())
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def get(self, request_id: str) -> Completion | None:
        found = self.entries.get(request_id)
        if found is not None:
            self.used.add(request_id)
        return found

    def put_many(self, items: Sequence[tuple[str, Completion]]) -> None:
        fresh = [(rid, c) for rid, c in items if rid not in self.entries]
        if not fresh:
            return
        # One write per batch; the OS has the bytes once write() returns, so a killed process
        # loses nothing already written. fsync (power loss) is batched: it costs milliseconds.
        self._handle.write(b"".join(encode_entry(rid, c) for rid, c in fresh))
        self._handle.flush()
        for rid, completion in fresh:
            self.entries[rid] = completion
            self.used.add(rid)
        self._unsynced += len(fresh)
        if self._unsynced >= self.sync_every or time.monotonic() - self._last_sync >= self.sync_seconds:
            self.sync()

    def sync(self) -> None:
        if self._unsynced:
            os.fsync(self._handle.fileno())
            self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._handle.closed:
            self.sync()
            self._handle.close()

    def summary(self) -> dict[str, int]:
        return {
            "loaded": self.loaded,
            "reused": len(self.used & self._loaded_ids),
            "entries": len(self.entries),
            "bad_records_ignored": self.bad_records,
            "torn_bytes_dropped": self.torn_bytes,
        }
