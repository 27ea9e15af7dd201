"""The remote teacher's failure handling against a real, fault-injecting HTTP server on 127.0.0.1.

The stub speaks just enough of the OpenAI API (GET /v1/models, POST /v1/chat/completions); a
script decides per request what it answers (status, headers, delay). Waits are recorded through
the teacher's injectable sleep, so backoff is asserted exactly and tests never sleep for it.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from conf.config import ConfigError, load_config
from generator.teachers.base import ChatRequest, SamplingConfig, TeacherUnavailable
from generator.teachers.openai import OpenAIConfig, OpenAITeacher
from generator.teachers.openai_http import parse_retry_after
from tests.conftest import free_port
from tests.stub_openai import OK_TEXT, Script, Stub, ok


@pytest.fixture
def stubs():
    made: list[Stub] = []

    def make(script: Script | None = None, probe: int = 200) -> Stub:
        made.append(Stub(script, probe, default=lambda body: ok()))
        return made[-1]

    yield make
    for stub in made:
        stub.close()


class Recorder:
    """Stands in for asyncio.sleep: records the wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def teacher_for(*stubs: Stub, sleep: Recorder | None = None, **config: Any) -> OpenAITeacher:
    settings = {"base_urls": [s.url for s in stubs], "backoff": 1.0, **config}
    return OpenAITeacher(OpenAIConfig(**settings), sleep=sleep or Recorder())


def request(text: str, **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], sampling=SamplingConfig(max_tokens=16), **kwargs)


def test_429_is_retried_after_exactly_the_servers_retry_after(stubs):
    stub = stubs(
        lambda body, n: (429, {"Retry-After": "7"}, {"error": {"message": "slow down"}}, 0) if n == 1 else None
    )
    sleep = Recorder()
    teacher = teacher_for(stub, sleep=sleep)
    [completion] = teacher.generate([request("a")])
    assert completion.text == OK_TEXT and completion.finish_reason == "stop"
    assert stub.attempts["a"] == 2 and sleep.waits == [7.0] and teacher.waits == [("http_429", 7.0)]
    teacher.close()


def test_retry_after_is_honoured_in_real_time(stubs):
    stub = stubs(lambda body, n: (429, {"Retry-After": "1"}, {}, 0) if n == 1 else None)
    teacher = OpenAITeacher(OpenAIConfig(base_urls=[stub.url]))  # real asyncio.sleep
    started = time.monotonic()
    [completion] = teacher.generate([request("a")])
    assert completion.finish_reason == "stop" and time.monotonic() - started >= 1.0
    teacher.close()


def test_retry_after_formats():
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_503_backs_off_exponentially_with_jitter_then_succeeds(stubs):
    stub = stubs(lambda body, n: (503, {}, {"error": "busy"}, 0) if n <= 3 else None)
    sleep = Recorder()
    teacher = teacher_for(stub, sleep=sleep, max_retries=4, backoff=1.0, backoff_max=60)
    [completion] = teacher.generate([request("a")])
    assert completion.finish_reason == "stop" and stub.attempts["a"] == 4
    assert len(sleep.waits) == 3
    for k, wait in enumerate(sleep.waits):  # equal jitter: between half and all of 1, 2, 4 s
        assert 2**k / 2 <= wait <= 2**k
    teacher.close()


def test_backoff_is_capped(stubs):
    stub = stubs(
        lambda body, n: (500, {"Retry-After": "3600"}, {}, 0) if n == 1 else (502, {}, {}, 0) if n < 4 else None
    )
    sleep = Recorder()
    teacher = teacher_for(stub, sleep=sleep, max_retries=5, backoff=10.0, backoff_max=15)
    teacher.generate([request("a")])
    assert sleep.waits[0] == 15 and all(w <= 15 for w in sleep.waits) and stub.attempts["a"] == 4
    teacher.close()


def test_timeouts_are_retried(stubs):
    stub = stubs(lambda body, n: (*ok()[:3], 3.0) if n == 1 else None)
    sleep = Recorder()
    teacher = teacher_for(stub, sleep=sleep, timeout=0.3)
    [completion] = teacher.generate([request("a")])
    assert completion.finish_reason == "stop" and stub.attempts["a"] == 2
    assert [kind for kind, _ in teacher.waits] == ["timeout"]
    teacher.close()


def test_400_is_a_failed_request_never_retried(stubs):
    message = "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens."
    stub = stubs(
        lambda body, n: (
            (400, {}, {"error": {"message": message, "code": 400}}, 0)
            if "long" in body["messages"][-1]["content"]
            else None
        )
    )
    sleep = Recorder()
    teacher = teacher_for(stub, sleep=sleep)
    bad, good = teacher.generate([request("long prompt"), request("short")])
    assert bad.finish_reason == "error" and message in (bad.error or "") and "HTTP 400" in (bad.error or "")
    assert good.finish_reason == "stop"
    assert stub.attempts["long prompt"] == 1 and sleep.waits == []
    teacher.close()


def test_a_request_that_exhausts_its_retries_fails_alone(stubs):
    stub = stubs(lambda body, n: (503, {}, {}, 0) if body["messages"][-1]["content"] == "poison" else None)
    teacher = teacher_for(stub, max_retries=2)
    completions = teacher.generate([request("a"), request("poison"), request("b")])
    assert [c.finish_reason for c in completions] == ["stop", "error", "stop"]
    assert "gave up after 3 attempts" in (completions[1].error or "") and stub.attempts["poison"] == 3
    teacher.close()


