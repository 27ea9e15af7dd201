from __future__ import annotations

from generator.gateway import Call, Gateway, derive_seed
from generator.teachers.base import ChatRequest, Completion, SamplingConfig
from prompts import get_spec
from tests.fakes import ScriptedTeacher

SPEC = get_spec("response")


def calls(n: int) -> list[Call]:
    return [
        Call(SPEC, SPEC.render(instruction=f"Task {i}.", input=""), SamplingConfig(), key=f"k{i}") for i in range(n)
    ]


def test_one_batch_per_attempt_and_parsed_outputs():
    teacher = ScriptedTeacher()
    outcomes = Gateway(teacher).run(calls(7), "responses")
    assert teacher.batches == [7]
    assert all(o.ok and o.parsed.output for o in outcomes)
    assert [o.call.key for o in outcomes] == [f"k{i}" for i in range(7)]


def test_seeds_are_deterministic_and_differ_per_attempt():
    assert derive_seed(0, "k", 0) == derive_seed(0, "k", 0)
    assert derive_seed(0, "k", 0) != derive_seed(0, "k", 1) != derive_seed(1, "k", 0)


def test_invalid_and_truncated_outputs_are_retried_then_quarantined():
    attempts: dict[str, int] = {}

    def faults(request: ChatRequest) -> Completion | None:
        key = request.messages[-1]["content"].split(".")[0]
        attempts[key] = attempts.get(key, 0) + 1
        if key == "Task 0":
            return Completion(text='{"output": "cut', finish_reason="length")
        if key == "Task 1" and attempts[key] == 1:
            return Completion(text="not json", finish_reason="stop")
        if key == "Task 2":
            return Completion(text='{"answer": "x"}', finish_reason="stop")
        if key == "Task 3":
            return Completion.failed("engine exploded")
        return None

    teacher = ScriptedTeacher(faults)
    gateway = Gateway(teacher, max_attempts=3)
    outcomes = gateway.run(calls(5), "responses")
    by_key = {o.call.key: o for o in outcomes}
    assert by_key["k0"].failure == "truncated" and by_key["k0"].attempts == 3
    assert by_key["k0"].text == '{"output": "cut'  # raw text kept, never repaired
    assert by_key["k1"].ok and by_key["k1"].attempts == 2
    assert by_key["k2"].failure == "schema_error" and by_key["k2"].errors
    assert by_key["k3"].failure == "teacher_error"
    assert by_key["k4"].ok and by_key["k4"].attempts == 1
    assert teacher.batches == [5, 4, 3]  # retries are batched too
    assert len(set(by_key["k0"].request_ids)) == 3  # a retry is a new request (new seed)
    stats = gateway.stats["responses"]
    assert (stats.requests, stats.attempts, stats.retries, stats.quarantined) == (5, 12, 7, 3)


def test_a_raising_teacher_becomes_per_request_failures():
    class Exploding(ScriptedTeacher):
        def generate(self, requests):
            raise RuntimeError("boom")

    outcomes = Gateway(Exploding(), max_attempts=2).run(calls(2), "responses")
    assert [o.failure for o in outcomes] == ["teacher_error", "teacher_error"]
    assert "boom" in outcomes[0].errors[0]["msg"]


def test_request_id_covers_everything_that_changes_the_output():
    base = ChatRequest(messages=[{"role": "user", "content": "hi"}], sampling=SamplingConfig(), seed=1)
    ident = base.request_id("m", "r", "e")
    assert ident == base.request_id("m", "r", "e")
    variants = [
        base.model_copy(update={"seed": 2}),
        base.model_copy(update={"sampling": SamplingConfig(temperature=0.1)}),
        base.model_copy(update={"messages": [{"role": "user", "content": "hi!"}]}),
        base.model_copy(update={"json_schema": {"type": "object"}}),
    ]
    assert all(v.request_id("m", "r", "e") != ident for v in variants)
    assert len({base.request_id(*x) for x in [("m2", "r", "e"), ("m", "r2", "e"), ("m", "r", "e2")]}) == 3


def test_a_failing_batch_is_split_until_the_culprit_is_alone():
    class Poisoned(ScriptedTeacher):
        def generate(self, requests):
            self.batches.append(len(requests))
            if any("Task 5." in r.messages[-1]["content"] for r in requests):
                raise ValueError("bad request in batch")
            return [self.answer(r) for r in requests]

    teacher = Poisoned()
    outcomes = Gateway(teacher, max_attempts=1).run(calls(8), "responses")
    assert [o.ok for o in outcomes] == [True] * 5 + [False] + [True] * 2
    assert outcomes[5].failure == "teacher_error" and "bad request" in outcomes[5].errors[0]["msg"]
    assert teacher.batches[0] == 8 and len(teacher.batches) <= 1 + 2 * 3  # log2(8) levels of halves


def test_a_dead_teacher_stops_the_run_instead_of_quarantining_everything():
    from generator.teachers.base import TeacherUnavailable

    class Dead(ScriptedTeacher):
        def generate(self, requests):
            raise TeacherUnavailable("engine died")

    import pytest

    with pytest.raises(TeacherUnavailable):
        Gateway(Dead()).run(calls(3), "responses")


def test_guided_choice_calls_send_choices_and_check_membership():
    spec = get_spec("classify")
    labels = [{"name": "yes", "description": ""}, {"name": "no", "description": ""}]

    def call(i: int) -> Call:
        messages = spec.render(task="Is it?", labels=labels, text=f"text {i}")
        return Call(spec, messages, SamplingConfig(temperature=0.0), key=f"c{i}", choices=("yes", "no"))

    def faults(request: ChatRequest) -> Completion | None:
        text = request.messages[-1]["content"]
        if "text 0" in text:
            return Completion(text="maybe", finish_reason="stop")  # outside the label set, every time
        if "text 1" in text:
            return Completion(text=" no\n", finish_reason="stop")
        return None

    teacher = ScriptedTeacher(faults)
    outcomes = Gateway(teacher, max_attempts=2).run([call(i) for i in range(3)], "verification")
    assert all(r.choices == ["yes", "no"] and r.json_schema is None for r in teacher.calls)
    assert outcomes[0].failure == "schema_error" and outcomes[0].attempts == 2
    assert "not one of" in outcomes[0].errors[0]["msg"]
    assert outcomes[1].ok and outcomes[1].parsed.label == "no"  # surrounding whitespace is not part of the answer
    assert outcomes[2].ok and outcomes[2].parsed.label in ("yes", "no")


def test_a_session_teacher_gets_a_batch_streamed_with_the_same_outcomes():
    from tests.fakes import SessionScriptedTeacher

    def flaky(request):
        return Completion(text='{"output": "cut', finish_reason="length") if request.seed % 3 == 0 else None

    batched, streamed = Gateway(ScriptedTeacher(faults=flaky)), Gateway(SessionScriptedTeacher(4, faults=flaky))
    want, got = batched.run(calls(20), "responses"), streamed.run(calls(20), "responses")
    assert [(o.text, o.attempts, o.request_ids, o.failure) for o in got] == [
        (o.text, o.attempts, o.request_ids, o.failure) for o in want
    ]
    assert any(o.attempts > 1 for o in got)
    same = ("requests", "attempts", "retries", "quarantined", "completion_tokens")
    assert [getattr(streamed.stats["responses"], k) for k in same] == [
        getattr(batched.stats["responses"], k) for k in same
    ]
    assert streamed.teacher.batches == [] and max(streamed.teacher.held) == 4  # streamed, 4 at a time
