"""`sharegpt`: LLaMA-Factory's sharegpt JSON ({"conversations": [{from, value}], "id"}) per split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outputs.formats import llama_factory
from outputs.formats.base import ExportFormat, Parts
from prompts import Record

ROLES = {"system": "system", "user": "human", "assistant": "gpt"}
TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "system_tag": "system",
}

AXOLOTL = """\
## axolotl

The files use ShareGPT roles (`human`, `gpt`, `system`); axolotl's `chat_template` loader needs
them mapped back to `user` / `assistant`:

```yaml
datasets:
  - path: {here}/train.json
    ds_type: json
    type: chat_template
    field_messages: conversations
    message_property_mappings:   # older axolotl: message_field_role / message_field_content
      role: from
      content: value
    roles:
      user: ["human"]
      assistant: ["gpt"]
      system: ["system"]
```
"""


def sharegpt_row(record: Record) -> dict[str, Any]:
    return {
        "conversations": [{"from": ROLES[t["role"]], "value": t["content"]} for t in record.messages()],
        "id": record.id,
    }


def _entry(file_name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations"}, "tags": TAGS}


def write(staging: Path, parts: Parts) -> list[str]:
    return llama_factory.write_splits(staging, parts, sharegpt_row, _entry)


def readme(splits: list[str]) -> str:
    return llama_factory.readme(splits, AXOLOTL)


FORMAT = ExportFormat("sharegpt", write, readme)
