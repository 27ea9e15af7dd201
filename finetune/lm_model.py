"""The causal-LM student's model side: loading it and its tokenizer, the SFTTrainer for one
training candidate (LoRA via PEFT), reloading what was saved, and merging an adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune.lm_config import LMConfig, make_sft_config, sft_values
from finetune.lm_data import LMInputError

ADAPTER_DIR, MODEL_DIR = "adapter", "model"
MERGE_DTYPES = ("float32", "bfloat16", "float16")  # what a merged model may be saved as


def load_student_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tokenizer, "chat_template", None):
        raise LMInputError(
            f"{path}: the student has no chat template (tokenizer_config.json field 'chat_template' or "
            "chat_template.jinja): Seedforge trains on chat messages rendered with the student's own template; "
            "use an instruct/chat model or add a template to its tokenizer"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def student_dtype(config: LMConfig, has_cuda: bool) -> Any:
    import torch

    name = config.dtype
    if name == "auto":
        # bf16 weights halve a GPU's memory for LoRA (the base is frozen); full fine-tunes keep
        # fp32 master weights under bf16 autocast. CPU matmuls in bf16 are slow: float32 there.
        name = "bfloat16" if has_cuda and config.lora.enabled else "float32"
    return getattr(torch, name)


def load_student(path: str | Path, dtype: Any) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)


def _lora(config: LMConfig) -> Any:
    from peft import LoraConfig

    s = config.lora
    return LoraConfig(
        r=s.r,
        lora_alpha=s.alpha,
        lora_dropout=s.dropout,
        target_modules=s.target_modules,
        modules_to_save=s.modules_to_save or None,
        task_type="CAUSAL_LM",
    )


def check_assistant_masks(tokenizer: Any) -> None:
    from trl.chat_template_utils import get_training_chat_template

    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        raise LMInputError(
            "sft.assistant_only_loss: the student's chat template has no {% generation %} markers and TRL cannot "
            "patch it; leave assistant_only_loss unset (the prompt is then masked via prompt/completion rows)"
        ) from None


def build_trainer(
    model: Any, tokenizer: Any, config: LMConfig, train: Any, validation: Any, work: Path, **seedforge: Any
) -> Any:
    """An SFTTrainer for one candidate (PEFT wraps `model` in place when LoRA is on)."""
    from trl import SFTTrainer

    args = make_sft_config(sft_values(config), output_dir=str(work / "checkpoints"), **seedforge)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        peft_config=_lora(config) if config.lora.enabled else None,
    )


def reload_trained(artifact: str | Path, student: str | Path, dtype: Any, lora: bool) -> Any:
    """The saved student as a user would load it: base + PEFT adapter, or the full model dir."""
    if not lora:
        return load_student(artifact, dtype)
    from peft import PeftModel

    return PeftModel.from_pretrained(load_student(student, dtype), str(artifact))


def merge_adapter(
    adapter_dir: str | Path, out_dir: str | Path, base: str | Path | None = None, dtype: str = "float32"
) -> Path:
    """Fold a LoRA adapter into its base model and save a plain transformers model + tokenizer.

    The merge runs in float32: a LoRA delta is small beside the weights, and adding it to bf16
    weights rounds a visible part of it away. `dtype` is what is saved (bfloat16 halves the size
    at that rounding cost)."""
    import torch
    from peft import PeftConfig, PeftModel
    from transformers import AutoTokenizer

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise LMInputError(f"{adapter_dir}: no adapter_config.json — not a LoRA adapter directory")
    base_path = base or PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    if not base_path or not Path(base_path).is_dir():
        raise LMInputError(
            f"{adapter_dir}/adapter_config.json: field 'base_model_name_or_path': base model {base_path!r} is not a "
            "local directory; pass the base model explicitly"
        )
    merged = PeftModel.from_pretrained(load_student(base_path, torch.float32), str(adapter_dir)).merge_and_unload()
    merged = merged.to(getattr(torch, dtype))
    out = Path(out_dir)
    merged.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(str(out))
    return out
