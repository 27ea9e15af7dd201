"""The remote teacher against a real `vllm serve` process (embedded model, CPU) on 127.0.0.1."""

from __future__ import annotations

import json
import random

import pytest

from conf.config import load_config
from generator.gateway import Call, Gateway
from generator.seeds import read_seeds
from generator.teachers.base import ChatRequest, SamplingConfig, TeacherUnavailable
from generator.teachers.openai import OpenAIConfig, OpenAITeacher
from pipeline.instruct import generate
from prompts import get_spec
from prompts.schemas import NewInstructions
from rundir.journal import Journal, scan
from tests.conftest import GENERAL_SEEDS

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

KEY_ENV = "SEEDFORGE_TEST_TEACHER_KEY"


@pytest.fixture
def remote(vllm_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, vllm_server.api_key)
    teacher = OpenAITeacher(OpenAIConfig(base_urls=[vllm_server.url], api_key_env=KEY_ENV, concurrency=8))
    yield teacher
    teacher.close()


def test_readiness_names_the_served_model_and_its_revision(remote, vllm_server):
    info = remote.ready()
    assert info["model"] == vllm_server.model and info["endpoints"] == {vllm_server.url: "ready"}
    assert remote.model_name == vllm_server.model
    assert remote.revision.startswith("served:") and remote.endpoint == vllm_server.url
    assert remote.startup_seconds > 0


def test_a_missing_or_wrong_key_is_refused_before_any_work(vllm_server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    unset = OpenAITeacher(OpenAIConfig(base_urls=[vllm_server.url], api_key_env=KEY_ENV))
    with pytest.raises(TeacherUnavailable, match=f"{KEY_ENV}.*unset"):
        unset.ready()
    monkeypatch.setenv(KEY_ENV, "wrong-key")
    wrong = OpenAITeacher(OpenAIConfig(base_urls=[vllm_server.url], api_key_env=KEY_ENV))
    with pytest.raises(TeacherUnavailable, match="401") as err:
        wrong.ready()
    assert "wrong-key" not in str(err.value)
    wrong.close()


def test_guided_json_through_the_gateway_is_journaled_as_it_arrives(remote, tmp_path):
    spec = get_spec("new_instructions")
    seeds = read_seeds(GENERAL_SEEDS).tasks
    rng = random.Random(1)
    calls = []
    for i in range(8):
        demos = [{"instruction": s.instruction, "input": s.first_input} for s in rng.sample(seeds, 4)]
        calls.append(
            Call(
                spec,
                spec.render(demos=demos, num=3),
                load_config().generation.instruction_sampling,
                key=f"remote{i}",
                json_schema=spec.json_schema_with({"instructions": 3}),
            )
        )
    journal = Journal(tmp_path / "journal.jsonl")
    gateway = Gateway(remote, max_attempts=2, journal=journal)
    outcomes = gateway.run(calls, "instructions")
    journal.close()
    ok = [o for o in outcomes if o.ok]
    assert len(ok) >= 6
    for outcome in ok:
        assert isinstance(outcome.parsed, NewInstructions) and 1 <= len(outcome.parsed.instructions) <= 3
        NewInstructions.model_validate_json(outcome.text)
    entries = scan(tmp_path / "journal.jsonl").entries
    assert {o.request_id for o in outcomes if o.ok} <= set(entries)
    # A second gateway over the same journal answers everything without the teacher.
    again = Gateway(remote, max_attempts=2, journal=Journal(tmp_path / "journal.jsonl"))
    assert [o.text for o in again.run(calls, "instructions")] == [o.text for o in outcomes]
    assert again.teacher_calls == 0


def test_guided_choice_and_seeded_determinism(remote):
    sampling = SamplingConfig(temperature=1.0, top_p=1.0, max_tokens=8)
    labels = ["positive", "negative", "neutral"]
    requests = [
        ChatRequest(
            messages=[{"role": "user", "content": f"Sentiment of: {text}"}], sampling=sampling, seed=7, choices=labels
        )
        for text in ("I love it", "Terrible service", "It is a chair", "Best day ever")
    ]
    first = remote.generate(requests)
    assert all(c.finish_reason == "stop" and c.text in labels for c in first)
    assert [c.text for c in remote.generate(requests)] == [c.text for c in first]  # same seed, same answer


def test_context_length_400_fails_the_request_without_retrying(remote):
    remote.ready()
    too_long = ChatRequest(
        messages=[{"role": "user", "content": "word " * 4000}], sampling=SamplingConfig(max_tokens=16), seed=1
    )
    fine = ChatRequest(messages=[{"role": "user", "content": "Say hi."}], sampling=SamplingConfig(max_tokens=8), seed=1)
    before = remote.http_attempts
    bad, good = remote.generate([too_long, fine])
    assert bad.finish_reason == "error" and "HTTP 400" in (bad.error or "") and "context" in (bad.error or "").lower()
    assert good.finish_reason in ("stop", "length") and good.completion_tokens > 0
    assert remote.http_attempts - before == 2 and remote.waits == []


def test_generate_run_with_the_remote_teacher_resumes_from_its_journal(vllm_server, monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV, vllm_server.api_key)
    cfg = load_config(
        overrides={
            "teacher": {"backend": "openai", "base_urls": [vllm_server.url], "api_key_env": KEY_ENV},
            "generation": {
                "num": 3,
                "min_prompts_per_round": 4,
                "instruction_sampling": {"max_tokens": 384},
                "response_sampling": {"max_tokens": 256},
            },
        }
    )
    out = tmp_path / "run"
    summary = generate(cfg, GENERAL_SEEDS, out)
    stats = summary.stats["teacher"]
    assert stats["endpoint"] == vllm_server.url and stats["model"] == vllm_server.model
    assert stats["calls"] > 0 and stats["completion_tokens"] > 0
    funnel = summary.funnel
    assert funnel["kept"] + funnel["rejected_total"] == funnel["candidates"] > 0
    assert funnel["kept"] == len((out / "train.jsonl").read_text().splitlines())
    config = (out / "config.yaml").read_text()
    assert KEY_ENV in config and vllm_server.api_key not in config  # the name is saved, never the key
    assert vllm_server.api_key not in json.dumps(summary.stats)
    again = generate(cfg, GENERAL_SEEDS, out)
    assert again.stats["teacher"]["calls"] == 0 and again.funnel == funnel
