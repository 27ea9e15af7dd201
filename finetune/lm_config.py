"""Configuration of the causal-LM student (TRL `SFTTrainer`, optional PEFT LoRA).

Training hyper-parameters are *not* re-declared here: the `sft` mapping is handed to
`trl.SFTConfig` unchanged (after Seedforge's device-dependent defaults), so every SFTConfig field
works and a TRL upgrade needs no change here. Unknown keys are reported with a close match, and
numbers written in YAML's exponent form (`1e-4`, which PyYAML reads as a string) are converted.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

# Set by Seedforge itself; a value in `sft` would be silently overwritten, so it is refused.
RESERVED_SFT_KEYS = {"output_dir": "the output directory is set with --out"}


class LoraSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    # "all-linear": every linear layer but the output head (PEFT's shorthand); or module names.
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    modules_to_save: list[str] = Field(default_factory=list)


class LMEvalSettings(BaseModel):
    """Generation-based evaluation on the user's eval file (instructions with references)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_examples: int = Field(100, ge=1, description="first N rows of the eval file")
    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(8, ge=1)
    judge: bool = Field(True, description="teacher-judged pairwise win rate, after vs before")
    judge_max_tokens: int = Field(192, ge=16)
    seed: int = Field(0, description="seeds the A/B position draw of the judge")


class LMConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    student: str | None = None  # model name/path; the pipeline resolves it (None: embedded SmolLM2-135M)
    # auto: bfloat16 weights for LoRA on a GPU, float32 otherwise (full fine-tunes keep fp32
    # master weights and train under bf16 autocast; CPUs train in float32).
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    max_validation: int = Field(200, ge=1, description="cap on held-out rows (evaluation time)")
    lr_search: list[PositiveFloat] = Field(
        default_factory=list, description="learning rates to try; the lowest validation loss wins"
    )
    seed: int = 0
    lora: LoraSettings = Field(default_factory=LoraSettings)
    eval: LMEvalSettings = Field(default_factory=LMEvalSettings)
    sft: dict[str, Any] = Field(default_factory=dict, description="fields of trl.SFTConfig, passed unchanged")

    @model_validator(mode="after")
    def _sft_fields_exist(self) -> LMConfig:
        problems = sft_problems(self.sft)
        if problems:
            raise ValueError("; ".join(f"sft.{key}: {msg}" if key else msg for key, msg in problems))
        if self.lr_search and self.validation_fraction == 0:
            raise ValueError("lr_search picks by validation loss: validation_fraction must be > 0")
        return self


def _sft_fields() -> dict[str, dataclasses.Field[Any]]:
    from trl import SFTConfig

    return {f.name: f for f in dataclasses.fields(SFTConfig) if f.init}


def _numeric_kind(field: dataclasses.Field[Any]) -> type | None:
    """float or int when the field holds a number (and not also a string), else None."""
    text = field.type if isinstance(field.type, str) else repr(field.type)
    if "str" in text:
        return None
    if "float" in text:
        return float
    if "int" in text and "bool" not in text:
        return int
    return None


def coerce_sft(sft: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """Check `sft` keys against SFTConfig and convert numeric strings. Returns (values, problems)."""
    fields = _sft_fields()
    values: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    for key, value in sft.items():
        if key in RESERVED_SFT_KEYS:
            problems.append((key, f"not allowed here: {RESERVED_SFT_KEYS[key]}"))
            continue
        field = fields.get(key)
        if field is None:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append((key, f"not a field of trl.SFTConfig{hint}"))
            continue
        kind = _numeric_kind(field)
        if kind is not None and isinstance(value, str):
            try:
                value = kind(float(value)) if kind is int and float(value).is_integer() else kind(value)
            except ValueError:
                problems.append((key, f"expected a number, got {value!r}"))
                continue
        values[key] = value
    return values, problems


def sft_problems(sft: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Every problem with an `sft` mapping, including those SFTConfig's own checks raise."""
    values, problems = coerce_sft(sft)
    if problems:
        return problems
    try:
        make_sft_config(values, output_dir="/nonexistent/validation-only")
    except (TypeError, ValueError) as exc:
        return [(None, f"trl.SFTConfig rejects these settings: {exc}")]
    return []


def sft_values(config: LMConfig) -> dict[str, Any]:
    """The user's `sft` mapping over Seedforge's own defaults: LoRA trains few weights and takes a
    ten times higher learning rate than a full fine-tune."""
    values, _ = coerce_sft(config.sft)
    return {"learning_rate": 2e-4 if config.lora.enabled else 2e-5, "seed": config.seed, **values}


def device_defaults(has_cuda: bool) -> dict[str, Any]:
    """SFTConfig defaults that depend on the hardware. TRL defaults bf16 and gradient
    checkpointing on, which on a CPU only costs time (no memory pressure, slow bf16 matmuls)."""
    if has_cuda:
        return {"bf16": True, "gradient_checkpointing": True}
    return {"bf16": False, "gradient_checkpointing": False, "use_cpu": True}


def make_sft_config(values: dict[str, Any], output_dir: str, **seedforge: Any) -> Any:
    """SFTConfig from Seedforge's defaults, overridden by the user's `sft` values.

    `seedforge` holds values Seedforge decides per run (e.g. a learning rate from lr_search);
    they win over the user's mapping.
    """
    import torch
    from trl import SFTConfig

    settings: dict[str, Any] = {
        **device_defaults(torch.cuda.is_available()),
        "report_to": [],
        "logging_steps": 1,
        "save_strategy": "no",  # the final model is saved once, by Seedforge
        "eval_strategy": "no",  # validation runs before and after training, explicitly
        "disable_tqdm": True,
        **values,
        **seedforge,
    }
    return SFTConfig(output_dir=output_dir, **settings)
