"""`alpaca`: LLaMA-Factory's alpaca JSON (instruction, input, output, history, system) per split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outputs.formats import llama_factory
from outputs.formats.base import ExportFormat, Parts, system_and_pairs
from prompts import Record

# LLaMA-Factory's dataset_info.json names for our alpaca columns (data/README.md there).
COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": "history"}

AXOLOTL = """\
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


def alpaca_row(record: Record) -> dict[str, Any]:
    """LLaMA-Factory alpaca: instruction/input/output are the LAST exchange, `history` the earlier ones.

    The row's separate `input` is only kept apart for a single exchange (its user turn is then
    instruction + input): in a longer conversation that text belongs to the first turn, which is
    in `history`, and LLaMA-Factory appends `input` to the last turn.
    """
    system, pairs = system_and_pairs(record.messages())
    instruction, output = pairs[-1]
    inp = ""
    if len(pairs) == 1 and not record.labeled and record.input.strip():
        instruction, inp = record.instruction, record.input
    out: dict[str, Any] = {"instruction": instruction, "input": inp, "output": output}
    if system is not None:
        out["system"] = system
    out["history"] = [[q, a] for q, a in pairs[:-1]]
    return out


def _every_row_has_system(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if any("system" in r for r in rows):
        # A column LLaMA-Factory is told about must exist in every row of the file.
        return [{**r, "system": r.get("system", "")} for r in rows]
    return rows


def _entry(file_name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = dict(COLUMNS)
    if rows and "system" in rows[0]:
        columns["system"] = "system"
    return {"file_name": file_name, "formatting": "alpaca", "columns": columns}


def write(staging: Path, parts: Parts) -> list[str]:
    return llama_factory.write_splits(staging, parts, alpaca_row, _entry, _every_row_has_system)


def readme(splits: list[str]) -> str:
    return llama_factory.readme(splits, AXOLOTL)


FORMAT = ExportFormat("alpaca", write, readme)