def test_a_server_that_stops_serving_is_teacher_unavailable(stubs):
    stub = stubs()
    teacher = teacher_for(stub, max_retries=1)
    teacher.ready()
    stub.script = lambda body, n: (503, {}, {}, 0)
    stub.probe = 503  # not even a one-token completion goes through
    with pytest.raises(TeacherUnavailable, match="no teacher server answers"):
        teacher.generate([request("a"), request("b")])
    teacher.close()


def test_no_server_at_all_is_teacher_unavailable():
    teacher = OpenAITeacher(OpenAIConfig(base_urls=[f"http://127.0.0.1:{free_port()}/v1"]))
    with pytest.raises(TeacherUnavailable, match="no teacher server is ready"):
        teacher.generate([request("a")])
    teacher.close()


def test_a_dead_server_among_several_is_avoided(stubs):
    alive = stubs()
    dead_url = f"http://127.0.0.1:{free_port()}/v1"
    teacher = OpenAITeacher(OpenAIConfig(base_urls=[dead_url, alive.url]), sleep=Recorder())
    assert teacher.ready()["endpoints"][alive.url] == "ready"
    completions = teacher.generate([request(str(i)) for i in range(6)])
    assert all(c.finish_reason == "stop" for c in completions) and sum(alive.attempts.values()) == 6
    assert teacher.endpoint == ",".join(sorted([dead_url, alive.url]))
    teacher.close()


def test_concurrency_is_limited_per_server_and_load_is_spread(stubs):
    slow = lambda body, n: (*ok()[:3], 0.15)  # noqa: E731
    a, b = stubs(slow), stubs(slow)
    teacher = teacher_for(a, b, concurrency=2)
    completions = teacher.generate([request(f"q{i}") for i in range(12)])
    assert all(c.finish_reason == "stop" for c in completions)
    assert a.max_in_flight <= 2 and b.max_in_flight <= 2
    assert sum(a.attempts.values()) + sum(b.attempts.values()) == 12
    assert sum(a.attempts.values()) > 0 and sum(b.attempts.values()) > 0
    teacher.close()


def test_stream_yields_each_completion_as_it_arrives(stubs):
    delays = {"q0": 0.9, "q1": 0.6, "q2": 0.3, "q3": 0.0}
    stub = stubs(lambda body, n: (*ok(body["messages"][-1]["content"])[:3], delays[body["messages"][-1]["content"]]))
    teacher = teacher_for(stub, concurrency=4)
    arrived = [(i, c.text) for i, c in teacher.stream([request(q) for q in delays])]
    assert arrived == [(3, "q3"), (2, "q2"), (1, "q1"), (0, "q0")]
    teacher.close()


def test_request_body_guided_decoding_and_key(stubs, monkeypatch, caplog):
    monkeypatch.setenv("STUB_KEY", "sk-very-secret")
    stub = stubs(lambda body, n: (503, {}, {}, 0) if n == 1 else None)
    teacher = teacher_for(stub, api_key_env="STUB_KEY")
    schema = {"title": "Answer", "type": "object", "properties": {"answer": {"type": "string"}}}
    with caplog.at_level(logging.DEBUG):
        teacher.generate([request("j", json_schema=schema, seed=11), request("c", choices=["yes", "no"])])
    by_prompt = {b["messages"][-1]["content"]: b for b in stub.bodies}
    guided = by_prompt["j"]
    assert guided["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema, "strict": True},
    }
    assert guided["seed"] == 11 and guided["max_tokens"] == 16 and guided["model"] == "stub-model"
    assert by_prompt["c"]["structured_outputs"] == {"choice": ["yes", "no"]} and "response_format" not in by_prompt["c"]
    assert all(h.get("Authorization") == "Bearer sk-very-secret" for h in stub.headers)
    assert caplog.records and "sk-very-secret" not in caplog.text and "sk-very-secret" not in repr(teacher.config)
    teacher.close()


def test_config_keeps_only_the_name_of_the_key(tmp_path):
    cfg = load_config(overrides={"teacher": {"backend": "openai", "base_urls": ["http://h:8000/v1/"]}})
    assert cfg.teacher.model == "auto" and cfg.teacher.base_urls == ("http://h:8000/v1",)
    path = tmp_path / "c.yaml"
    path.write_text("teacher:\n  backend: openai\n  base_urls: [http://h/v1]\n  api_key_env: sk-abc123-secret\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:4: teacher.api_key_env" in str(err.value) and "sk-abc123-secret" not in str(err.value)
    path.write_text("teacher:\n  backend: openai\n")
    with pytest.raises(ConfigError, match="needs base_urls"):
        load_config(path)


def test_a_streaming_flow_keeps_in_flight_requests_open_and_takes_them_in_order():
    from generator.flow import Flow
    from generator.gateway import Call, Gateway
    from prompts import get_spec

    spec = get_spec("response")
    stub = Stub(default=lambda body: ok(json.dumps({"output": body["messages"][-1]["content"][:40]})), delay=0.2)
    try:
        teacher = teacher_for(stub, concurrency=3)
        assert teacher.in_flight == 3
        gateway = Gateway(teacher)
        calls = [
            Call(spec, spec.render(instruction=f"Task {i}.", input=""), SamplingConfig(), f"k{i}") for i in range(8)
        ]
        with Flow(gateway) as flow:
            assert flow.streaming
            tickets = [flow.submit(c, "responses") for c in calls]
            outcomes = [flow.take(t) for t in tickets]
        assert [o.ok for o in outcomes] == [True] * 8
        assert [o.call.key for o in outcomes] == [f"k{i}" for i in range(8)]
        assert 1 < stub.max_in_flight <= 3  # several open at once, never more than in_flight
        teacher.close()
    finally:
        stub.close()
