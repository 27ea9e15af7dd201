"""`hf`: a Hugging Face `DatasetDict` saved with `save_to_disk` (load_from_disk)."""

from __future__ import annotations

from pathlib import Path

from outputs.formats import tables
from outputs.formats.base import HERE, ExportFormat, Parts


def write(staging: Path, parts: Parts) -> list[str]:
    with tables.quiet_datasets():
        tables.dataset_dict(parts).save_to_disk(str(staging))
    return ["dataset_dict.json", *parts]


def readme(splits: list[str]) -> str:
    return tables.readme(f'from datasets import load_from_disk\nds = load_from_disk("{HERE}")')


FORMAT = ExportFormat("hf", write, readme)
