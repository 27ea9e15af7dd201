"""The teacher as a blind classifier: it sees the label set and seed shots, never the intended label.

Serves verification (vote, calibrated), auto-labeling and the teacher baselines of the student.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from generator.classify_config import LabeledTask
from generator.gateway import Call, Gateway
from generator.teachers.base import SamplingConfig
from prompts import get_spec, stable_hash
from prompts.schemas import Relabel

VERIFY_STAGE = "verification"
# A score reads logprobs after the prompt; nothing is sampled, so one greedy token is the request.
SCORE_SAMPLING = SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=1)


@dataclass(frozen=True)
class Vote:
    """The blind classifier's answer for one text: majority label and its share of the votes."""

    label: str | None
    confidence: float
    votes: dict[str, int]
    request_ids: list[str]


def pick_shots(seeds: dict[str, list[str]], per_label: int, seed: int) -> list[tuple[str, str]]:
    """Demonstrations for the blind classifier: the first seeds of each label, interleaved.

    Interleaving (not label-by-label) keeps the last demonstration from biasing every answer
    toward its label.
    """
    shots = [(text, label) for label, texts in seeds.items() for text in texts[:per_label]]
    random.Random(seed).shuffle(shots)
    return shots


def _classify_call(
    task: LabeledTask, text: str, shots: Sequence[tuple[str, str]], sampling: SamplingConfig, key: str, **kw: object
) -> Call:
    spec = get_spec("classify")
    labels = [{"name": label.name, "description": label.description} for label in task.labels]
    demo_turns = [({"text": shot}, label) for shot, label in shots]
    messages = spec.render_with_shots(demo_turns, task=task.task, labels=labels, text=text)
    return Call(spec, messages, sampling, key=key, choices=tuple(task.label_names), **kw)  # type: ignore[arg-type]


def vote_calls(
    task: LabeledTask,
    texts: Sequence[str],
    *,
    samples: int,
    sampling: SamplingConfig,
    key: str,
    shots: Sequence[tuple[str, str]] = (),
) -> list[Call]:
    """The blind classifier's requests for `texts`, `samples` votes each (see classify_texts)."""
    return [
        _classify_call(task, text, shots, sampling, f"{key}/{stable_hash(text)}/v{vote}")
        for text in texts
        for vote in range(samples)
    ]


def score_calls(
    task: LabeledTask, texts: Sequence[str], *, key: str, shots: Sequence[tuple[str, str]] = ()
) -> list[Call]:
    """The label-scoring requests for `texts` (see label_probs)."""
    return [
        _classify_call(task, text, shots, SCORE_SAMPLING, f"{key}/{stable_hash(text)}", score="choices")
        for text in texts
    ]


def classify_texts(
    gateway: Gateway,
    task: LabeledTask,
    texts: Sequence[str],
    *,
    samples: int,
    sampling: SamplingConfig,
    key: str,
    stage: str = VERIFY_STAGE,
    shots: Sequence[tuple[str, str]] = (),
) -> list[Vote]:
    """Blind-classify texts with guided choice over the label names, `samples` votes each.

    `shots` are (text, label) demonstrations given as earlier chat turns; none = zero-shot.
    """
    outcomes = gateway.run(vote_calls(task, texts, samples=samples, sampling=sampling, key=key, shots=shots), stage)
    results = []
    for i in range(len(texts)):
        mine = outcomes[i * samples : (i + 1) * samples]
        counts = Counter(o.parsed.label for o in mine if o.ok and isinstance(o.parsed, Relabel))
        ids = [o.request_id for o in mine]
        if not counts:
            results.append(Vote(None, 0.0, {}, ids))
            continue
        # Ties go to the label listed first in the domain: deterministic, and documented.
        top = max(counts.values())
        winner = next(name for name in task.label_names if counts.get(name) == top)
        results.append(Vote(winner, top / samples, dict(counts), ids))
    return results


def label_probs(
    gateway: Gateway,
    task: LabeledTask,
    texts: Sequence[str],
    *,
    key: str,
    stage: str,
    shots: Sequence[tuple[str, str]] = (),
) -> list[dict[str, float] | None]:
    """The teacher's probability of each label per text, as guided choice would decode it."""
    out: list[dict[str, float] | None] = []
    for outcome in gateway.run(score_calls(task, texts, key=key, shots=shots), stage):
        scores = outcome.completion.choice_logprobs if outcome.ok and outcome.completion else None
        out.append(None if scores is None else {label: math.exp(scores[label]) for label in task.label_names})
    return out
