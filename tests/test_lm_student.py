"""The causal-LM student: config passthrough, data checks, the labels mask, truncation pre-flight,
real TRL training (tiny random model and the embedded SmolLM2 with LoRA), merge, and the judge."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conf.yamlconf import ConfigError
from finetune.lm_config import LMConfig, make_sft_config
from finetune.lm_data import LMInputError, chat_rows, read_eval_items, split_rows, truncation_report
from finetune.lm_eval import JudgePair, win_rate
from prompts import Record
from rundir import RunDir
from rundir.codec import encode_records
from tests.conftest import cli, cli_env

QA = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Name a primary color.", "Red is a primary color."),
    ("What is two plus two?", "Two plus two equals four."),
    ("Give a synonym for happy.", "A synonym for happy is joyful."),
    ("What do bees make?", "Bees make honey from nectar."),
    ("What is ice made of?", "Ice is frozen water."),
    ("Which planet is called red?", "Mars is called the red planet."),
    ("How many legs does a spider have?", "A spider has eight legs."),
]


def chat(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def records(pairs) -> list[Record]:
    return [Record(id=f"r{i}", instruction=q, output=a) for i, (q, a) in enumerate(pairs)]


def write_run(path: Path, pairs) -> Path:
    """A run directory with one published version holding these (question, answer) rows."""
    RunDir(path).publish({"train.jsonl": encode_records(records(pairs))})
    return path


def write_eval(path: Path, pairs=QA[:4]) -> Path:
    path.write_text("".join(json.dumps({"instruction": q, "reference": a}) + "\n" for q, a in pairs))
    return path


@pytest.fixture(scope="module")
def smollm_dir() -> Path:
    from generator.teachers.models import EMBEDDED_TEACHER, resolve_model

    return resolve_model(f"embedded:{EMBEDDED_TEACHER}").path


@pytest.fixture(scope="module")
def tokenizer(smollm_dir):
    from finetune.lm_model import load_student_tokenizer

    return load_student_tokenizer(smollm_dir)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, smollm_dir) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template: real TRL, seconds per step."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(smollm_dir))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


# --- config -------------------------------------------------------------------------------------


def test_sft_mapping_reaches_sftconfig_unchanged_and_numbers_in_exponent_form_are_converted():
    config = LMConfig(sft={"learning_rate": "1e-4", "max_steps": "3", "packing": True, "max_length": 256})
    args = make_sft_config(dict(config.sft, learning_rate=1e-4, max_steps=3), output_dir="/tmp/x")
    assert args.packing is True and args.max_length == 256 and args.learning_rate == 1e-4 and args.max_steps == 3
    assert args.use_cpu or args.bf16  # hardware defaults applied beneath the user's values


def test_bad_student_yaml_names_file_line_and_field(tmp_path):
    from pipeline.lm_student import load_lm_config

    path = tmp_path / "student.yaml"
    path.write_text("lora:\n  r: 8\nsft:\n  max_steps: 2\n  learnig_rate: 1e-4\n")
    with pytest.raises(ConfigError) as err:
        load_lm_config(path)
    assert f"{path}:5: sft.learnig_rate" in str(err.value) and "did you mean 'learning_rate'" in str(err.value)
    path.write_text("lora:\n  r: 0\n")
    with pytest.raises(ConfigError) as err:
        load_lm_config(path)
    assert str(path) in str(err.value) and "lora.r" in str(err.value)
    path.write_text("sft:\n  output_dir: /elsewhere\n")
    with pytest.raises(ConfigError, match="output_dir: not allowed here"):
        load_lm_config(path)
    with pytest.raises(ValueError, match="validation_fraction must be > 0"):
        LMConfig(lr_search=[1e-4, 1e-3], validation_fraction=0)


# --- data ---------------------------------------------------------------------------------------


def test_bad_rows_and_files_are_named_with_source_id_line_and_field(tmp_path):
    assert chat_rows(records(QA[:2]), "run/train.jsonl") == [chat(q, a)["messages"] for q, a in QA[:2]]
    with pytest.raises(LMInputError, match="empty"):
        chat_rows([], "run/train.jsonl")
    unanswered = [*records(QA[:1]), Record(id="x", instruction="q", output=" ")]
    with pytest.raises(LMInputError, match=r"run/train\.jsonl \(id x\): field 'messages'.*assistant"):
        chat_rows(unanswered, "run/train.jsonl")
    evalf = tmp_path / "eval.jsonl"
    evalf.write_text(json.dumps({"instruction": "Say hi", "output": "Hi"}) + "\n" + json.dumps({"instruction": "x"}))
    with pytest.raises(LMInputError, match=r"eval\.jsonl:2: field 'reference'"):
        read_eval_items(evalf)


def test_eval_rows_accept_alpaca_messages_and_reference_forms(tmp_path):
    path = tmp_path / "eval.jsonl"
    rows = [
        {"instruction": "Translate", "input": "bonjour", "output": "hello"},
        {"instruction": "Say hi", "reference": "Hi"},
        chat("Name a colour", "Blue"),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = read_eval_items(path)
    assert [i.reference for i in items] == ["hello", "Hi", "Blue"]
    assert items[0].instruction == "Translate\n\nbonjour" and items[2].prompt == [
        {"role": "user", "content": "Name a colour"}
    ]


def test_split_is_seeded_disjoint_and_keeps_training_rows():
    rows = [[{"role": "user", "content": str(i)}, {"role": "assistant", "content": "a"}] for i in range(30)]
    train, val = split_rows(rows, 0.1, 200, seed=3)
    assert len(val) == 3 and len(train) == 27 and not {id(r) for r in train} & {id(r) for r in val}
    assert split_rows(rows, 0.1, 200, seed=3) == (train, val)
    assert len(split_rows(rows, 0.5, 4, seed=3)[1]) == 4  # the cap
    assert split_rows(rows[:1], 0.5, 4, seed=3) == (rows[:1], [])  # never the only row


def test_win_rate_undoes_the_position_draw_and_reports_position_bias():
    from finetune.lm_data import EvalItem

    items = [EvalItem([{"role": "user", "content": f"q{i}"}], "good answer") for i in range(40)]
    before, after = ["bad"] * 40, ["good answer"] * 40

    def prefers_reference(pairs: list[JudgePair]) -> list[str | None]:
        return ["A" if p.answer_a == p.reference else "B" for p in pairs]

    result = win_rate(items, before, after, prefers_reference, seed=7)
    assert result["win_rate"] == 1.0 and result["wins"] == 40 and result["failed"] == 0
    assert 10 < result["after_in_position_a"] < 30  # both positions used
    always_a = win_rate(items, before, after, lambda ps: ["A"] * len(ps), seed=7)
    assert always_a["verdict_a_share"] == 1.0
    assert always_a["win_rate"] == pytest.approx(always_a["after_in_position_a"] / 40)
    flaky = win_rate(items, before, after, lambda ps: [None, "tie", *["B"] * (len(ps) - 2)], seed=7)
    assert flaky["failed"] == 1 and flaky["ties"] == 1 and flaky["judged"] == 39


def _rows_of_lengths() -> list[list[dict[str, str]]]:
    rows = [chat(q, a)["messages"] for q, a in QA]
    rows += [chat(f"Describe item {i}.", "word " * (40 + 15 * i))["messages"] for i in range(4)]
    rows.append(chat("Repeat this. " + "long " * 120, "ok")["messages"])  # the prompt alone overflows
    return rows


def _trainer(tmp_path, model_dir, rows, **sft):
    from datasets import Dataset

    from finetune.lm_data import to_prompt_completion
    from finetune.lm_model import build_trainer, load_student, load_student_tokenizer

    config = LMConfig(lora={"enabled": False}, sft={"max_steps": 1, "per_device_train_batch_size": 2, **sft})
    tok = load_student_tokenizer(model_dir)
    train = Dataset.from_list(to_prompt_completion(rows))
    return build_trainer(load_student(model_dir, "float32"), tok, config, train, None, tmp_path), tok


def test_truncation_report_counts_what_trl_truncates_and_drops(tmp_path, tokenizer, tiny_model_dir):
    """The pre-flight numbers against TRL's own processing of the same rows."""
    rows = _rows_of_lengths()
    max_length = 64
    report = truncation_report(tokenizer, rows, max_length)
    full = [len(tokenizer.apply_chat_template(r, tokenize=True, return_dict=True)["input_ids"]) for r in rows]
    assert max_length not in full  # so a row at exactly max_length after TRL is a truncated one
    assert report["truncated"] == sum(n > max_length for n in full) >= 3
    assert report["answer_lost"] == 1 and report["tokens_cut"] == sum(n - max_length for n in full if n > max_length)
    assert report["length"]["max"] == max(full)
    trainer, _ = _trainer(tmp_path, tiny_model_dir, rows, max_length=max_length)
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    assert len(lengths) == len(rows) - report["answer_lost"]  # TRL dropped the row with no answer left
    assert sum(n == max_length for n in lengths) == report["truncated"] - report["answer_lost"]
    assert max(lengths) == max_length


