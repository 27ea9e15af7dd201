"""`seedforge dedup POOL.jsonl --out DIR`: exact or MinHash-LSH dedup of a pool of rows, locally or on Ray.

For pools bigger than a generation run: merged runs, a 10M-row candidate pool. The local executor
runs the `exact_dedup` / `minhash_dedup` filters row by row; `--executor ray` runs the same
decisions as Ray Data stages (filters/ray_dedup.py), so the signatures, band tables and shuffles
live on the cluster and the driver keeps only the dropped rows. Both write the same files:
DIR/kept.jsonl, DIR/duplicates.jsonl (each with stage `dedup`, its reason and the kept row it
duplicates) and DIR/stats.json, each written atomically, in the pool's order.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.choices import DedupMethod, Executor
from cli.common import fail
from filters.exact import ExactDedup
from filters.minhash import MinHashDedup
from prompts import Record, Verdict
from rundir.writers import fsync_dir, write_json

MINHASH, LOCAL = DedupMethod("minhash"), Executor("local")  # defaults


def read_pool(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8") as handle:
        for line, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                yield Record.from_row(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{line}: not a Seedforge row: {exc}") from None


def _local(pool: Path, method: str, params: dict[str, Any]) -> Iterator[Verdict]:
    flt = MinHashDedup(**params) if method == "minhash" else ExactDedup(params.get("fields"))
    for record in read_pool(pool):
        verdict = flt.check(record)
        if verdict.keep:
            flt.accept(record)
        yield verdict


def _on_ray(pool: Path, method: str, params: dict[str, Any], address: str | None) -> Iterator[Verdict]:
    from filters.base import record_text
    from filters.ray_dedup import exact_drops, exact_text, minhash_drops, text_dataset
    from generator.teachers.executor import ExecutorConfig
    from generator.teachers.ray import connect

    own = connect(ExecutorConfig(kind="ray", address=address))
    try:
        if method == "minhash":
            fields = MinHashDedup(**params).fields
            drops = minhash_drops(text_dataset(record_text(r, fields) for r in read_pool(pool)), params)
        else:
            fields = ExactDedup(params.get("fields")).fields
            drops = exact_drops(text_dataset(exact_text(r, fields) for r in read_pool(pool)))
    finally:
        if own:
            import ray

            ray.shutdown()
    ids: dict[int, str] = {}
    wanted = {first for first, _ in drops.values()}
    for k, record in enumerate(read_pool(pool)):  # second pass: the kept rows that were named
        if k in wanted:
            ids[k] = record.id
    reason = "minhash_near_duplicate" if method == "minhash" else "exact_duplicate"
    for k, _ in enumerate(read_pool(pool)):
        if k in drops:
            first, score = drops[k]
            yield Verdict.drop(reason, score if method == "minhash" else None, duplicate_of=ids[first])
        else:
            yield Verdict.ok()


def dedup(
    pool: Annotated[Path, typer.Argument(help="JSONL of Seedforge rows (train.jsonl, merged runs, ...)")],
    out: Annotated[Path, typer.Option(help="directory for kept.jsonl, duplicates.jsonl, stats.json")],
    method_choice: Annotated[
        DedupMethod, typer.Option("--method", help="exact, or near duplicates (MinHash-LSH)")
    ] = MINHASH,
    fields: Annotated[str, typer.Option(help="comma-separated fields compared")] = "instruction,input",
    threshold: Annotated[float, typer.Option(help="minhash: Jaccard similarity that makes a duplicate")] = 0.8,
    ngram: Annotated[int, typer.Option(help="minhash: words per shingle")] = 1,
    num_perm: Annotated[int, typer.Option(help="minhash: signature length")] = 128,
    executor_choice: Annotated[Executor, typer.Option("--executor", help="local, or ray (Ray Data stages)")] = LOCAL,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join; default: a private local Ray")] = None,
) -> None:
    """Drop exact or near-duplicate rows from a pool, in its order; the same rows locally or on Ray."""
    method, executor = method_choice.value, executor_choice.value
    if not pool.is_file():
        fail(f"{pool}: no such file")
    names = [f.strip() for f in fields.split(",") if f.strip()]
    params: dict[str, Any] = {"fields": names}
    if method == "minhash":
        params.update(threshold=threshold, ngram=ngram, num_perm=num_perm)
    started = time.perf_counter()
    counts = {"kept": 0, "duplicates": 0}
    out.mkdir(parents=True, exist_ok=True)
    try:
        MinHashDedup(**params) if method == "minhash" else ExactDedup(names)  # bad params fail here
        verdicts = _on_ray(pool, method, params, ray_address) if executor == "ray" else _local(pool, method, params)
        # Streamed to temporary files and renamed at the end: a pool never has to fit in memory,
        # and a failed run leaves no half-written kept.jsonl behind.
        with (
            (out / "kept.jsonl.tmp").open("w", encoding="utf-8") as keep,
            (out / "duplicates.jsonl.tmp").open("w", encoding="utf-8") as drop,
        ):
            for record, verdict in zip(read_pool(pool), verdicts, strict=True):
                if verdict.keep:
                    row = record.to_row()
                    counts["kept"] += 1
                else:
                    # The kept row and the estimate; not LSH internals (candidate counts), which
                    # differ between executors while the decisions do not.
                    detail: dict[str, Any] = {"duplicate_of": verdict.detail["duplicate_of"]}
                    if verdict.score is not None:
                        detail["score"] = verdict.score
                    row = record.reject("dedup", verdict.reason or method, **detail).to_row()
                    counts["duplicates"] += 1
                (keep if verdict.keep else drop).write(json.dumps(row, ensure_ascii=False) + "\n")
            for handle in (keep, drop):
                handle.flush()
                os.fsync(handle.fileno())
    except (ValueError, OSError, AttributeError) as exc:
        for name in ("kept.jsonl.tmp", "duplicates.jsonl.tmp"):
            (out / name).unlink(missing_ok=True)
        fail(str(exc))
        return
    for name in ("kept.jsonl", "duplicates.jsonl"):
        os.replace(out / f"{name}.tmp", out / name)
    fsync_dir(out)
    stats = {
        "pool": str(pool),
        "method": method,
        "params": params,
        "executor": executor,
        "rows": counts["kept"] + counts["duplicates"],
        **counts,
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json(out / "stats.json", stats)
    typer.echo(f"{stats['rows']} rows: kept {counts['kept']}, duplicates {counts['duplicates']} ({method}, {executor})")
