"""The run skeleton (pipeline/skeleton.py) with a tiny strategy: what it owns around any kind of run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import pipeline.skeleton
from generator.gateway import Call
from generator.teachers.base import SamplingConfig
from generator.teachers.executor import ExecutorConfig
from generator.teachers.registry import default_teacher_config
from pipeline.skeleton import Outcome, RunContext, TeacherPlan, execute
from prompts import Record, get_spec
from rundir import RunDir
from tests.fakes import ScriptedTeacher

PLAN = TeacherPlan(default_teacher_config(), ExecutorConfig(), seed=0, max_attempts=2)


class Asks:
    """Asks the teacher for one set of new instructions; keeps one row, rejects another."""

    target = 1

    def __init__(self, needs_teacher: bool = True, fail: bool = False):
        self.needs_teacher = needs_teacher
        self.fail = fail
        self.seen: RunContext | None = None

    def run(self, ctx: RunContext) -> Outcome:
        self.seen = ctx
        if self.fail:
            raise RuntimeError("strategy failed")
        stats = {"run": {"kind": "test"}}
        if self.needs_teacher:
            spec = get_spec("new_instructions")
            messages = spec.render(demos=[{"instruction": "Say hi.", "input": ""}], num=2)
            call = Call(spec, messages, SamplingConfig(temperature=0.7, top_p=1.0, max_tokens=64), key="k")
            outcome = ctx.teacher_gateway().run([call], "instructions")[0]
            stats["asked"] = {"ok": outcome.ok}
        ctx.on_round(1, 1)
        kept = Record(id="a", instruction="Say hi.", output="hi")
        dropped = Record(id="b", instruction="x").reject("test", "because")
        return Outcome([kept, dropped], {"kind": "test"}, stats, {"extra.txt": b"more\n"})


def test_builds_closes_the_teacher_and_publishes(tmp_path, monkeypatch):
    built: list[ScriptedTeacher] = []
    monkeypatch.setattr(pipeline.skeleton, "make_teacher", lambda *a, **k: built.append(ScriptedTeacher()) or built[0])
    summary = execute(Asks(), tmp_path / "run", PLAN)
    assert len(built) == 1 and built[0].closed
    assert summary.funnel["kept"] == 1 and summary.funnel["rejected_total"] == 1
    assert summary.stats["teacher"]["calls"] == 1 and summary.stats["asked"] == {"ok": True}
    version = RunDir(tmp_path / "run").read()
    assert version.read_bytes("extra.txt") == b"more\n"
    assert [r.id for r in version.records("train.jsonl")] == ["a"]
    assert version.read_yaml("config.yaml") == {"kind": "test"}
    progress = json.loads((tmp_path / "run" / "progress.json").read_text())
    assert progress["stage"] == "done" and progress["version"] == 1 and progress["round"] == 1


def test_a_given_teacher_is_used_and_left_open_and_a_rerun_answers_from_the_journal(tmp_path):
    first, second = ScriptedTeacher(), ScriptedTeacher()
    execute(Asks(), tmp_path / "run", PLAN, teacher=first)
    summary = execute(Asks(), tmp_path / "run", PLAN, teacher=second)
    assert not first.closed and not second.closed
    assert len(first.calls) == 1 and second.calls == []
    assert summary.stats["teacher"]["cached"] == 1 and summary.manifest["version"] == 2


def test_the_teacher_is_closed_when_the_strategy_fails(tmp_path, monkeypatch):
    teacher = ScriptedTeacher()
    monkeypatch.setattr(pipeline.skeleton, "make_teacher", lambda *a, **k: teacher)
    with pytest.raises(RuntimeError, match="strategy failed"):
        execute(Asks(fail=True), tmp_path / "run", PLAN)
    assert teacher.closed
    assert RunDir(tmp_path / "run").current_version == 0  # nothing published


def test_no_teacher_no_gateway_and_no_live_progress_when_not_asked(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no teacher should be built")

    monkeypatch.setattr(pipeline.skeleton, "make_teacher", refuse)
    strategy = Asks(needs_teacher=False)
    summary = execute(strategy, tmp_path / "run", PLAN, live=False)
    assert strategy.seen is not None and strategy.seen.gateway is None and strategy.seen.progress is None
    with pytest.raises(RuntimeError, match="without a teacher"):
        strategy.seen.teacher_gateway()
    assert "teacher" not in summary.stats
    assert not (tmp_path / "run" / "progress.json").exists()


def test_resume_false_refuses_an_existing_journal(tmp_path):
    from rundir import RunExists

    execute(Asks(), tmp_path / "run", PLAN, teacher=ScriptedTeacher())
    with pytest.raises(RunExists):
        execute(Asks(), tmp_path / "run", PLAN, teacher=ScriptedTeacher(), resume=False)


class SavesTeacher(Asks):
    """Saves a config with the plan's teacher section, as every real strategy does."""

    def run(self, ctx: RunContext) -> Outcome:
        outcome = super().run(ctx)
        return Outcome(outcome.records, {"kind": "test", "teacher": {"enforce_eager": "auto"}}, outcome.stats)


@pytest.mark.parametrize(("rows", "eager"), [(40, True), (599, True), (600, False), (1000, False)])
def test_an_auto_engine_is_decided_by_the_run_size_and_saved_as_decided(tmp_path, monkeypatch, rows, eager):
    import generator.teachers.vllm as vllm_teacher

    monkeypatch.setattr(vllm_teacher, "is_cpu_build", lambda: True)
    started = []
    monkeypatch.setattr(
        pipeline.skeleton, "make_teacher", lambda config, *a: started.append(config) or ScriptedTeacher()
    )
    plan = TeacherPlan(vllm_teacher.VLLMConfig(), ExecutorConfig(), seed=0, max_attempts=2, rows=rows)
    execute(SavesTeacher(), tmp_path / "run", plan)
    assert [c.enforce_eager for c in started] == [eager]
    assert RunDir(tmp_path / "run").read().read_yaml("config.yaml")["teacher"]["enforce_eager"] is eager
    # a teacher handed in was started by someone else: the saved section stays as the user wrote it
    execute(SavesTeacher(), tmp_path / "given", plan, teacher=ScriptedTeacher())
    assert RunDir(tmp_path / "given").read().read_yaml("config.yaml")["teacher"] == {"enforce_eager": "auto"}


def test_auto_is_compiled_on_a_gpu_and_wherever_no_run_size_decided_it(monkeypatch):
    import generator.teachers.vllm as vllm_teacher

    monkeypatch.setattr(vllm_teacher, "is_cpu_build", lambda: False)
    assert vllm_teacher.VLLMConfig().for_run(10).enforce_eager is False
    assert vllm_teacher.VLLMConfig(enforce_eager=True).for_run(10**6).enforce_eager is True
    monkeypatch.setattr(vllm_teacher, "is_cpu_build", lambda: True)
    assert vllm_teacher.VLLMConfig(enforce_eager=False).for_run(10).enforce_eager is False
    # a server or a baseline builds the engine without a run size: compiled, for long use
    undecided = vllm_teacher.VLLMTeacher(vllm_teacher.VLLMConfig(), model=SimpleNamespace(path="m"))
    assert undecided.engine_args()["enforce_eager"] is False
