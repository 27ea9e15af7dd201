"""Scoring requests, backend-independent: which token reads answer them and how reads combine.

A "choices" score is the probability guided choice gives each choice. Under the choice grammar
only the tokens that keep some choice possible are allowed, so the probability of a choice is the
product, over the steps where choices part ways, of the allowed token's probability renormalised
over the allowed tokens (steps with one allowed token are certain). Those branch points form a
token trie; each is one next-token read of a handful of token ids (`logprob_token_ids`), and the
common case — choices that differ in their first token — is a single read.

A "reply" score is the summed log-probability of the reply's tokens given the turns before it,
read from the engine's prompt log-probabilities.

Both backends (in-process vLLM, `vllm serve`) tokenize the same way: the prompt as the chat
template renders it with the generation prompt, then the continuation tokenized on its own, so a
score does not depend on where the engine runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Read:
    """One next-token read: the prompt continued by `path`; the logprobs of `children` are needed."""

    path: tuple[int, ...]
    children: tuple[int, ...]


@dataclass(frozen=True)
class ChoicePlan:
    choices: tuple[str, ...]
    sequences: tuple[tuple[int, ...], ...]  # per choice: its tokens, then the end token
    reads: tuple[Read, ...]


def plan_choices(choices: Sequence[str], encode: Sequence[Sequence[int]], end_id: int) -> ChoicePlan:
    """The branch points of the choices' token trie. `encode[i]` holds the tokens of choice i.

    The end token closes every sequence, so a choice that is a prefix of another ("World" and
    "World news") still has a branch point where the two part.
    """
    sequences = tuple((*tokens, end_id) for tokens in encode)
    if len(set(sequences)) != len(sequences):
        raise ValueError(f"choices {list(choices)} tokenize identically; they cannot be told apart")
    reads: list[Read] = []
    frontier: list[tuple[int, ...]] = [()]
    while frontier:
        path = frontier.pop(0)
        below = [s for s in sequences if s[: len(path)] == path and len(s) > len(path)]
        children = tuple(sorted({s[len(path)] for s in below}))
        if len(children) > 1:
            reads.append(Read(path, children))
        frontier += [(*path, child) for child in children if any(len(s) > len(path) + 1 for s in below)]
    return ChoicePlan(tuple(choices), sequences, tuple(reads))


def combine_choices(plan: ChoicePlan, read_logprobs: Sequence[dict[int, float]]) -> dict[str, float]:
    """Per choice, the sum over its branch points of log softmax over that point's children."""
    by_path = {}
    for read, logprobs in zip(plan.reads, read_logprobs, strict=True):
        missing = [c for c in read.children if c not in logprobs]
        if missing:
            raise ValueError(f"the teacher returned no logprob for token(s) {missing}")
        norm = _logsumexp([logprobs[c] for c in read.children])
        by_path[read.path] = {c: logprobs[c] - norm for c in read.children}
    out = {}
    for choice, sequence in zip(plan.choices, plan.sequences, strict=True):
        total = 0.0
        for depth, token in enumerate(sequence):
            branch = by_path.get(sequence[:depth])
            if branch is not None:
                total += branch[token]
        out[choice] = total
    return out


def best_choice(logprobs: dict[str, float]) -> str:
    """The most likely choice; ties go to the one listed first (dicts keep the choices' order)."""
    return max(logprobs, key=lambda c: logprobs[c])


def reply_logprob(prompt_logprobs: Sequence[float | None], prefix_len: int) -> tuple[float, int]:
    """Sum and count of the reply tokens' logprobs (positions from `prefix_len` on)."""
    tail = [lp for lp in prompt_logprobs[prefix_len:] if lp is not None]
    if len(tail) != len(prompt_logprobs) - prefix_len:
        raise ValueError("the teacher returned no logprob for some reply token")
    return float(sum(tail)), len(tail)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
