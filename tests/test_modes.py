"""Evol-Instruct, augmentation and multi-turn: lineage, screens, accounting (scripted teacher),
and each mode with the real vLLM CPU engine at small counts."""

from __future__ import annotations

import json

import pytest

from conf.config import load_config
from generator.teachers.base import Completion
from pipeline.instruct import generate
from prompts import Record
from tests.conftest import GENERAL_SEEDS
from tests.fakes import ScriptedTeacher, schema_title


def config(**sections):
    base = {"generation": {"num": 8, "min_prompts_per_round": 4}}
    return load_config(overrides={**base, **sections})


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_evol_rows_carry_lineage_and_pass_the_elimination_rules(tmp_path):
    teacher = ScriptedTeacher()
    summary = generate(config(evol={"rounds": 2}), GENERAL_SEEDS, tmp_path / "run", teacher=teacher)
    train, rejected = read(tmp_path / "run" / "train.jsonl"), read(tmp_path / "run" / "rejected.jsonl")
    by_id = {r["id"]: r for r in train}
    evolved = [r for r in train if "evolved_from" in r["meta"]]
    first = [r for r in evolved if r["meta"]["evol"]["round"] == 1]
    second = [r for r in evolved if r["meta"]["evol"]["round"] == 2]
    assert first and second
    for row in evolved:
        parent = by_id[row["meta"]["evolved_from"]["id"]]  # every parent is a kept row
        assert row["meta"]["evolved_from"]["instruction"] == parent["instruction"]
        assert row["instruction"].startswith(parent["instruction"]) and row["instruction"] != parent["instruction"]
        assert row["meta"]["evol"]["operation"] in ("add_constraints", "deepen", "concretize", "reasoning", "breadth")
        assert row["meta"]["instruction_request"]["template"]["name"] == "evolve"
        assert row["output"] and "evol_elimination" in row["meta"]["filters"]
        assert 0 < row["meta"]["filters"]["evol_elimination"] <= 0.9  # ROUGE-L to the parent
    for row in second:
        assert by_id[row["meta"]["evolved_from"]["id"]]["meta"]["evol"]["round"] == 1
        assert row["meta"]["evol"]["root"] == by_id[row["meta"]["evolved_from"]["id"]]["meta"]["evol"]["root"]
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())["modes"]["evol"]
    assert (
        stats["kept"] == len(evolved)
        and sum(o.get("created", 0) for o in stats["operations"].values()) == (stats["candidates"])
    )
    assert summary.funnel["kept"] == len(train) and summary.funnel["candidates"] == len(train) + len(rejected)


def test_evol_elimination_rejects_copies_and_sorry_answers_with_reasons(tmp_path):
    def faults(request):
        title = schema_title(request)
        body = request.messages[-1]["content"]
        if title == "EvolvedInstruction" and "Name" in body:  # copies its parent: no information gain
            parent = body.split("Given prompt:\n", 1)[1].split("\n\n", 1)[0]
            return Completion(text=json.dumps({"instruction": parent}), finish_reason="stop")
        if title == "EvolvedInstruction" and "List" in body:
            return Completion(
                text=json.dumps({"instruction": "Rewrite the #Given Prompt# to be longer."}), finish_reason="stop"
            )
        if title == "Response" and "trade-offs" in body:
            return Completion(text=json.dumps({"output": "Sorry, I cannot help with that."}), finish_reason="stop")
        return None

    teacher = ScriptedTeacher(faults=faults)
    generate(
        config(evol={"rounds": 1}, generation={"num": 16, "min_prompts_per_round": 4}),
        GENERAL_SEEDS,
        tmp_path / "run",
        teacher=teacher,
    )
    rejected = [r for r in read(tmp_path / "run" / "rejected.jsonl") if "evolved_from" in r["meta"]]
    reasons = {(r["stage"], r["reason"]) for r in rejected}
    assert ("evol_elimination", "sorry_short_response") in reasons
    assert ("evol_elimination", "copied_prompt_words") in reasons or (
        "instruction_filter",
        "exact_duplicate",
    ) in reasons
    # an exact copy of the parent never reaches elimination: exact dedup sees the parent first
    copies = [r for r in rejected if r["instruction"] == r["meta"]["evolved_from"]["instruction"]]
    assert all(r["reason"] in ("exact_duplicate", "no_information_gain") for r in copies)


