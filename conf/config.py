"""The one configuration file: every section's pydantic model, loaded from YAML with located errors.

Each package owns its section (teacher/generation in generator, filters in filters); this module
only composes them, so a new section is one field here. Errors name the file, the YAML line and
the dotted field, e.g. `run.yaml:7: generation.num: Input should be greater than or equal to 1`
(see conf/yamlconf.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from conf.yamlconf import ConfigError, load_yaml_model
from filters.config import FiltersConfig
from generator.modes_config import AugmentConfig, EvolConfig, MultiTurnConfig
from generator.seeds import SeedsConfig
from generator.selfinstruct_config import GenerationConfig
from generator.teachers.executor import ExecutorConfig
from generator.teachers.registry import TeacherConfig, default_teacher_config

__all__ = ["ConfigError", "SeedforgeConfig", "load_config"]


class SeedforgeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seeds: SeedsConfig = Field(default_factory=SeedsConfig)
    teacher: TeacherConfig = Field(default_factory=default_teacher_config)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    # Modes after Self-Instruct, in this order; each is off by default.
    evol: EvolConfig = Field(default_factory=EvolConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    multi_turn: MultiTurnConfig = Field(default_factory=MultiTurnConfig)

    def resolved(self) -> dict[str, Any]:
        """Every value, defaults included: what is saved next to every output."""
        return self.model_dump(mode="json")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> SeedforgeConfig:
    """Load YAML (optional), apply CLI overrides, validate. Raises ConfigError with locations."""
    return load_yaml_model(path, SeedforgeConfig, overrides)
