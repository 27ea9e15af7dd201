"""The streaming flow (generator/flow.py): outcomes decided in submission order whatever order
the teacher finishes in, so a streaming run keeps exactly the rows a round-based run keeps."""

from __future__ import annotations

import json

import pytest

from conf.config import load_config
from generator.flow import Flow
from generator.gateway import Call, Gateway
from generator.teachers.base import ChatRequest, Completion, SamplingConfig
from pipeline.instruct import generate
from prompts import get_spec
from tests.conftest import GENERAL_SEEDS
from tests.fakes import ScriptedTeacher, SessionScriptedTeacher, requests_beyond, schema_title

SPEC = get_spec("response")
TIMELESS = ("teacher_seconds", "tokens_per_second")  # the clock's, not the decisions'


def calls(n: int) -> list[Call]:
    return [
        Call(SPEC, SPEC.render(instruction=f"Task {i}.", input=""), SamplingConfig(), key=f"k{i}") for i in range(n)
    ]


def flaky(request: ChatRequest) -> Completion | None:
    """A third of the answers truncated, some garbage: retries and quarantines (by seed)."""
    if request.seed is not None and request.seed % 3 == 0:
        return Completion(text='{"output": "cut', finish_reason="length")
    if request.seed is not None and request.seed % 7 == 0:
        return Completion(text="not json", finish_reason="stop")
    return None


def summary(outcomes):
    return [(o.ok, o.failure, o.text, o.attempts, o.request_ids) for o in outcomes]


@pytest.mark.parametrize("order_seed", range(4))
def test_streamed_outcomes_are_the_batched_ones_in_submission_order(order_seed):
    batched = Gateway(ScriptedTeacher(faults=flaky), max_attempts=3)
    expected = batched.run(calls(40), "responses")
    teacher = SessionScriptedTeacher(in_flight=5, order_seed=order_seed, faults=flaky)
    gateway = Gateway(teacher, max_attempts=3)
    with Flow(gateway) as flow:
        tickets = [flow.submit(c, "responses") for c in calls(40)]
        got = [flow.take(t) for t in tickets]
    assert summary(got) == summary(expected)
    assert any(o.attempts > 1 for o in got) and any(not o.ok for o in got)  # the faults did bite
    got_stats, want_stats = (
        {k: v for k, v in g.stats["responses"].as_dict().items() if k not in TIMELESS} for g in (gateway, batched)
    )
    assert got_stats == want_stats
    assert max(teacher.held) == 5  # the session held in_flight requests, never more


def test_room_is_what_the_teacher_could_take_with_nothing_else_waiting():
    with Flow(Gateway(SessionScriptedTeacher(in_flight=4))) as flow:
        assert flow.room() == 4
        tickets = [flow.submit(c, "responses") for c in calls(6)]
        assert flow.room() == -2  # 4 in flight, 2 waiting
        for ticket in tickets:
            flow.take(ticket)
        assert flow.room() == 4
    with Flow(Gateway(ScriptedTeacher())) as batched:  # round-based: nothing is sent ahead
        assert batched.room() == 0


def test_taking_twice_counts_once():
    gateway = Gateway(SessionScriptedTeacher(in_flight=2))
    with Flow(gateway) as flow:
        ticket = flow.submit(calls(1)[0], "responses")
        assert flow.take(ticket) is flow.take(ticket)
        assert gateway.stats["responses"].requests == 1


class MemoryJournal:
    def __init__(self, items=()):
        self.items = dict(items)
        self.hits = 0

    def get(self, request_id):
        found = self.items.get(request_id)
        self.hits += found is not None
        return found

    def put_many(self, items):
        self.items.update(items)

    def sync(self):
        pass


