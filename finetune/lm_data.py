"""Chat rows for the causal-LM student: checking, splitting, and the truncation report.

Rows arrive as `Record`s and are kept as their chat `messages()`, rendered later by the
*student's* chat template. For training, each conversation becomes a conversational
prompt/completion pair (everything before the last assistant turn / that turn): TRL then masks
the prompt out of the loss with any chat template, whereas its assistant-mask route needs
`{% generation %}` markers most templates lack.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prompts import Record

Messages = list[dict[str, str]]
ROLES = {"system", "user", "assistant"}


class LMInputError(ValueError):
    """Bad input the user can fix (missing file, empty data, bad row, unusable student)."""


@dataclass(frozen=True)
class EvalItem:
    """One eval-file row: the conversation up to the answer, and the reference answer."""

    prompt: Messages
    reference: str

    @property
    def instruction(self) -> str:
        return self.prompt[-1]["content"]


def _read_jsonl(path: Path) -> list[tuple[int, Any]]:
    if not path.is_file():
        raise LMInputError(f"{path}: no such file")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise LMInputError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    return rows


def check_messages(messages: Any, where: str) -> Messages:
    """A conversation that ends on a non-empty assistant turn, or an error naming the field."""
    if not isinstance(messages, list) or not messages:
        raise LMInputError(f"{where}: field 'messages': expected a non-empty list of chat turns")
    out: Messages = []
    for i, turn in enumerate(messages):
        if not isinstance(turn, dict) or turn.get("role") not in ROLES or not isinstance(turn.get("content"), str):
            raise LMInputError(
                f"{where}: field 'messages[{i}]': expected {{role: system|user|assistant, content: string}}"
            )
        out.append({"role": turn["role"], "content": turn["content"]})
    if out[-1]["role"] != "assistant" or not out[-1]["content"].strip():
        raise LMInputError(f"{where}: field 'messages': the last turn must be a non-empty assistant answer")
    if len(out) < 2:
        raise LMInputError(f"{where}: field 'messages': no prompt turn before the assistant answer")
    return out


def chat_rows(records: Sequence[Record], where: str) -> list[Messages]:
    """The records' conversations (`Record.messages()`, any run kind), checked; `where` names
    their source in errors."""
    rows = [check_messages(record.messages(), f"{where} (id {record.id})") for record in records]
    if not rows:
        raise LMInputError(f"{where}: no rows to train on (the dataset is empty)")
    return rows


def read_eval_items(path: str | Path) -> list[EvalItem]:
    """Eval file rows: `messages` (last assistant turn = reference), or instruction/input with
    `output` or `reference` (Alpaca / Seedforge train.jsonl rows)."""
    path = Path(path)
    items = []
    for number, row in _read_jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(row, dict):
            raise LMInputError(f"{where}: expected a JSON object")
        if "messages" in row:
            messages = check_messages(row["messages"], where)
            items.append(EvalItem(messages[:-1], messages[-1]["content"]))
            continue
        instruction, extra = row.get("instruction"), row.get("input", "")
        reference = row.get("reference", row.get("output"))
        if not isinstance(instruction, str) or not instruction.strip():
            raise LMInputError(f"{where}: field 'instruction': missing or empty (or give 'messages')")
        if not isinstance(reference, str) or not reference.strip():
            raise LMInputError(f"{where}: field 'reference': missing or empty (also read from 'output')")
        # The user turn exactly as a run's rows phrase it (Record.prompt_text).
        asked = Record(id=where, instruction=instruction, input=extra if isinstance(extra, str) else "")
        items.append(EvalItem([{"role": "user", "content": asked.prompt_text()}], reference))
    if not items:
        raise LMInputError(f"{path}: the eval file holds no rows")
    return items


def split_rows(rows: Sequence[Messages], fraction: float, cap: int, seed: int) -> tuple[list[Messages], list[Messages]]:
    """Seeded hold-out: `fraction` of rows (at least one when there are two or more), at most `cap`."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = min(round(len(rows) * fraction), cap, len(rows) - 1)
    if fraction > 0 and len(rows) >= 2:
        n_val = max(n_val, 1)
    held = set(order[:n_val])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def to_prompt_completion(rows: Sequence[Messages]) -> list[dict[str, Messages]]:
    return [{"prompt": r[:-1], "completion": r[-1:]} for r in rows]


def tokenized_lengths(tokenizer: Any, rows: Sequence[Messages]) -> list[int]:
    """Length of each whole conversation as TRL tokenizes it (chat template, no generation prompt)."""
    lengths = []
    for messages in rows:
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        lengths.append(len(ids))
    return lengths


def truncation_report(tokenizer: Any, rows: Sequence[Messages], max_length: int | None) -> dict[str, Any]:
    """How many rows TRL would cut at max_length (it does so silently), with length statistics."""
    lengths = tokenized_lengths(tokenizer, rows)
    prompt_lengths = [
        len(
            tokenizer.apply_chat_template(r[:-1], tokenize=True, return_dict=True, add_generation_prompt=True)[
                "input_ids"
            ]
        )
        for r in rows
    ]
    ordered = sorted(lengths)
    over = [i for i, n in enumerate(lengths) if max_length is not None and n > max_length]
    return {
        "rows": len(rows),
        "max_length": max_length,
        "truncated": len(over),
        "truncated_share": round(len(over) / len(rows), 4) if rows else 0.0,
        # A prompt that alone fills max_length leaves no answer tokens: TRL drops such rows.
        "answer_lost": sum(1 for i in over if max_length is not None and prompt_lengths[i] >= max_length),
        "tokens_cut": sum(lengths[i] - max_length for i in over if max_length is not None),
        "length": {
            "min": ordered[0] if ordered else 0,
            "mean": round(sum(ordered) / len(ordered), 1) if ordered else 0.0,
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0,
            "max": ordered[-1] if ordered else 0,
        },
    }
