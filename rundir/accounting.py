"""The funnel and its invariant: kept + rejected (by stage and reason) = candidates, ids unique."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from prompts import Record


class AccountingError(RuntimeError):
    pass


def funnel(records: Sequence[Record]) -> dict[str, Any]:
    by_stage: dict[str, Counter[str]] = {}
    kept = 0
    for record in records:
        if record.rejection is None:
            kept += 1
        else:
            by_stage.setdefault(record.rejection.stage, Counter())[record.rejection.reason] += 1
    rejected = {stage: dict(sorted(c.items())) for stage, c in sorted(by_stage.items())}
    return {
        "candidates": len(records),
        "kept": kept,
        "rejected_total": sum(sum(c.values()) for c in by_stage.values()),
        "rejected": rejected,
    }


def check_accounting(records: Sequence[Record], written_kept: int, written_rejected: int) -> dict[str, Any]:
    """Raise unless every candidate is accounted for exactly once, in memory and on disk."""
    stats = funnel(records)
    problems = []
    ids = Counter(r.id for r in records)
    dupes = [i for i, n in ids.items() if n > 1]
    if dupes:
        problems.append(f"{len(dupes)} record id(s) appear more than once, e.g. {dupes[:3]}")
    if stats["kept"] + stats["rejected_total"] != stats["candidates"]:
        problems.append(
            f"kept {stats['kept']} + rejected {stats['rejected_total']} != candidates {stats['candidates']}"
        )
    if written_kept != stats["kept"] or written_rejected != stats["rejected_total"]:
        problems.append(
            f"written rows (kept {written_kept}, rejected {written_rejected}) differ from the funnel "
            f"(kept {stats['kept']}, rejected {stats['rejected_total']})"
        )
    if problems:
        raise AccountingError("accounting invariant violated: " + "; ".join(problems))
    return stats
