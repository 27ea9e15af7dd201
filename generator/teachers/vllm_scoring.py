"""Scoring requests on the in-process engine: token prompts in, one Completion out per request."""

from __future__ import annotations

from typing import Any

from generator.teachers.base import ChatRequest, Completion
from generator.teachers.scoring import ChoicePlan, best_choice, combine_choices, plan_choices, reply_logprob


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The prompt as the chat template renders it, ending with the assistant's header."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return list(tokenizer.encode(text, add_special_tokens=False))


def continuation_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False))


_END_IDS: dict[int, int] = {}
PROBE = [{"role": "user", "content": "a"}]


def end_id(tokenizer: Any) -> int:
    """The token the chat template closes an assistant turn with (what ends a choice).

    Found the way the HTTP backend finds it (generator/teachers/openai_scoring.py), so both agree.
    """
    key = id(tokenizer)
    if key not in _END_IDS:
        turn = [*PROBE, {"role": "assistant", "content": "b"}]
        text = tokenizer.apply_chat_template(turn, add_generation_prompt=False, tokenize=False)
        ids = list(tokenizer.encode(text, add_special_tokens=False))
        head, reply = prompt_ids(tokenizer, PROBE), continuation_ids(tokenizer, "b")
        if ids[: len(head)] != head or len(ids) <= len(head) + len(reply):
            raise ValueError("cannot find the chat template's end-of-turn token")
        _END_IDS[key] = ids[len(head) + len(reply)]
    return _END_IDS[key]


class ScoreJob:
    """One scoring request as engine reads; `add` each finished read, then `completion()`."""

    def __init__(self, request: ChatRequest, tokenizer: Any):
        self.request = request
        self.plan: ChoicePlan | None = None
        if request.score == "choices":
            if not request.choices:
                raise ValueError("a choices score needs choices")
            self.prefix = prompt_ids(tokenizer, request.messages)
            encoded = [continuation_ids(tokenizer, c) for c in request.choices]
            self.plan = plan_choices(request.choices, encoded, end_id(tokenizer))
            self.prompts = [[*self.prefix, *read.path] for read in self.plan.reads]
        else:
            self.prefix = prompt_ids(tokenizer, request.reply_prefix())
            self.prompts = [[*self.prefix, *continuation_ids(tokenizer, request.messages[-1]["content"])]]
        self.outputs: dict[int, Any] = {}

    def engine_inputs(self) -> tuple[list[dict[str, list[int]]], list[Any]]:
        from vllm import SamplingParams

        if self.plan is None:
            params = [SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)]
        else:
            params = [
                SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=list(read.children))
                for read in self.plan.reads
            ]
        return [{"prompt_token_ids": ids} for ids in self.prompts], params

    def add(self, part: int, out: Any) -> bool:
        self.outputs[part] = out
        return len(self.outputs) == len(self.prompts)

    def completion(self) -> Completion:
        outs = [self.outputs[k] for k in range(len(self.prompts))]
        prompt_tokens = sum(len(ids) for ids in self.prompts)
        try:
            if self.plan is not None:
                reads = [{tid: lp.logprob for tid, lp in out.outputs[0].logprobs[0].items()} for out in outs]
                scores = combine_choices(self.plan, reads)
                return Completion(
                    text=best_choice(scores),
                    finish_reason="stop",
                    prompt_tokens=prompt_tokens,
                    choice_logprobs=scores,
                )
            tokens = self.prompts[0]
            by_position = [
                None if entry is None else entry[token].logprob
                for entry, token in zip(outs[0].prompt_logprobs, tokens, strict=True)
            ]
            total, count = reply_logprob(by_position, len(self.prefix))
            return Completion(
                text="", finish_reason="stop", prompt_tokens=prompt_tokens, reply_logprob=total, reply_tokens=count
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return Completion.failed(f"scoring failed: {type(exc).__name__}: {exc}")
