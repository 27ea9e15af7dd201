"""Publish ever-new versions of a run's artifacts until killed (kill-during-publish test)."""

from __future__ import annotations

import os
import sys

from rundir.publish import publish

if __name__ == "__main__":
    run_dir = sys.argv[1]
    for version in range(1, 10_000):
        payload = os.urandom(256 * 1024)
        artifacts = {
            "train.jsonl": b"".join(b'{"v": %d, "i": %d}\n' % (version, i) for i in range(20_000)),
            "rejected.jsonl": payload.hex().encode()[:300_000] + b"\n",
            "stats.json": b'{"version": %d}\n' % version,
        }
        publish(run_dir, artifacts)
        print(version, flush=True)
