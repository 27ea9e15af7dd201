"""`finetune lm`: the causal-LM student on a run's rows, judged by the run's own teacher.

finetune cannot reach the teacher, so the pairwise judge is built here — the `pairwise_judge`
task spec sent through generator's Gateway (greedy, guided JSON) — and injected as a function.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from conf.yamlconf import ConfigError, deep_merge, node_line, read_yaml, validate_located
from finetune.lm import LMResult, train_lm
from finetune.lm_config import LMConfig, coerce_sft
from finetune.lm_eval import JudgeFn, JudgePair
from generator.gateway import Call, Gateway
from generator.teachers.base import SamplingConfig, Teacher, TeacherConfigBase, TeacherUnavailable
from generator.teachers.models import EMBEDDED_TEACHER, resolve_model
from generator.teachers.registry import build_teacher, dump_teacher_config, parse_teacher_config
from prompts import get_spec
from rundir import RunDir, RunVersion
from rundir.writers import write_json

DEFAULT_STUDENT = f"embedded:{EMBEDDED_TEACHER}"
JUDGE_STAGE = "judge"


def load_lm_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> LMConfig:
    """The student YAML (top-level LMConfig fields); errors name file, line and field.

    Unknown `sft` keys are located here, key by key: inside LMConfig they are one error on `sft`.
    """
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    if path is not None:
        data, root = read_yaml(path)
    data = deep_merge(data, overrides or {})
    where = str(path) if path else "<defaults>"
    sft = data.get("sft")
    if isinstance(sft, dict):
        _, problems = coerce_sft(sft)
        if problems:
            lines = []
            for key, msg in problems:
                line = node_line(root, ("sft", key)) if root is not None else None
                lines.append(f"{where}{f':{line}' if line else ''}: sft.{key}: {msg}")
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return validate_located(LMConfig, data, where, root)


def run_teacher_config(version: RunVersion, model: str | None) -> TeacherConfigBase:
    """The teacher that generated the run (its config.yaml), optionally with another model."""
    section: dict[str, Any] = {}
    if version.has("config.yaml"):
        section = (version.read_yaml("config.yaml") or {}).get("teacher") or {}
    if model is not None:
        section = {**section, "model": model}
    return parse_teacher_config(section)


class TeacherJudge:
    """A `JudgeFn`: one greedy guided-JSON `pairwise_judge` call per pair, via the Gateway."""

    def __init__(self, teacher: Teacher, max_tokens: int, seed: int = 0):
        self.gateway = Gateway(teacher, base_seed=seed)
        self.spec = get_spec("pairwise_judge")
        self.sampling = SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
        self.error: str | None = None

    def __call__(self, pairs: Sequence[JudgePair]) -> list[str | None]:
        calls = [
            Call(
                self.spec,
                self.spec.render(
                    instruction=p.instruction, reference=p.reference, answer_a=p.answer_a, answer_b=p.answer_b
                ),
                self.sampling,
                key=f"judge/{i}",
            )
            for i, p in enumerate(pairs)
        ]
        try:
            outcomes = self.gateway.run(calls, JUDGE_STAGE)
        except TeacherUnavailable as exc:
            # The student is trained by now; a dead judge must not throw that work away.
            self.error = str(exc)
            return [None] * len(pairs)
        return [getattr(o.parsed, "winner", None) if o.ok else None for o in outcomes]

    def stats(self) -> dict[str, Any]:
        stage = self.gateway.stats.get(JUDGE_STAGE)
        return {
            "model": self.gateway.teacher.model_name,
            "revision": self.gateway.teacher.revision,
            "error": self.error,
            **(stage.as_dict() if stage else {}),
        }


def finetune_lm(
    run_dir: str | Path,
    *,
    config_path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    eval_file: str | Path | None = None,
    teacher: Teacher | None = None,
    teacher_model: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> LMResult:
    run_dir = Path(run_dir)
    version = RunDir(run_dir).read()  # the rows and the teacher of one published version
    train_path = version.file("train.jsonl")
    records = version.records("train.jsonl")
    if eval_file is not None and not Path(eval_file).is_file():
        raise ConfigError(f"{eval_file}: no such eval file")
    config = load_lm_config(config_path, overrides)
    student = resolve_model(config.student or DEFAULT_STUDENT)
    teacher_config = run_teacher_config(version, teacher_model)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model here is a local directory
    own_teacher = teacher is None
    judge: TeacherJudge | None = None
    lazy: Teacher | None = teacher

    def judge_fn(pairs: Sequence[JudgePair]) -> list[str | None]:
        nonlocal judge, lazy
        if judge is None:
            log(f"judging {len(pairs)} answer pairs with the teacher {teacher_config.model}")
            lazy = lazy or build_teacher(teacher_config)  # the engine starts only now, after training
            judge = TeacherJudge(lazy, config.eval.judge_max_tokens, config.eval.seed)
        return judge(pairs)

    use_judge: JudgeFn | None = judge_fn if config.eval.judge else None
    out = Path(out_dir) if out_dir else run_dir / "lm"
    try:
        result = train_lm(
            records,
            student.path,
            out,
            config,
            source=str(train_path),
            eval_path=eval_file,
            judge=use_judge,
            log=log,
            extra_config={
                "run_dir": str(run_dir),
                "student_model": {
                    "name": student.name,
                    "path": str(student.path),
                    "revision": student.revision,
                    "source": student.source,
                },
                "judge_teacher": dump_teacher_config(teacher_config) if use_judge else None,
            },
        )
    finally:
        if own_teacher and lazy is not None:
            lazy.close()
    result.metrics["student_model"] = {"name": student.name, "revision": student.revision}
    generation = result.metrics.get("generation")
    if generation and generation.get("judge") is not None and judge is not None:
        generation["judge"]["teacher"] = judge.stats()
    write_json(result.out_dir / "metrics.json", result.metrics)
    return result


def summary_lines(result: LMResult) -> list[str]:
    m = result.metrics
    lines = [f"student ({m['method']}, {m['device']}): {result.artifact}"]
    t = m["truncation"]
    lines.append(f"  truncated at max_length={t['max_length']}: {t['truncated']} of {t['rows']} training rows")
    before, after = m["validation"]["before"], m["validation"]["after"]
    if before and after:
        lines.append(
            f"  validation loss {before['loss']:.4f} -> {after['loss']:.4f}  "
            f"perplexity {before['perplexity']:.2f} -> {after['perplexity']:.2f}"
        )
    if m.get("lr_search"):
        for entry in m["lr_search"]:
            lines.append(f"  lr {entry['learning_rate']:g}: validation loss {entry['validation_loss']}")
        lines.append(f"  chosen learning rate: {m['learning_rate']:g}")
    gen = m.get("generation")
    if gen:
        rouge = gen["rouge_l"]
        lines.append(f"  eval ROUGE-L {rouge['before']:.4f} -> {rouge['after']:.4f} on {gen['n']} rows")
        judged = gen.get("judge")
        if judged:
            lines.append(
                f"  judged win rate after vs before: {judged['win_rate']} "
                f"({judged['wins']} wins, {judged['losses']} losses, {judged['ties']} ties, {judged['failed']} failed)"
            )
    if result.merge_command:
        lines.append(f"  merge the adapter into a full model: {result.merge_command}")
    return lines
