"""Teacher backends as a union chosen by `backend`: a new backend is one module plus one line in
generator/teachers/registry.py. Shown here with a tiny backend registered by the test itself."""

from __future__ import annotations

from typing import Literal

import pytest
import yaml
from pydantic import Field

from conf.config import ConfigError, load_config
from generator.teachers.base import TeacherConfigBase
from generator.teachers.openai import OpenAIConfig
from generator.teachers.registry import TEACHERS, Backend, dump_teacher_config, make_teacher, parse_teacher_config
from generator.teachers.vllm import VLLMConfig
from pipeline.instruct import generate
from tests.conftest import GENERAL_SEEDS
from tests.fakes import ScriptedTeacher

VLLM_FIELDS = ["dtype", "max_model_len", "gpu_memory_utilization", "seed", "enforce_eager", "engine_args"]
OPENAI_FIELDS = ["base_urls", "api_key_env", "concurrency", "timeout", "max_retries", "backoff", "backoff_max"]
SAVED_ORDER = ["backend", "model", "revision", *VLLM_FIELDS, *OPENAI_FIELDS]


class EchoConfig(TeacherConfigBase):
    """What a new backend's module declares: its name, its defaults, its own fields."""

    backend: Literal["echo"] = "echo"
    model: str = "echo-1"
    voice: str = "plain"
    replies: int = Field(1, ge=1)


class EchoTeacher(ScriptedTeacher):
    def __init__(self, config: EchoConfig):
        super().__init__(model=config.model, revision=f"voice-{config.voice}")
        self.config = config


@pytest.fixture
def echo_backend(monkeypatch):
    monkeypatch.setitem(TEACHERS, "echo", Backend(EchoConfig, EchoTeacher))  # the one registry line


def test_a_registered_backend_is_configured_built_and_runs(echo_backend, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("teacher:\n  backend: echo\n  voice: loud\ngeneration:\n  num: 4\n")
    config = load_config(path)
    assert config.teacher == EchoConfig(voice="loud")
    teacher = make_teacher(config.teacher)
    assert isinstance(teacher, EchoTeacher) and teacher.revision == "voice-loud"

    out = tmp_path / "run"
    summary = generate(config, GENERAL_SEEDS, out)  # the pipeline builds the teacher from the config
    assert summary.funnel["kept"] == 4 and summary.stats["teacher"]["revision"] == "voice-loud"
    saved = yaml.safe_load((out / "config.yaml").read_text())["teacher"]
    assert list(saved) == [*SAVED_ORDER, "voice", "replies"]
    assert saved["backend"] == "echo" and saved["voice"] == "loud" and saved["concurrency"] == 32
    assert load_config(out / "config.yaml").teacher == config.teacher  # a saved run reads back as is


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "teacher:\n  backend: echo\n  replies: 0\n",
            ":3: teacher.replies: Input should be greater than or equal to 1",
        ),
        ("teacher:\n  backend: echo\n  dtype: half\n", ":3: teacher.dtype: Extra inputs are not permitted"),
        ("teacher:\n  backend: ech\n", ":2: teacher.backend: Input should be 'vllm', 'openai' or 'echo'"),
    ],
)
def test_a_registered_backends_errors_name_file_line_and_field(echo_backend, tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}{expected}" in str(info.value)


def test_the_backend_is_vllm_unless_named_and_each_backend_has_its_own_defaults():
    assert load_config().teacher == VLLMConfig()
    remote = load_config(overrides={"teacher": {"backend": "openai", "base_urls": ["http://h/v1"]}}).teacher
    assert isinstance(remote, OpenAIConfig) and remote.model == "auto"
    assert not hasattr(VLLMConfig(), "base_urls") and not hasattr(remote, "dtype")


def test_another_backends_setting_is_an_error_unless_it_is_that_backends_default(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("teacher:\n  backend: vllm\n  concurrency: 8\n")
    with pytest.raises(ConfigError, match=r":3: teacher.concurrency: Extra inputs are not permitted"):
        load_config(path)
    path.write_text("teacher:\n  backend: vllm\n  concurrency: 32\n  base_urls: []\n")  # as runs save it
    assert load_config(path).teacher == VLLMConfig()


def test_saved_sections_keep_the_shape_runs_have_always_had():
    """Every backend's fields in registry order, the others' at their defaults: run directories
    written before backends had their own config classes read the same as new ones."""
    local = dump_teacher_config(VLLMConfig(enforce_eager=True))
    assert list(local) == SAVED_ORDER and local["enforce_eager"] is True and local["base_urls"] == []
    remote = OpenAIConfig(base_urls=("http://h/v1",), concurrency=4)
    saved = dump_teacher_config(remote)
    assert list(saved) == SAVED_ORDER
    assert saved["dtype"] == "auto" and saved["max_model_len"] == 2048 and saved["concurrency"] == 4
    assert parse_teacher_config(saved) == remote and parse_teacher_config(local) == VLLMConfig(enforce_eager=True)
    assert load_config(overrides={"teacher": saved}).resolved()["teacher"] == saved
