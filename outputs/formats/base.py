"""What an export format is: how it writes the split files, and what its README tells trainers.

Formats get the run's kept rows as `Record`s; the conversation is `Record.messages()` (an optional
system turn, then user/assistant exchanges), so every format exports multi-turn rows whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prompts import Record

# split name (train, validation, test) -> its rows
Parts = dict[str, list[Record]]
# Snippets in README.md must not bake in an absolute path: the export can be moved.
HERE = "EXPORT_DIR"


@dataclass(frozen=True)
class ExportFormat:
    name: str
    # Write the split files into the (staging) directory; return their names in the export.
    write: Callable[[Path, Parts], list[str]]
    # The README's trainer snippets for these splits (the common head is export.py's).
    readme: Callable[[list[str]], str]


def system_and_pairs(messages: list[dict[str, str]]) -> tuple[str | None, list[tuple[str, str]]]:
    """(the system turn or None, [(user, assistant), ...])."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    body = messages[1:] if system is not None else messages
    return system, [(body[i]["content"], body[i + 1]["content"]) for i in range(0, len(body), 2)]