def test_only_answer_tokens_carry_loss(tmp_path, tiny_model_dir):
    rows = [chat(q, a)["messages"] for q, a in QA[:4]]
    trainer, tok = _trainer(tmp_path, tiny_model_dir, rows)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    for i, (question, answer) in enumerate(QA[:4]):
        ids, labels = batch["input_ids"][i], batch["labels"][i]
        trained = tok.decode(ids[labels != -100])
        ignored = tok.decode(ids[labels == -100])
        assert trained.strip().startswith(answer) and question not in trained  # the answer, then end of turn
        assert question in ignored and answer not in ignored
        assert "user" not in trained and "assistant" not in trained  # no role headers either


# --- training on the real stack -----------------------------------------------------------------


@pytest.mark.slow
def test_full_fine_tune_of_a_tiny_model_lowers_validation_loss_and_writes_every_output(tmp_path, tiny_model_dir):
    from finetune.lm import train_lm

    config = LMConfig(
        lora={"enabled": False},
        validation_fraction=0.25,
        eval={"max_new_tokens": 8, "judge": False},
        sft={"max_steps": 12, "learning_rate": 3e-3, "per_device_train_batch_size": 4},
    )
    lines: list[str] = []
    result = train_lm(
        records(QA * 4),
        tiny_model_dir,
        tmp_path / "out",
        config,
        eval_path=write_eval(tmp_path / "e.jsonl"),
        log=lines.append,
    )
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["method"] == "full" and m["rows"] == {"train": 24, "validation": 8, "eval": 4}
    assert m["validation"]["after"]["loss"] < m["validation"]["before"]["loss"]
    assert m["validation"]["after"]["perplexity"] < m["validation"]["before"]["perplexity"]
    assert m["train"]["steps"] == 12 and m["truncation"]["truncated"] == 0
    assert set(m["generation"]["rouge_l"]) == {"before", "after"} and m["generation"]["judge"] is None
    assert any(line.startswith("pre-flight: 0 of 24") for line in lines)
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {
        "model",
        "metrics.json",
        "config.yaml",
        "training_log.jsonl",
        "eval_generations.jsonl",
    }
    assert (out / "model" / "config.json").is_file() and (out / "model" / "tokenizer_config.json").is_file()
    assert not list(tmp_path.glob(".out.partial-*"))
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert sum("loss" in h for h in log) == 12
    import yaml

    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["sft_config"]["learning_rate"] == 3e-3 and resolved["sft_config"]["max_steps"] == 12
    assert result.artifact == out / "model"


