"""Config names → task specs. A new spec is one template file, one schema class and one line here."""

from __future__ import annotations

from prompts.schemas import NewInstructions, Response
from prompts.spec import TaskSpec

SPECS: dict[str, TaskSpec] = {
    "new_instructions": TaskSpec(
        name="new_instructions",
        user="new_instructions.user.j2",
        schema=NewInstructions,
        description="Self-Instruct bootstrap: k demos in, a list of new {instruction, input} out.",
        defaults={"domain": ""},
    ),
    "response": TaskSpec(
        name="response",
        user="response.user.j2",
        schema=Response,
        description="Answer one instruction (with its optional input).",
    ),
}


def get_spec(name: str) -> TaskSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown task spec {name!r}; known: {sorted(SPECS)}") from None
