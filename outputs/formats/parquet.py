"""`parquet`: one SPLIT.parquet per split (the same columns as `hf`)."""

from __future__ import annotations

from pathlib import Path

from outputs.formats import tables
from outputs.formats.base import HERE, ExportFormat, Parts


def write(staging: Path, parts: Parts) -> list[str]:
    with tables.quiet_datasets():
        dataset = tables.dataset_dict(parts)
        for split in parts:
            dataset[split].to_parquet(str(staging / f"{split}.parquet"))
    return [f"{split}.parquet" for split in parts]


def readme(splits: list[str]) -> str:
    files = ", ".join(f'"{s}": "{HERE}/{s}.parquet"' for s in splits)
    return tables.readme(f'from datasets import load_dataset\nds = load_dataset("parquet", data_files={{{files}}})')


FORMAT = ExportFormat("parquet", write, readme)
