"""`messages`: JSONL of {"messages": [{role, content}, ...], "id"}, TRL's conversational format."""

from __future__ import annotations

from pathlib import Path

from outputs.formats.base import HERE, ExportFormat, Parts
from rundir.writers import write_jsonl

TRL = """\
## TRL

Each row is `{{"messages": [{{"role", "content"}}, ...], "id"}}`, TRL's conversational format:

```python
from datasets import load_dataset
ds = load_dataset("json", data_files={{{files}}})
trainer = SFTTrainer(model=..., train_dataset=ds["train"])
```
"""


def write(staging: Path, parts: Parts) -> list[str]:
    for split, records in parts.items():
        write_jsonl(staging / f"{split}.jsonl", ({"messages": r.messages(), "id": r.id} for r in records))
    return [f"{split}.jsonl" for split in parts]


def readme(splits: list[str]) -> str:
    return TRL.format(files=", ".join(f'"{s}": "{HERE}/{s}.jsonl"' for s in splits))


FORMAT = ExportFormat("messages", write, readme)
