"""Cache-key honesty and resume semantics, with the deterministic scripted teacher."""

from __future__ import annotations

import pytest

from conf.config import load_config
from generator.teachers.base import ChatRequest, Completion
from pipeline.instruct import generate
from rundir import RunExists
from tests.conftest import GENERAL_SEEDS
from tests.fakes import ScriptedTeacher, StreamingScriptedTeacher, schema_title


def config(**overrides):
    base = {"generation": {"num": 20, "min_prompts_per_round": 4}}
    for section, values in overrides.items():
        base.setdefault(section, {}).update(values)
    return load_config(overrides=base)


def stage_calls(teacher: ScriptedTeacher) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in teacher.calls:
        counts[schema_title(request)] = counts.get(schema_title(request), 0) + 1
    return counts


def test_unchanged_rerun_makes_zero_teacher_calls(tmp_path):
    first = StreamingScriptedTeacher()
    generate(config(), GENERAL_SEEDS, tmp_path, teacher=first)
    before = (tmp_path / "train.jsonl").read_bytes()
    again = StreamingScriptedTeacher()
    summary = generate(config(), GENERAL_SEEDS, tmp_path, teacher=again)
    assert again.calls == [] and summary.stats["teacher"]["calls"] == 0
    assert summary.stats["teacher"]["cached"] == len(first.calls)
    assert (tmp_path / "train.jsonl").read_bytes() == before
    assert summary.manifest["version"] == 2


def test_changed_response_sampling_resends_only_responses(tmp_path):
    first = ScriptedTeacher()
    generate(config(), GENERAL_SEEDS, tmp_path, teacher=first)
    changed = ScriptedTeacher()
    generate(config(generation={"response_sampling": {"temperature": 0.2}}), GENERAL_SEEDS, tmp_path, teacher=changed)
    assert stage_calls(changed) == {"Response": stage_calls(first)["Response"]}


def test_changed_template_inputs_or_revision_resend_what_they_affect(tmp_path):
    generate(config(), GENERAL_SEEDS, tmp_path / "a", teacher=ScriptedTeacher())
    other_revision = ScriptedTeacher(revision="v2")
    generate(config(), GENERAL_SEEDS, tmp_path / "a", teacher=other_revision)
    assert stage_calls(other_revision)["NewInstructions"] > 0  # nothing can be reused
    domain = ScriptedTeacher(revision="v2")
    generate(config(generation={"domain": "cooking"}), GENERAL_SEEDS, tmp_path / "a", teacher=domain)
    assert stage_calls(domain)["NewInstructions"] > 0  # the instruction prompt changed


def test_changed_seed_bytes_change_the_requests(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_bytes(GENERAL_SEEDS.read_bytes())
    generate(config(), seeds, tmp_path / "run", teacher=ScriptedTeacher())
    seeds.write_bytes(GENERAL_SEEDS.read_bytes().replace(b"autumn", b"winter"))
    changed = ScriptedTeacher()
    generate(config(), seeds, tmp_path / "run", teacher=changed)
    assert stage_calls(changed).get("NewInstructions", 0) > 0


def test_no_resume_refuses_an_existing_run(tmp_path):
    generate(config(), GENERAL_SEEDS, tmp_path, teacher=ScriptedTeacher())
    with pytest.raises(RunExists):
        generate(config(), GENERAL_SEEDS, tmp_path, teacher=ScriptedTeacher(), resume=False)


def test_teacher_exceptions_and_truncation_are_retried_then_quarantined(tmp_path):
    class Flaky(ScriptedTeacher):
        raised = 0

        def generate(self, requests):
            # A batch holding a poisoned request fails as a whole, as a real batch call would;
            # the retry carries new seeds, so it gets through.
            if any(r.seed is not None and r.seed % 5 == 0 for r in requests):
                Flaky.raised += 1
                raise ConnectionError("teacher hiccup")
            return super().generate(requests)

    def faults(request: ChatRequest) -> Completion | None:
        if schema_title(request) == "Response" and "bread" in request.messages[-1]["content"]:
            return Completion(text='{"output": "cut', finish_reason="length")  # every attempt
        return None

    summary = generate(config(generation={"num": 40}), GENERAL_SEEDS, tmp_path, teacher=Flaky(faults))
    funnel = summary.funnel
    assert Flaky.raised > 0
    assert funnel["kept"] + funnel["rejected_total"] == funnel["candidates"]
    assert funnel["rejected"]["validation"]["truncated"] > 0
    stages = summary.stats["teacher"]["stages"]
    assert stages["instructions"]["retries"] > 0 and stages["responses"]["quarantined"] > 0
    rejected = [line for line in (tmp_path / "rejected.jsonl").read_text().splitlines() if '"truncated"' in line]
    assert all("bread" in line for line in rejected)