def test_paraphrase_and_round_trip_rows_name_their_source_and_near_copies_are_rejected(tmp_path):
    teacher = ScriptedTeacher()
    generate(config(augment={"paraphrases": 2, "pivots": ["French"]}), GENERAL_SEEDS, tmp_path / "run", teacher=teacher)
    train, rejected = read(tmp_path / "run" / "train.jsonl"), read(tmp_path / "run" / "rejected.jsonl")
    sources = {r["id"]: r for r in train if "augmented_from" not in r["meta"]}
    augmented = [r for r in train + rejected if "augmented_from" in r["meta"]]
    paraphrases = [r for r in augmented if r["meta"]["augmentation"]["method"] == "paraphrase"]
    trips = [r for r in augmented if r["meta"]["augmentation"]["method"] == "round_trip"]
    assert len(paraphrases) == 2 * len(sources) and len(trips) == len(sources)
    for row in augmented:
        source = sources[row["meta"]["augmented_from"]["id"]]
        assert row["output"] == source["output"] and row["input"] == source["input"]  # the answer carries over
    kept_paraphrases = [r for r in paraphrases if "stage" not in r]
    assert kept_paraphrases and all(r["instruction"].startswith("In other words:") for r in kept_paraphrases)
    # the scripted round trip only adds language tags: a near copy of its source, rejected naming it
    for row in trips:
        assert row["meta"]["augmentation"]["pivot"] == "French" and row["meta"]["augmentation"]["pivot_text"]
        assert row["stage"] == "instruction_filter" and row["reason"] == "rouge_l_near_duplicate"
        assert row["detail"]["duplicate_of"] == row["meta"]["augmented_from"]["id"]


def test_augmenting_seeds_uses_their_answers(tmp_path):
    teacher = ScriptedTeacher()
    generate(config(augment={"source": "seeds", "paraphrases": 1}), GENERAL_SEEDS, tmp_path / "run", teacher=teacher)
    rows = read(tmp_path / "run" / "train.jsonl") + read(tmp_path / "run" / "rejected.jsonl")
    augmented = [r for r in rows if "augmented_from" in r["meta"]]
    seeds = {json.loads(line)["id"]: json.loads(line) for line in GENERAL_SEEDS.read_text().splitlines()}
    assert augmented and {r["meta"]["augmented_from"]["id"] for r in augmented} <= set(seeds)
    for row in augmented:
        assert row["output"] == seeds[row["meta"]["augmented_from"]["id"]]["instances"][0]["output"]


def test_multi_turn_rows_alternate_roles_and_failures_keep_what_they_have(tmp_path):
    def faults(request):
        body = request.messages[-1]["content"]
        # the second follow-up of rows with an even-length first line fails on every attempt
        if schema_title(request) == "FollowUp" and "example of" in body and len(body.splitlines()[2]) % 2 == 0:
            return Completion(text="{not json", finish_reason="stop")
        return None

    teacher = ScriptedTeacher(faults=faults)
    generate(config(multi_turn={"turns": 2}), GENERAL_SEEDS, tmp_path / "run", teacher=teacher)
    train = read(tmp_path / "run" / "train.jsonl")
    assert len(train) == 8
    full = [r for r in train if r["meta"]["multi_turn"]["added"] == 2]
    short = [r for r in train if r["meta"]["multi_turn"]["added"] == 1]
    assert full and short
    for row in train:
        messages = row["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * (1 + row["meta"]["multi_turn"]["added"])
        assert messages[1]["content"] == row["output"] and messages[2]["content"].startswith("Can you give")
        assert Record.from_row(row).messages() == messages  # turns survive the round trip through disk
    for row in short:
        assert row["meta"]["multi_turn"]["stopped"]["leg"] == "question"
        assert row["meta"]["multi_turn"]["stopped"]["failure"] == "invalid_json"
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())["modes"]["multi_turn"]
    assert stats["rows_extended"] == 8 and stats["exchanges_added"] == 2 * len(full) + len(short)


def test_modes_are_deterministic_and_resume_from_the_journal(tmp_path):
    cfg = config(evol={"rounds": 1}, augment={"paraphrases": 1}, multi_turn={"turns": 1})
    generate(cfg, GENERAL_SEEDS, tmp_path / "a", teacher=ScriptedTeacher())
    generate(cfg, GENERAL_SEEDS, tmp_path / "b", teacher=ScriptedTeacher())
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    again = ScriptedTeacher()
    generate(cfg, GENERAL_SEEDS, tmp_path / "a", teacher=again)
    assert again.calls == []  # everything answered from the journal
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()