@pytest.mark.slow
def test_lr_search_keeps_the_candidate_with_the_lowest_validation_loss(tmp_path, tiny_model_dir):
    from finetune.lm import train_lm

    config = LMConfig(
        lora={"enabled": False},
        lr_search=[1e-6, 3e-3],
        validation_fraction=0.25,
        sft={"max_steps": 6, "per_device_train_batch_size": 4},
    )
    result = train_lm(records(QA * 3), tiny_model_dir, tmp_path / "out", config)
    searched = result.metrics["lr_search"]
    assert [e["learning_rate"] for e in searched] == [1e-6, 3e-3]
    best = min(searched, key=lambda e: e["validation_loss"])
    assert result.metrics["learning_rate"] == best["learning_rate"] == 3e-3
    assert result.metrics["validation"]["after"]["loss"] == pytest.approx(best["validation_loss"], abs=1e-4)


@pytest.mark.slow
def test_lora_on_the_embedded_student_saves_a_reloadable_adapter_and_merges(tmp_path, smollm_dir):
    """The default CPU student (SmolLM2-135M + LoRA) through the CLI, judged by the scripted teacher."""
    import torch

    from finetune.lm_model import load_student, reload_trained
    from pipeline.lm_student import finetune_lm
    from tests.fakes import ScriptedTeacher

    run = write_run(tmp_path / "run", QA * 2)
    teacher = ScriptedTeacher()
    result = finetune_lm(
        run,
        overrides={"sft": {"max_steps": 3, "per_device_train_batch_size": 4}, "eval": {"max_new_tokens": 12}},
        eval_file=write_eval(tmp_path / "eval.jsonl"),
        teacher=teacher,
    )
    m = json.loads((run / "lm" / "metrics.json").read_text())
    assert m["method"] == "lora" and m["student_model"]["name"].startswith("smollm2")
    judge = m["generation"]["judge"]
    assert judge["n"] == 4 and judge["wins"] + judge["losses"] + judge["ties"] + judge["failed"] == 4
    assert judge["teacher"]["model"] == teacher.model_name and judge["teacher"]["requests"] == 4
    assert [r.json_schema["title"] for r in teacher.calls] == ["PairwiseVerdict"] * 4
    rows = [json.loads(line) for line in (run / "lm" / "eval_generations.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all({"before", "after", "reference", "judge"} <= set(r) for r in rows)
    adapter = result.artifact
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    base = load_student(smollm_dir, torch.float32)
    reloaded = reload_trained(adapter, smollm_dir, torch.float32, lora=True)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        changed = (reloaded(ids).logits - base(ids).logits).abs().max().item()
    assert changed > 1e-4  # the adapter is not a no-op
    done = subprocess.run(
        cli("finetune", "merge", str(adapter), "--out", str(tmp_path / "merged")),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    merged = load_student(tmp_path / "merged", torch.float32)
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, reloaded(ids).logits, atol=1e-3)


# --- bad input ----------------------------------------------------------------------------------


def test_cli_errors_for_a_missing_train_file_an_empty_dataset_and_a_student_without_template(tmp_path, tiny_model_dir):
    def run(*args):
        return subprocess.run(cli("finetune", "lm", *args), env=cli_env(), capture_output=True, text=True, timeout=300)

    (tmp_path / "norun").mkdir()
    done = run(str(tmp_path / "norun"))
    assert done.returncode == 2 and "norun: not a run directory (no published version" in done.stderr
    empty = write_run(tmp_path / "empty", [])
    done = run(str(empty), "--student", str(tiny_model_dir))
    assert done.returncode == 2 and "no rows to train on" in done.stderr
    bare = tmp_path / "bare"
    import shutil

    shutil.copytree(tiny_model_dir, bare)
    tok_config = json.loads((bare / "tokenizer_config.json").read_text())
    tok_config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(tok_config))
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    good = write_run(tmp_path / "good", QA)
    done = run(str(good), "--student", str(bare))
    assert done.returncode == 2 and "no chat template" in done.stderr
    assert not (good / "lm").exists()  # nothing half-written


@pytest.mark.slow
def test_packing_flag_trains_on_packed_padding_free_batches(tmp_path, tiny_model_dir):
    run = write_run(tmp_path / "run", QA * 3)
    done = subprocess.run(
        cli("finetune", "lm", str(run), "--student", str(tiny_model_dir), "--no-lora", "--packing", "--max-steps", "2"),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    import yaml

    resolved = yaml.safe_load((run / "lm" / "config.yaml").read_text())
    assert resolved["sft_config"]["packing"] is True and resolved["student"]["sft"] == {"max_steps": 2, "packing": True}
    assert "validation loss" in done.stdout


@pytest.mark.vllm
@pytest.mark.slow
def test_pairwise_judge_through_the_real_engine_gives_verdicts(vllm_teacher):
    from pipeline.lm_student import TeacherJudge

    judge = TeacherJudge(vllm_teacher, max_tokens=192)
    pairs = [
        JudgePair("What is the capital of France?", "Paris.", "The capital of France is Paris.", "Bananas are yellow."),
        JudgePair("How many legs does a spider have?", "Eight.", "I like turtles.", "A spider has eight legs."),
        JudgePair("Name a primary colour.", "Red.", "Red is a primary colour.", "Red."),
    ]
    verdicts = judge(pairs)
    assert len(verdicts) == 3 and sum(v in ("A", "B", "tie") for v in verdicts) >= 2  # guided JSON
    assert all(v in ("A", "B", "tie", None) for v in verdicts)
    stats = judge.stats()
    assert stats["requests"] >= 3 and stats["error"] is None and stats["model"] == vllm_teacher.model_name


def test_gpu_defaults_are_bf16_with_gradient_checkpointing_and_cpu_defaults_are_not():
    from finetune.lm_config import device_defaults

    assert device_defaults(True) == {"bf16": True, "gradient_checkpointing": True}
    assert device_defaults(False) == {"bf16": False, "gradient_checkpointing": False, "use_cpu": True}


@pytest.mark.gpu
@pytest.mark.slow
def test_lora_on_a_gpu_trains_in_bf16(tmp_path, tiny_model_dir):
    from finetune.lm import train_lm

    config = LMConfig(validation_fraction=0.25, sft={"max_steps": 3, "per_device_train_batch_size": 4})
    result = train_lm(records(QA * 2), tiny_model_dir, tmp_path / "out", config)
    assert result.metrics["device"] == "cuda"
    import yaml

    resolved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["sft_config"]
    assert resolved["bf16"] is True and resolved["gradient_checkpointing"] is True
