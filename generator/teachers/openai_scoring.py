"""Scoring requests over HTTP, against `vllm serve`: the server's tokenizer, then token reads.

The prompt is tokenized by the server's own chat template (`/tokenize` with messages and the
generation prompt), continuations on their own, and the reads go to `/v1/completions` with token
ids as the prompt: `logprob_token_ids` for the branch points of a choices score, `prompt_logprobs`
for a reply score. These are vLLM's parameters; a server without them answers 4xx and the request
fails (the verification methods that need scores say so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from generator.teachers.base import ChatRequest, Completion
from generator.teachers.scoring import best_choice, combine_choices, plan_choices, reply_logprob

# POST path (leading "^": relative to the server root rather than /v1) and body -> JSON.
Call = Callable[[str, dict[str, Any]], Awaitable[Any]]
PROBE = [{"role": "user", "content": "a"}]


class Rejected(Exception):
    """The server refused this request (4xx) or answered nonsense: fail it, do not re-send."""


def server_root(base_url: str) -> str:
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def _tokens(data: Any) -> list[int]:
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
        raise Rejected(f"/tokenize answered without token ids: {str(data)[:200]}")
    return tokens


class RemoteScorer:
    def __init__(self) -> None:
        self._pieces: dict[str, list[int]] = {}  # continuation text -> tokens (labels repeat a lot)
        self._end: int | None = None
        self._lock = asyncio.Lock()

    async def _prompt(self, call: Call, model: str, messages: list[dict[str, str]]) -> list[int]:
        body = {"model": model, "messages": messages, "add_generation_prompt": True, "add_special_tokens": False}
        return _tokens(await call("^/tokenize", body))

    async def _piece(self, call: Call, model: str, text: str) -> list[int]:
        if text not in self._pieces:
            body = {"model": model, "prompt": text, "add_special_tokens": False}
            self._pieces[text] = _tokens(await call("^/tokenize", body))
        return self._pieces[text]

    async def _end_id(self, call: Call, model: str) -> int:
        """The token the chat template closes an assistant turn with (what ends a choice)."""
        async with self._lock:
            if self._end is None:
                body = {
                    "model": model,
                    "messages": [*PROBE, {"role": "assistant", "content": "b"}],
                    "add_generation_prompt": False,
                    "add_special_tokens": False,
                }
                turn = _tokens(await call("^/tokenize", body))
                head = await self._prompt(call, model, PROBE)
                reply = await self._piece(call, model, "b")
                if turn[: len(head)] != head or len(turn) <= len(head) + len(reply):
                    raise Rejected("cannot find the chat template's end-of-turn token")
                self._end = turn[len(head) + len(reply)]
            return self._end

    async def score(self, request: ChatRequest, model: str, call: Call) -> Completion:
        if request.score == "choices":
            return await self._choices(request, model, call)
        prefix = await self._prompt(call, model, request.reply_prefix())
        tokens = [*prefix, *await self._piece(call, model, request.messages[-1]["content"])]
        body = {"model": model, "prompt": tokens, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0}
        data = await call("/completions", body)
        try:
            entries = data["choices"][0]["prompt_logprobs"]
            by_position = [
                None if entry is None else float(entry[str(token)]["logprob"])
                for entry, token in zip(entries, tokens, strict=True)
            ]
            total, count = reply_logprob(by_position, len(prefix))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise Rejected(f"no prompt logprobs in the answer: {type(exc).__name__}: {exc}") from None
        return Completion(
            text="", finish_reason="stop", prompt_tokens=len(tokens), reply_logprob=total, reply_tokens=count
        )

    async def _choices(self, request: ChatRequest, model: str, call: Call) -> Completion:
        choices = list(request.choices or [])
        prefix = await self._prompt(call, model, request.messages)
        encoded = [await self._piece(call, model, c) for c in choices]
        try:
            plan = plan_choices(choices, encoded, await self._end_id(call, model))
        except ValueError as exc:
            raise Rejected(str(exc)) from None

        async def read(path: tuple[int, ...], children: tuple[int, ...]) -> dict[int, float]:
            body = {
                "model": model,
                "prompt": [*prefix, *path],
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": len(children),
                "logprob_token_ids": list(children),
                "return_tokens_as_token_ids": True,
            }
            data = await call("/completions", body)
            try:
                top = data["choices"][0]["logprobs"]["top_logprobs"][0]
                return {int(key.rsplit(":", 1)[1]): float(value) for key, value in top.items()}
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise Rejected(f"no token logprobs in the answer: {type(exc).__name__}: {exc}") from None

        reads = await asyncio.gather(*(read(r.path, r.children) for r in plan.reads))
        try:
            scores = combine_choices(plan, reads)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        prompt_tokens = sum(len(prefix) + len(r.path) for r in plan.reads)
        return Completion(
            text=best_choice(scores), finish_reason="stop", prompt_tokens=prompt_tokens, choice_logprobs=scores
        )