@pytest.mark.parametrize("order_seed", range(3))
def test_calls_sent_ahead_answer_the_later_submit_once_with_the_same_outcomes_and_counts(order_seed):
    # half of the calls were answered before (a resumed run): they come from the journal, counted as cached
    warm = MemoryJournal()
    Gateway(ScriptedTeacher(faults=flaky), max_attempts=3, journal=warm).run(calls(40)[:20], "responses")
    plain = Gateway(ScriptedTeacher(faults=flaky), max_attempts=3, journal=MemoryJournal(warm.items))
    expected = plain.run(calls(40), "responses")

    teacher = SessionScriptedTeacher(in_flight=6, order_seed=order_seed, faults=flaky)
    journal = MemoryJournal(warm.items)
    gateway = Gateway(teacher, max_attempts=3, journal=journal)
    with gateway.open_flow() as flow:
        for call in calls(40)[::2]:  # every other call sent ahead, the rest not
            flow.send_ahead(call, "responses")
        got = gateway.run(calls(40), "responses")  # joins the open flow
    assert summary(got) == summary(expected)
    want = {k: v for k, v in plain.stats["responses"].as_dict().items() if k not in TIMELESS}
    assert {k: v for k, v in gateway.stats["responses"].as_dict().items() if k not in TIMELESS} == want
    assert want["cached"] > 0 and any(o.attempts > 1 for o in got)
    assert gateway.teacher_calls == plain.teacher_calls == len(teacher.calls)  # nothing asked twice
    assert journal.hits == plain.journal.hits  # each journaled request looked up once


def small_config():
    return load_config(
        overrides={"generation": {"num": 30, "prompts_per_round": 4, "min_prompts_per_round": 4, "max_attempts": 2}}
    )


def run_files(out):
    return {name: (out / name).read_bytes() for name in ("train.jsonl", "rejected.jsonl")}


@pytest.fixture(scope="module")
def round_based(tmp_path_factory):
    out = tmp_path_factory.mktemp("rounds") / "run"
    teacher = ScriptedTeacher(faults=flaky)
    generate(small_config(), GENERAL_SEEDS, out, teacher=teacher)
    return out, teacher


@pytest.mark.parametrize(("in_flight", "order_seed"), [(1, 0), (3, 1), (16, 2), (64, 3)])
def test_a_streaming_run_keeps_the_rows_of_a_round_based_run(tmp_path, round_based, in_flight, order_seed):
    batched_out, batched_teacher = round_based
    teacher = SessionScriptedTeacher(in_flight=in_flight, order_seed=order_seed, faults=flaky)
    out = tmp_path / "run"
    generate(small_config(), GENERAL_SEEDS, out, teacher=teacher)
    assert run_files(out) == run_files(batched_out)
    streamed, batched = (json.loads((o / "stats.json").read_text()) for o in (out, batched_out))
    assert streamed["run"]["rounds"] == batched["run"]["rounds"] > 1
    for stage in ("instructions", "responses"):
        counts = {k: v for k, v in streamed["teacher"]["stages"][stage].items() if k not in TIMELESS}
        assert counts == {k: v for k, v in batched["teacher"]["stages"][stage].items() if k not in TIMELESS}
    # Every request the round-based run sent went out once; the only others are responses sent
    # ahead for instructions that screening then rejected (a duplicate of one screened between).
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").open()]
    screened_out = {r["instruction"] for r in rejected if r["stage"] == "instruction_filter"}
    for request in requests_beyond(teacher.calls, batched_teacher.calls):
        assert schema_title(request) == "Response"
        assert any(text in request.messages[-1]["content"] for text in screened_out)
    assert max(teacher.held) <= in_flight


def test_without_send_ahead_a_streaming_run_sends_only_what_its_decisions_use(tmp_path, round_based):
    batched_out, batched_teacher = round_based
    generation = small_config().generation.model_copy(update={"send_ahead": False})
    teacher = SessionScriptedTeacher(in_flight=16, order_seed=2, faults=flaky)
    generate(
        small_config().model_copy(update={"generation": generation}), GENERAL_SEEDS, tmp_path / "run", teacher=teacher
    )
    assert run_files(tmp_path / "run") == run_files(batched_out)
    assert requests_beyond(teacher.calls, batched_teacher.calls) == []


