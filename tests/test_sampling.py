"""top_k / min_p: reach both backends when set; at their neutral values every id and dump is as
before they existed (journals of earlier runs still resume)."""

from __future__ import annotations

from pathlib import Path

from generator.teachers.base import ChatRequest, SamplingConfig
from generator.teachers.openai_http import chat_body
from prompts import stable_hash

MESSAGES = [{"role": "user", "content": "Name a colour."}]


def request(**sampling) -> ChatRequest:
    return ChatRequest(messages=MESSAGES, sampling=SamplingConfig(**sampling), seed=3)


def test_neutral_values_leave_dumps_and_ids_as_before():
    assert SamplingConfig().model_dump() == {"temperature": 0.7, "top_p": 1.0, "max_tokens": 512}
    # The identity a request had before top_k/min_p existed.
    before = {
        "messages": MESSAGES,
        "sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": 512},
        "seed": 3,
        "json_schema": None,
        "choices": None,
        "model": "m",
        "revision": "r",
        "endpoint": "e",
    }
    old = request(top_p=0.95)
    assert old.request_id("m", "r", "e") == stable_hash(before, length=32)
    assert request(top_p=0.95, min_p=0.05).request_id("m", "r", "e") != old.request_id("m", "r", "e")
    assert request(top_p=0.95, top_k=50).request_id("m", "r", "e") != old.request_id("m", "r", "e")
    assert SamplingConfig(min_p=0.05, top_k=40).model_dump()["min_p"] == 0.05


def test_openai_body_carries_them_only_when_set():
    assert "top_k" not in chat_body(request(), "m") and "min_p" not in chat_body(request(), "m")
    body = chat_body(request(top_p=1.0, top_k=40, min_p=0.05), "m")
    assert (body["top_p"], body["top_k"], body["min_p"]) == (1.0, 40, 0.05)


def test_vllm_sampling_params_carry_them():
    from generator.teachers.models import ResolvedModel
    from generator.teachers.vllm import VLLMConfig, VLLMTeacher

    teacher = VLLMTeacher(VLLMConfig(), model=ResolvedModel("m", Path("."), "r", "m"))  # never started
    params = teacher.sampling_params(request(top_p=1.0, top_k=40, min_p=0.05))
    assert (params.top_p, params.top_k, params.min_p) == (1.0, 40, 0.05)
    neutral = teacher.sampling_params(request())
    assert (neutral.top_p, neutral.top_k, neutral.min_p) == (1.0, 0, 0.0)
