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

from conf.config import ConfigError, SeedforgeConfig, load_config
from generator.seeds import SeedFileError, read_seeds
from generator.teachers.base import SamplingConfig
from generator.teachers.registry import dump_teacher_config
from service.jobrun import INPUTS, REQUEST
from service.jobs import Job, JobStore
from service.settings import ServiceSettings

CONFIG_NAME = "config.yaml"
DOMAIN_NAME = "domain.yaml"
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


def request_sha256(seeds_name: str, seeds: bytes, config: bytes, num: int | None, domain: bytes = b"") -> str:
    digest = hashlib.sha256()
    for part in (seeds_name.encode(), seeds, config, str(num).encode(), domain):
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


# A job choosing a Ray address could point the server at any cluster (or start Ray on all its cores).
NO_JOB_EXECUTOR = "executor: the executor is set by the service, not by jobs"


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
    if isinstance(sections, dict) and "executor" in sections:
        raise SubmissionError(422, f"{CONFIG_NAME}: {NO_JOB_EXECUTOR}")
    if isinstance(sections, dict) and "teacher" in sections:
        if not settings.allow_job_teacher:
            raise SubmissionError(422, f"{CONFIG_NAME}: teacher: the teacher is set by the service, not by jobs")
        return config
    return config.model_copy(update={"teacher": settings.teacher})


def _domain_job(
    settings: ServiceSettings, inputs: Path, domain_text: bytes, seeds_name: str | None, num: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A classification domain job (labeled pairs): (request for the job process, summary)."""
    from conf.domains import load_domain

    path = inputs / DOMAIN_NAME
    try:
        raw = yaml.safe_load(domain_text)
    except yaml.YAMLError:
        raw = None  # load_domain reports it with its line
    raw = raw if isinstance(raw, dict) else {}
    # The domain's seeds_file is read by the server: it may only name the file uploaded with it.
    seeds_file = raw.get("seeds_file")
    if seeds_file is not None and seeds_file != seeds_name:
        raise SubmissionError(422, f"{DOMAIN_NAME}: seeds_file: must name the seeds file uploaded with the domain")
    if seeds_name is not None and seeds_file is None:
        raise SubmissionError(422, f"{DOMAIN_NAME}: seeds_file: set it to {seeds_name!r} to use the uploaded seeds")
    if "teacher" in raw and not settings.allow_job_teacher:
        raise SubmissionError(422, f"{DOMAIN_NAME}: teacher: the teacher is set by the service, not by jobs")
    if "executor" in raw:
        raise SubmissionError(422, f"{DOMAIN_NAME}: {NO_JOB_EXECUTOR}")
    # `num` replaces the domain's targets (per_label and total are exclusive; overrides are deep-merged).
    overrides: dict[str, Any] = {"targets": {"total": num, "per_label": None}} if num is not None else {}
    try:
        loaded = load_domain(path, overrides)
    except ConfigError as exc:
        raise SubmissionError(422, str(exc).replace(str(path), DOMAIN_NAME).replace(str(inputs) + "/", "")) from None
    domain = loaded.domain
    teacher = domain.teacher if "teacher" in raw else settings.teacher
    targets = domain.targets
    rows = targets.total or sum(
        label.target if label.target is not None else (targets.per_label or 0) for label in domain.labels
    )
    problems = []
    if rows > settings.max_rows:
        problems.append(f"targets: {rows} rows exceed this service's cap of {settings.max_rows}")
    for field, value in (
        ("generation.sampling.max_tokens", domain.generation.sampling.max_tokens),
        ("verification.max_tokens", domain.verification.max_tokens),
    ):
        if value > settings.max_tokens:
            problems.append(f"{field}: {value} exceeds this service's cap of {settings.max_tokens}")
    if problems:
        raise SubmissionError(422, "over this service's limits:\n  " + "\n  ".join(problems))
    request = {
        "kind": "classify",
        "domain_file": DOMAIN_NAME,
        "overrides": overrides,
        "teacher": dump_teacher_config(teacher),
    }
    summary = {
        "kind": "classify",
        "domain": domain.name,
        "labels": [label.name for label in domain.labels],
        "num": rows,
        "teacher": {"backend": teacher.backend, "model": teacher.model},
    }
    return request, summary


def _instruction_job(
    settings: ServiceSettings, inputs: Path, name: str, config_text: bytes, num: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    config = _job_config(settings, inputs, config_text, num)
    problems = cap_problems(config, settings)
    if problems:
        raise SubmissionError(422, "over this service's limits:\n  " + "\n  ".join(problems))
    try:
        seed_set = read_seeds(inputs / name, config.seeds)
    except SeedFileError as exc:
        raise SubmissionError(422, str(exc).replace(str(inputs / name), name)) from None
    request = {"kind": "instructions", "seeds_file": name, "config": config.resolved()}
    summary = {
        "kind": "instructions",
        "seeds": {"name": name, "sha256": seed_set.sha256, "tasks": len(seed_set.tasks), "format": seed_set.format},
        "num": config.generation.num,
        "teacher": {"backend": config.teacher.backend, "model": config.teacher.model},
    }
    return request, summary


def _existing(store: JobStore, key: str, digest: str) -> Job | None:
    job = store.by_key(key)
    if job is not None and job.request_sha256 != digest:
        raise SubmissionError(409, "this Idempotency-Key was already used for a different request")
    return job


def submit_job(
    settings: ServiceSettings,
    store: JobStore,
    seeds_filename: str | None,
    seeds: bytes | None,
    config_text: bytes,
    num: int | None,
    idempotency_key: str | None,
    domain_text: bytes | None = None,
) -> tuple[Job, bool]:
    """Validate and queue a job; returns (job, created). A repeated idempotency key with the same
    request returns the first job (created=False); with a different request it is a 409.

    Instruction jobs upload a seed file (and optionally a config); classification jobs upload a
    domain file (and optionally the seeds file it names in `seeds_file`)."""
    if seeds is None and domain_text is None:
        raise SubmissionError(422, "upload `seeds` (instruction data) or `domain` (a classification domain file)")
    if domain_text is not None and config_text:
        raise SubmissionError(422, "a domain job is configured by its domain file: do not send `config`")
    name = safe_seed_name(seeds_filename) if seeds is not None else None
    digest = request_sha256(name or "", seeds or b"", config_text, num, domain_text or b"")
    if idempotency_key and (job := _existing(store, idempotency_key, digest)) is not None:
        return job, False
    job_id = uuid.uuid4().hex
    staging = settings.jobs_dir / f".staging-{job_id}"
    final = settings.jobs_dir / job_id
    try:
        inputs = staging / INPUTS
        inputs.mkdir(parents=True)
        if seeds is not None and name is not None:
            (inputs / name).write_bytes(seeds)
        if config_text:
            (inputs / CONFIG_NAME).write_bytes(config_text)
        if domain_text is not None:
            (inputs / DOMAIN_NAME).write_bytes(domain_text)
            request, summary = _domain_job(settings, inputs, domain_text, name, num)
        else:
            assert name is not None
            request, summary = _instruction_job(settings, inputs, name, config_text, num)
        request["submitted_at"] = datetime.now(timezone.utc).isoformat()
        (staging / REQUEST).write_text(json.dumps(request, indent=2), encoding="utf-8")
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        return store.create(job_id, digest, idempotency_key, summary), True
    except sqlite3.IntegrityError:  # the same key raced in from another request
        shutil.rmtree(final, ignore_errors=True)
        job = _existing(store, idempotency_key or "", digest)
        if job is None:
            raise
        return job, False