def test_bad_mode_config_names_the_field(tmp_path):
    from conf.yamlconf import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("evol:\n  rounds: 2\n  operations: [deepen, widen]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:3" in str(err.value) and "evol.operations" in str(err.value)
    from pipeline.filtering import FilterSetupError

    with pytest.raises(FilterSetupError, match=r"evol\.elimination"):
        generate(
            config(evol={"rounds": 1, "elimination": {"nope": 1}}),
            GENERAL_SEEDS,
            tmp_path / "r",
            teacher=ScriptedTeacher(),
        )
    assert not (tmp_path / "r").exists()


# --- the real engine ----------------------------------------------------------------------------


@pytest.mark.vllm
@pytest.mark.slow
def test_every_mode_with_the_real_engine_gives_valid_rows_with_lineage(vllm_teacher, tmp_path):
    cfg = config(
        generation={"num": 4, "min_prompts_per_round": 4, "max_rounds": 3},
        evol={"rounds": 1},
        augment={"paraphrases": 1, "pivots": ["French"]},
        multi_turn={"turns": 1},
    )
    summary = generate(cfg, GENERAL_SEEDS, tmp_path / "run", teacher=vllm_teacher)
    train, rejected = read(tmp_path / "run" / "train.jsonl"), read(tmp_path / "run" / "rejected.jsonl")
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    stages = stats["teacher"]["stages"]
    for stage in ("evol", "evol_responses", "augment", "follow_up", "follow_up_answers"):
        assert stages[stage]["requests"] > 0, stage
    assert summary.funnel["candidates"] == len(train) + len(rejected)
    rows = train + rejected
    evolved = [r for r in rows if "evolved_from" in r["meta"]]
    augmented = [r for r in rows if "augmented_from" in r["meta"]]
    assert evolved and augmented
    ids = {r["id"] for r in rows}
    for row in evolved:
        assert row["meta"]["evolved_from"]["id"] in ids and row["meta"]["evol"]["operation"]
    for row in augmented:
        assert row["meta"]["augmented_from"]["id"] in ids
        if row["meta"]["augmentation"]["method"] == "round_trip" and "pivot_text" in row["meta"]["augmentation"]:
            assert row["meta"]["augmentation"]["pivot"] == "French"
    for row in train:
        assert row["instruction"].strip() and row["output"].strip()
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
    assert any(len(r["messages"]) == 4 for r in train)  # at least one row got its follow-up exchange


def test_refiltering_a_run_with_modes_replays_the_same_decisions(tmp_path):
    from pipeline.refilter import refilter

    cfg = config(evol={"rounds": 2}, augment={"paraphrases": 1, "pivots": ["French"]}, multi_turn={"turns": 1})
    generate(cfg, GENERAL_SEEDS, tmp_path / "run", teacher=ScriptedTeacher())
    before = {r["id"]: r for r in read(tmp_path / "run" / "train.jsonl")}
    assert any("evolved_from" in r["meta"] for r in before.values())
    assert any("augmented_from" in r["meta"] for r in before.values())
    summary = refilter(tmp_path / "run", seeds_path=GENERAL_SEEDS)
    after = {r["id"]: r for r in read(tmp_path / "run" / "train.jsonl")}
    assert summary.manifest["version"] == 2
    assert set(after) == set(before)  # no quota cut of mode rows, no ROUGE-L on evolved rows
    assert all(after[i]["messages"] == before[i]["messages"] for i in after)  # follow-up turns kept


@pytest.mark.parametrize(("in_flight", "order_seed"), [(4, 0), (16, 1)])
def test_streamed_modes_send_each_answer_as_its_question_arrives_and_keep_the_batched_rows(
    tmp_path, in_flight, order_seed
):
    from tests.fakes import SessionScriptedTeacher, requests_beyond, schema_title

    cfg = config(evol={"rounds": 2}, augment={"paraphrases": 1, "pivots": ["French"]}, multi_turn={"turns": 2})
    batched = ScriptedTeacher()
    base = generate(cfg, GENERAL_SEEDS, tmp_path / "batched", teacher=batched)
    streamed = SessionScriptedTeacher(in_flight=in_flight, order_seed=order_seed)
    summary = generate(cfg, GENERAL_SEEDS, tmp_path / "streamed", teacher=streamed)
    for name in ("train.jsonl", "rejected.jsonl"):
        assert (tmp_path / "streamed" / name).read_text() == (tmp_path / "batched" / name).read_text()
    # beyond the round-based requests, only Self-Instruct responses sent ahead (tests/test_flow.py)
    assert all(schema_title(r) == "Response" for r in requests_beyond(streamed.calls, batched.calls))
    for stage in ("evol", "evol_responses", "augment", "follow_up", "follow_up_answers"):
        got, want = summary.stats["teacher"]["stages"][stage], base.stats["teacher"]["stages"][stage]
        assert {k: got[k] for k in ("requests", "attempts", "prompt_tokens", "completion_tokens")} == {
            k: want[k] for k in ("requests", "attempts", "prompt_tokens", "completion_tokens")
        }, stage
    # One evol round and one exchange, so that every question of the stage is of the same round,
    # answered in the order asked (shuffled, the first question may be the last answered): an
    # answer request went out while questions of its own stage were still unanswered.
    single = SessionScriptedTeacher(in_flight=in_flight, order_seed=order_seed, shuffle=False)
    generate(config(evol={"rounds": 1}, multi_turn={"turns": 1}), GENERAL_SEEDS, tmp_path / "single", teacher=single)
    events = [(event, title) for event, title, _ in single.log]
    for first in ("EvolvedInstruction", "FollowUp"):
        start = events.index(("submit", first))
        answer_sent = next(i for i in range(start, len(events)) if events[i] == ("submit", "Response"))
        last_question = max(i for i, event in enumerate(events) if event == ("finish", first))
        assert answer_sent < last_question, first
