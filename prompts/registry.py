"""Config names → task specs. A new spec is one template file, one schema class and one line here."""

from __future__ import annotations

from prompts.schemas import (
    EvolvedInstruction,
    FollowUp,
    JudgeScores,
    LabeledTexts,
    NewInstructions,
    PairwiseVerdict,
    Paraphrase,
    Relabel,
    Response,
    ScoredReply,
    Translation,
)
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
    "labeled_texts": TaskSpec(
        name="labeled_texts",
        user="labeled_texts.user.j2",
        schema=LabeledTexts,
        description="Label-conditioned generation: k new texts of a fixed label (output-first).",
        defaults={"attributes": {}, "min_words": 0, "max_words": 0},
    ),
    "classify": TaskSpec(
        name="classify",
        user="classify.user.j2",
        system="classify.system.j2",
        schema=Relabel,
        choice_field="label",
        description="Blind classification into one of the label names (guided choice, few-shot turns).",
    ),
    "label_likelihood": TaskSpec(
        name="label_likelihood",
        user="label_likelihood.user.j2",
        schema=ScoredReply,
        description="SuperGen verification: log p(text | a request for one text of label y), scored, not sampled.",
    ),
    "judge": TaskSpec(
        name="judge", user="judge.user.j2", schema=JudgeScores, description="Rubric scores for one pair (1-10)."
    ),
    "pairwise_judge": TaskSpec(
        name="pairwise_judge",
        user="pairwise_judge.user.j2",
        schema=PairwiseVerdict,
        description="Pairwise preference: which of answers A/B follows the instruction (and reference) better.",
        defaults={"reference": ""},
    ),
    "evolve": TaskSpec(
        name="evolve",
        user="evolve.user.j2",
        schema=EvolvedInstruction,
        description="Evol-Instruct: an in-depth (method given) or in-breadth rewrite of one instruction.",
        defaults={"method": "", "input": ""},
    ),
    "paraphrase": TaskSpec(
        name="paraphrase", user="paraphrase.user.j2", schema=Paraphrase, description="One instruction reworded."
    ),
    "translate": TaskSpec(
        name="translate",
        user="translate.user.j2",
        schema=Translation,
        description="One leg of a round-trip translation through a pivot language.",
    ),
    "follow_up": TaskSpec(
        name="follow_up",
        user="follow_up.user.j2",
        schema=FollowUp,
        description="The user's next question, given the conversation so far (multi-turn rows).",
    ),
}


def get_spec(name: str) -> TaskSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown task spec {name!r}; known: {sorted(SPECS)}") from None
