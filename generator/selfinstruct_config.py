"""Self-Instruct bootstrap knobs (the `generation:` section of a run config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from generator.teachers.base import SamplingConfig


class GenerationConfig(BaseModel):
    """Self-Instruct bootstrap knobs. Defaults follow the paper, scaled for a small teacher."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num: int = Field(50, ge=1, description="target number of kept rows")
    domain: str = ""
    seed: int = 0
    instructions_per_prompt: int = Field(5, ge=1, le=20)
    num_demos: int = Field(6, ge=1, description="demos per prompt (human + machine)")
    machine_demos: int = Field(2, ge=0, description="of num_demos, drawn from generated instructions")
    # The window of the prompt stream: how many prompts may be out ahead of screening. Wider than
    # the teacher's in_flight, so that one slow prompt does not starve the engine (measured on
    # 2 cores at in_flight 64: 64 -> 387 tokens/s, 128 -> 443; bench/pipeline_efficiency.py).
    prompts_per_round: int = Field(256, ge=1, description="instruction prompts out ahead of screening (a round)")
    min_prompts_per_round: int = Field(16, ge=1, description="fewest prompts sent when the stream has drained")
    max_rounds: int = Field(30, ge=1, description="most prompts sent: max_rounds x prompts_per_round")
    max_attempts: int = Field(3, ge=1, description="tries per request before quarantine")
    # Streaming only: while screening waits on a slow prompt, send the responses of later prompts
    # for the instructions the filters would keep as they stand. Some are sent in vain (screening
    # rejects the instruction after all); off where every token is paid for.
    send_ahead: bool = Field(True, description="send likely responses before screening reaches them")
    # The stream's prior until it has measured its own rates: how many prompts it sends at once
    # at the start. The embedded teacher needed 2.7-3.2 candidates per kept row in eight 300-row
    # runs (bench/pipeline_efficiency.py); at 2.0 a run sent a third of its prompts late, one
    # slow prompt after another, while the engine idled.
    overgenerate: float = Field(3.0, ge=1.0, description="expected candidates needed per kept row")
    max_tokens_budget: int | None = Field(
        None, ge=1, description="send no more prompts after this many tokens in+out (those out still finish)"
    )
    instruction_sampling: SamplingConfig = SamplingConfig(temperature=0.9, top_p=1.0, max_tokens=768)
    response_sampling: SamplingConfig = SamplingConfig(temperature=0.7, top_p=1.0, max_tokens=512)

    @model_validator(mode="after")
    def _demos_fit(self) -> GenerationConfig:
        if self.machine_demos > self.num_demos:
            raise ValueError("machine_demos cannot exceed num_demos")
        if self.min_prompts_per_round > self.prompts_per_round:
            raise ValueError("min_prompts_per_round cannot exceed prompts_per_round")
        return self