def test_responses_and_the_next_round_overlap_what_is_in_flight(tmp_path):
    teacher = SessionScriptedTeacher(in_flight=16)
    config = load_config(overrides={"generation": {"num": 40, "prompts_per_round": 6, "min_prompts_per_round": 4}})
    out = tmp_path / "run"
    summary = generate(config, GENERAL_SEEDS, out, teacher=teacher)
    assert summary.stats["run"]["rounds"] > 2
    titles = [title for event, title, _ in teacher.log if event == "submit"]
    first_response = titles.index("Response")
    # a response request went out while instruction requests of the same round were still unsent
    # or unanswered, and instruction requests of round 2 went out before round 1's last response
    assert "NewInstructions" in titles[first_response:]
    finished = [title for event, title, _ in teacher.log if event == "finish"]
    assert finished.index("Response") < len(finished) - finished[::-1].index("NewInstructions") - 1
    assert max(teacher.held) <= 16  # the cap holds (how full it runs is the benchmark's to measure)
    # the next round's instructions are screened while this round's responses decode: a response
    # request of round k+1 goes out before the last response of round k has finished
    rows = [json.loads(line) for name in ("train.jsonl", "rejected.jsonl") for line in (out / name).open()]
    round_of = {
        r["meta"]["response_request"]["id"]: r["meta"]["round"] for r in rows if "response_request" in r["meta"]
    }
    events = [(event, round_of.get(r.request_id("scripted", "v1", "scripted"))) for event, t, r in teacher.log]
    last_finish = {k: max(i for i, e in enumerate(events) if e == ("finish", k)) for k in set(round_of.values())}
    first_submit = {k: min(i for i, e in enumerate(events) if e == ("submit", k)) for k in set(round_of.values())}
    assert any(first_submit[k + 1] < last_finish[k] for k in last_finish if k + 1 in first_submit)


def test_a_streamed_journal_replays_round_based_without_the_teacher(tmp_path):
    out = tmp_path / "run"
    generate(small_config(), GENERAL_SEEDS, out, teacher=SessionScriptedTeacher(in_flight=8, faults=flaky))
    first = run_files(out)
    replay = SessionScriptedTeacher(in_flight=0, faults=flaky)  # in_flight 0: round-based batches
    generate(small_config(), GENERAL_SEEDS, out, teacher=replay)
    assert run_files(out) == first
    assert replay.calls == [] and replay.batches == []  # every answer from the journal


def test_in_flight_zero_sends_the_round_based_batches(tmp_path):
    teacher = SessionScriptedTeacher(in_flight=8)
    gateway = Gateway(teacher)
    with Flow(gateway, in_flight=0) as flow:
        assert not flow.streaming
        tickets = [flow.submit(c, "responses") for c in calls(6)]
        assert [flow.take(t).ok for t in tickets] == [True] * 6
    assert teacher.batches == [6] and teacher.held == []
    assert all(schema_title(r) == "Response" for r in teacher.calls)


def test_a_request_the_teacher_refuses_fails_alone():
    class Refusing(SessionScriptedTeacher):
        def open_session(self):
            session = super().open_session()
            submit = session.submit

            def refuse(items):
                if any("Task 5." in r.messages[-1]["content"] for _, r in items):
                    raise ValueError("prompt longer than the context")
                submit(items)

            session.submit = refuse
            return session

    gateway = Gateway(Refusing(in_flight=4), max_attempts=2)
    with Flow(gateway) as flow:
        outcomes = [flow.take(t) for t in [flow.submit(c, "responses") for c in calls(9)]]
    assert [o.ok for o in outcomes] == [True] * 5 + [False] + [True] * 3
    assert outcomes[5].failure == "teacher_error" and "context" in outcomes[5].errors[0]["msg"]
    assert outcomes[5].attempts == 2
