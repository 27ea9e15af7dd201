"""Turning an upload into a queued job: validate everything first, then create it in one step.

Everything a job needs is checked at submission, with the same located errors as the CLI
(config file:line:field, seed file:line:field), so a bad upload is a 422 and never a failed job.
The inputs are written to a staging dir and renamed into place before the job row exists: a
crash leaves either no job or a complete one.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from generator.seeds import SeedFileError, read_seeds
from generator.teacher import SamplingConfig
from service.config import ConfigError, SeedforgeConfig, load_config
from service.jobrun import INPUTS, REQUEST
from service.jobs import Job, JobStore
from service.settings import ServiceSettings

CONFIG_NAME = "config.yaml"
SEED_EXTENSIONS = (".jsonl", ".json", ".csv", ".txt")


class SubmissionError(ValueError):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def safe_seed_name(filename: str | None) -> str:
    """The upload's base name, reduced to [A-Za-z0-9._-]; its extension selects the seed format."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "").name).lstrip(".")[:100]
    return name if name.lower().endswith(SEED_EXTENSIONS) else (name or "seeds") + ".txt"


def request_sha256(seeds_name: str, seeds: bytes, config: bytes, num: int | None) -> str:
    digest = hashlib.sha256()
    for part in (seeds_name.encode(), seeds, config, str(num).encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def cap_problems(config: SeedforgeConfig, settings: ServiceSettings) -> list[str]:
    problems = []
    if config.generation.num > settings.max_rows:
        problems.append(f"generation.num: {config.generation.num} exceeds this service's cap of {settings.max_rows}")
    for name in type(config.generation).model_fields:
        value = getattr(config.generation, name)
        if isinstance(value, SamplingConfig) and value.max_tokens > settings.max_tokens:
            problems.append(
                f"generation.{name}.max_tokens: {value.max_tokens} exceeds this service's cap of {settings.max_tokens}"
            )
    return problems


def _job_config(settings: ServiceSettings, inputs: Path, config_text: bytes, num: int | None) -> SeedforgeConfig:
    path = inputs / CONFIG_NAME
    overrides: dict[str, Any] = {"generation": {"num": num}} if num is not None else {}
    try:
        config = load_config(path if config_text else None, overrides)
    except ConfigError as exc:
        raise SubmissionError(422, str(exc).replace(str(path), CONFIG_NAME)) from None
    except UnicodeDecodeError:
        raise SubmissionError(422, f"{CONFIG_NAME}: not UTF-8 text") from None
    sections = yaml.safe_load(config_text) if config_text else None
    if isinstance(sections, dict) and "teacher" in sections:
        if not settings.allow_job_teacher:
            raise SubmissionError(422, f"{CONFIG_NAME}: teacher: the teacher is set by the service, not by jobs")
        return config
    return config.model_copy(update={"teacher": settings.teacher})


def _existing(store: JobStore, key: str, digest: str) -> Job | None:
    job = store.by_key(key)
    if job is not None and job.request_sha256 != digest:
        raise SubmissionError(409, "this Idempotency-Key was already used for a different request")
    return job


def submit_job(
    settings: ServiceSettings,
    store: JobStore,
    seeds_filename: str | None,
    seeds: bytes,
    config_text: bytes,
    num: int | None,
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    """Validate and queue a job; returns (job, created). A repeated idempotency key with the same
    request returns the first job (created=False); with a different request it is a 409."""
    name = safe_seed_name(seeds_filename)
    digest = request_sha256(name, seeds, config_text, num)
    if idempotency_key and (job := _existing(store, idempotency_key, digest)) is not None:
        return job, False
    job_id = uuid.uuid4().hex
    staging = settings.jobs_dir / f".staging-{job_id}"
    final = settings.jobs_dir / job_id
    try:
        inputs = staging / INPUTS
        inputs.mkdir(parents=True)
        (inputs / name).write_bytes(seeds)
        if config_text:
            (inputs / CONFIG_NAME).write_bytes(config_text)
        config = _job_config(settings, inputs, config_text, num)
        problems = cap_problems(config, settings)
        if problems:
            raise SubmissionError(422, "over this service's limits:\n  " + "\n  ".join(problems))
        try:
            seed_set = read_seeds(inputs / name, config.seeds)
        except SeedFileError as exc:
            raise SubmissionError(422, str(exc).replace(str(inputs / name), name)) from None
        request = {
            "seeds_file": name,
            "config": config.resolved(),
            "submitted_at": datetime.now(timezone.utc).isoformat(),
        }
        (staging / REQUEST).write_text(json.dumps(request, indent=2), encoding="utf-8")
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary = {
        "seeds": {"name": name, "sha256": seed_set.sha256, "tasks": len(seed_set.tasks), "format": seed_set.format},
        "num": config.generation.num,
        "teacher": {"backend": config.teacher.backend, "model": config.teacher.model},
    }
    try:
        return store.create(job_id, digest, idempotency_key, summary), True
    except sqlite3.IntegrityError:  # the same key raced in from another request
        shutil.rmtree(final, ignore_errors=True)
        job = _existing(store, idempotency_key or "", digest)
        if job is None:
            raise
        return job, False
