from __future__ import annotations

import pytest

from conf.config import ConfigError, SeedforgeConfig, load_config


def test_defaults_are_complete_and_frozen():
    cfg = load_config()
    assert cfg.teacher.model == "embedded:smollm2-135m-instruct"
    assert [f.name for f in cfg.filters.instruction][-1] == "rouge_l"
    with pytest.raises(ValueError):
        cfg.generation.num = 3  # type: ignore[misc]
    assert SeedforgeConfig.model_validate(cfg.resolved()) == cfg


def test_yaml_and_overrides_merge(tmp_path):
    path = tmp_path / "c.yaml"
    lines = [
        "generation:",
        "  num: 7",
        "  domain: cooking",
        "filters:",
        "  instruction:",
        "    - length",
        "    - {name: rouge_l, params: {threshold: 0.5}}",
    ]
    path.write_text("\n".join(lines) + "\n")
    cfg = load_config(path, {"generation": {"num": 9}})
    assert cfg.generation.num == 9 and cfg.generation.domain == "cooking"
    assert cfg.filters.instruction[1].params == {"threshold": 0.5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("generation:\n  num: 0\n", ":2: generation.num: Input should be greater than or equal to 1"),
        ("teacher:\n  modle: x\n", ":2: teacher.modle: Extra inputs are not permitted"),
        ("generation:\n  num: 5\nfilters:\n  instruction:\n    - length\n    - nope\n", ":6: filters.instruction.1"),
        ("generation: [1, 2\n", ":2: invalid YAML"),
        ("- a\n- b\n", ":1: expected a mapping of fields"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}{expected}" in str(info.value)
