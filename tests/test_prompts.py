from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from prompts import SPECS, Record, SpecRenderError, get_spec


def test_new_instructions_renders_demos_and_count():
    spec = get_spec("new_instructions")
    demos = [{"instruction": "Sort the numbers.", "input": "3, 1, 2"}, {"instruction": "Name a fruit.", "input": ""}]
    messages = spec.render(demos=demos, num=4)
    assert [m["role"] for m in messages] == ["user"]
    text = messages[0]["content"]
    assert "1. Instruction: Sort the numbers.\n   Input: 3, 1, 2" in text
    assert "2. Instruction: Name a fruit." in text and "holding 4 new tasks" in text
    assert "Input: \n" not in text  # empty inputs are not shown


def test_response_renders_optional_input():
    spec = get_spec("response")
    with_input = spec.render(instruction="Sort these.", input="3 1 2")[0]["content"]
    without = spec.render(instruction="Name a fruit.", input="")[0]["content"]
    assert with_input.startswith("Sort these.\n\n3 1 2\n")
    assert without.startswith("Name a fruit.\n\nComplete the task")


def test_missing_variable_is_an_error_not_an_empty_string():
    with pytest.raises(SpecRenderError, match="demos"):
        get_spec("new_instructions").render(num=3)


def test_every_spec_schema_is_strict_json_schema():
    for spec in SPECS.values():
        schema = spec.json_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        json.dumps(schema)
        assert len(spec.template_hash) == 16


def test_schema_validates_and_rejects():
    spec = get_spec("new_instructions")
    ok = spec.parse('{"instructions": [{"instruction": "Do x.", "input": ""}]}')
    assert ok.instructions[0].instruction == "Do x."
    for bad in [
        '{"instructions": []}',
        '{"instructions": [{"instruction": "x"}]}',
        '{"instructions": [',
        "{}",
        '{"instructions": [{"instruction": "x", "input": "", "extra": 1}]}',
    ]:
        with pytest.raises(ValidationError):
            spec.parse(bad)


def test_bounded_schema_tightens_only_the_request():
    spec = get_spec("new_instructions")
    bounded = spec.json_schema_with({"instructions": 5})
    assert bounded["properties"]["instructions"]["maxItems"] == 5
    assert spec.json_schema["properties"]["instructions"]["maxItems"] == 20


def test_record_rows_round_trip_and_messages():
    record = Record(id="r1", instruction="Sort.", input="3 1 2", output="1 2 3", meta={"a": 1})
    assert record.messages() == [
        {"role": "user", "content": "Sort.\n\n3 1 2"},
        {"role": "assistant", "content": "1 2 3"},
    ]
    rejected = record.reject("filter", "too_short", words=1)
    row = rejected.to_row()
    assert row["stage"] == "filter" and row["reason"] == "too_short" and row["detail"] == {"words": 1}
    assert Record.from_row(row) == rejected
    labeled = Record(id="c1", kind="classification", text="Great phone", label="positive")
    assert Record.from_row(labeled.to_row()) == labeled
    with pytest.raises(ValidationError):
        Record(id="x", unknown_field=1)  # type: ignore[call-arg]
    assert labeled.labeled and not record.labeled and labeled.answer() == "positive"


def test_a_conversation_is_built_by_the_record_and_checked_when_read_back():
    turns = [{"role": "user", "content": "And 4?"}, {"role": "assistant", "content": "Even."}]
    record = Record(id="m", instruction="Is 3 odd?", output="Yes.", turns=turns, system="Be terse.")
    assert record.multi_turn and [m["role"] for m in record.messages()] == ["system", *["user", "assistant"] * 2]
    row = record.to_row()
    assert row["system"] == "Be terse." and row["messages"] == record.messages()
    assert Record.from_row(row) == record
    assert "system" not in Record(id="s", instruction="x").to_row()  # rows without one keep their shape
    edited = {**row, "messages": [*row["messages"][:-1], {"role": "assistant", "content": "Odd."}]}
    with pytest.raises(ValueError, match="id m: `messages` differ"):
        Record.from_row(edited)
    for bad in ([turns[0]], [turns[1], turns[0]], [{"role": "user"}, turns[1]]):
        with pytest.raises(ValidationError, match="turns"):
            Record(id="t", instruction="x", turns=bad)
