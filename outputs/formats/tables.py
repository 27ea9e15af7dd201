"""What the hf and parquet formats share: the rows as a `datasets.DatasetDict` with a `messages`
column plus the run's flat fields, and the README section that loads it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from outputs.formats.base import Parts
from prompts import Record

TABLE = """\
## Loading

Columns: `id`, `messages` (list of `{{role, content}}`, TRL's conversational format), and the
run's flat fields (`instruction`/`input`/`output`, or `text`/`label` for labeled rows).

```python
{load}
```
"""


def columns(records: list[Record]) -> list[str]:
    labeled = {record.labeled for record in records}
    out = ["id", "messages"]
    if False in labeled:
        out += ["instruction", "input", "output"]
    if True in labeled:
        out += ["text", "label"]
    if len(labeled) > 1:
        out.append("kind")
    return out


def _cell(record: Record, column: str) -> Any:
    return record.messages() if column == "messages" else str(getattr(record, column))


def dataset_dict(parts: Parts) -> Any:
    from datasets import Dataset, DatasetDict, Features, List, Value

    names = columns([record for records in parts.values() for record in records])
    features = Features(
        {
            name: List({"role": Value("string"), "content": Value("string")}) if name == "messages" else Value("string")
            for name in names
        }
    )
    return DatasetDict(
        {
            split: Dataset.from_list([{c: _cell(r, c) for c in names} for r in records], features=features)
            for split, records in parts.items()
        }
    )


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """No `datasets` progress bars (one per split and shard is noise in a CLI summary)."""
    from datasets.utils import logging as ds_logging

    bars_were_on = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars_were_on:
            ds_logging.enable_progress_bar()


def readme(load: str) -> str:
    return TABLE.format(load=load)
