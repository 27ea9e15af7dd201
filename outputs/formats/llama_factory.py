"""What the alpaca and sharegpt formats share: LLaMA-Factory's dataset_info.json (one entry per
split) and the README section that points LLaMA-Factory at it (its data/README.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from outputs.formats.base import HERE, Parts
from prompts import Record
from rundir.writers import write_json

LLAMA_FACTORY = """\
## LLaMA-Factory

`dataset_info.json` has one entry per split (`seedforge_<split>`), so point `dataset_dir` here:

```yaml
dataset_dir: {here}
dataset: seedforge_train
{eval_line}```
"""


def write_splits(
    staging: Path,
    parts: Parts,
    row: Callable[[Record], dict[str, Any]],
    entry: Callable[[str, list[dict[str, Any]]], dict[str, Any]],
    finish: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = lambda rows: rows,
) -> list[str]:
    """SPLIT.json for each split (`row` per record, then `finish` over the file's rows) and
    dataset_info.json with `entry(file name, rows)` for each."""
    info = {}
    for split, records in parts.items():
        rows = finish([row(r) for r in records])
        write_json(staging / f"{split}.json", rows)
        info[f"seedforge_{split}"] = entry(f"{split}.json", rows)
    write_json(staging / "dataset_info.json", info)
    return [*(f"{split}.json" for split in parts), "dataset_info.json"]


def readme(splits: list[str], axolotl: str) -> str:
    eval_split = next((s for s in ("validation", "test") if s in splits), None)
    eval_line = f"eval_dataset: seedforge_{eval_split}\n" if eval_split else ""
    return LLAMA_FACTORY.format(here=HERE, eval_line=eval_line) + "\n" + axolotl.format(here=HERE)
