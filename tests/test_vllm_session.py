"""Sessions on one in-process engine (generator/teachers/vllm_session.py), against a stand-in for
`vllm.LLM` that finishes one request per step: each answer reaches the session that asked, even
when another session steps the engine (a judge's batch inside a streaming run)."""

from __future__ import annotations

from types import SimpleNamespace

from generator.teachers.base import ChatRequest, Completion, SamplingConfig
from generator.teachers.vllm_session import EngineRouter, VLLMSession


class FakeEngine:
    def __init__(self):
        self.queue: list[tuple[str, str]] = []  # (internal id, prompt)
        self.aborted: list[str] = []

    def has_unfinished_requests(self) -> bool:
        return bool(self.queue)

    def step(self):
        if not self.queue:
            return []
        rid, prompt = self.queue.pop(0)
        return [SimpleNamespace(request_id=rid.split("-")[0], finished=True, text=f"answer to {prompt}")]

    def abort_request(self, ids, internal=False):
        self.aborted += ids
        self.queue = [(r, p) for r, p in self.queue if r not in ids]


class FakeLLM:
    def __init__(self):
        self.llm_engine = FakeEngine()
        self.counter = 0

    def enqueue_chat(self, conversations, sampling_params, use_tqdm):
        ids = []
        for messages in conversations:
            rid = f"{self.counter}-abc"
            self.counter += 1
            self.llm_engine.queue.append((rid, messages[-1]["content"]))
            ids.append(rid)
        return ids


def request(text: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], sampling=SamplingConfig())


def completion(out) -> Completion:
    return Completion(text=out.text, finish_reason="stop")


def test_answers_reach_the_session_that_asked_whoever_steps_the_engine():
    llm = FakeLLM()
    router = EngineRouter(llm)
    streaming, batch = (VLLMSession(llm, router, lambda r: None, completion) for _ in range(2))
    streaming.submit([(10, request("s0")), (11, request("s1"))])
    batch.submit([(0, request("b0"))])
    streaming.submit([(12, request("s2"))])
    got_batch = batch.wait()  # steps past s0 and s1 to reach b0: those wait in the other session
    assert got_batch == [(0, Completion(text="answer to b0", finish_reason="stop"))]
    assert batch.pending == set()
    first = streaming.wait()
    assert [(t, c.text) for t, c in first] == [(10, "answer to s0"), (11, "answer to s1")]
    assert [(t, c.text) for t, c in streaming.wait()] == [(12, "answer to s2")]
    assert streaming.wait() == [] and not llm.llm_engine.queue


def test_closing_a_session_aborts_only_its_own_requests():
    llm = FakeLLM()
    router = EngineRouter(llm)
    mine, other = (VLLMSession(llm, router, lambda r: None, completion) for _ in range(2))
    mine.submit([(1, request("m"))])
    other.submit([(2, request("o"))])
    mine.close()
    assert llm.llm_engine.aborted == ["0-abc"]
    assert [(t, c.text) for t, c in other.wait()] == [(2, "answer to o")]
