"""The README.md written into every export dir: how to point each trainer at these files.

Kept apart from export.py because it is prose; the snippets follow the trainers' documented
dataset settings (LLaMA-Factory data/README.md, axolotl docs/dataset-formats, TRL SFTTrainer).
"""

from __future__ import annotations

LLAMA_FACTORY = """\
## LLaMA-Factory

`dataset_info.json` has one entry per split (`seedforge_<split>`), so point `dataset_dir` here:

```yaml
dataset_dir: {here}
dataset: seedforge_train
{eval_line}```
"""

AXOLOTL_ALPACA = """\
## axolotl

```yaml
datasets:
  - path: {here}/train.json
    ds_type: json
    type: alpaca          # instruction / input / output
```

axolotl's `alpaca` type reads one exchange: it ignores `history` and `system`. For multi-turn rows
export `--format sharegpt` and use its `chat_template` snippet instead.
"""

AXOLOTL_SHAREGPT = """\
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

TRL = """\
## TRL

Each row is `{{"messages": [{{"role", "content"}}, ...], "id"}}`, TRL's conversational format:

```python
from datasets import load_dataset
ds = load_dataset("json", data_files={{{files}}})
trainer = SFTTrainer(model=..., train_dataset=ds["train"])
```
"""

TABLE = """\
## Loading

Columns: `id`, `messages` (list of `{{role, content}}`, TRL's conversational format), and the
run's flat fields (`instruction`/`input`/`output`, or `text`/`label` for labeled rows).

```python
{load}
```
"""


def export_readme(fmt: str, splits: list[str]) -> str:
    here = "EXPORT_DIR"  # the export can be moved, so the snippets do not bake in an absolute path
    head = f"# Seedforge export ({fmt})\n\nSplits: {', '.join(splits)}. "
    head += "`export.json` records the source run, split and seed.\n"
    head += "Replace EXPORT_DIR below by this directory's path.\n\n"
    if fmt in ("alpaca", "sharegpt"):
        eval_split = next((s for s in ("validation", "test") if s in splits), None)
        eval_line = f"eval_dataset: seedforge_{eval_split}\n" if eval_split else ""
        axolotl = AXOLOTL_ALPACA if fmt == "alpaca" else AXOLOTL_SHAREGPT
        return head + LLAMA_FACTORY.format(here=here, eval_line=eval_line) + "\n" + axolotl.format(here=here)
    if fmt == "messages":
        files = ", ".join(f'"{s}": "{here}/{s}.jsonl"' for s in splits)
        return head + TRL.format(files=files)
    if fmt == "hf":
        load = f'from datasets import load_from_disk\nds = load_from_disk("{here}")'
    else:
        files = ", ".join(f'"{s}": "{here}/{s}.parquet"' for s in splits)
        load = f'from datasets import load_dataset\nds = load_dataset("parquet", data_files={{{files}}})'
    return head + TABLE.format(load=load)
