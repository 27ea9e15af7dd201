"""The HTTP job API (FastAPI). Jobs are queued here and run by the worker process.

    POST /jobs                      multipart: seeds (file) + config (YAML, optional), or domain (a
                                    classification domain file, + the seeds file it names); num;
                                    header Idempotency-Key: a retried submission returns the same job
    GET  /jobs                      newest first; ?state=running
    GET  /jobs/{id}                 state, stage, progress counts, funnel so far / final funnel
    POST /jobs/{id}/cancel          stops the job's processes; its run stays resumable
    POST /jobs/{id}/resume          queues a failed or cancelled job again (resumes from its journal)
    GET  /jobs/{id}/artifacts       the published files of the job's run, with sha256
    GET  /jobs/{id}/artifacts/{name}
    GET  /healthz                   no token needed; 503 while the worker is not running
    GET  /metrics                   Prometheus text format: jobs by state, rows, teacher tokens/s, errors
    GET  /openapi.json

Every route but /healthz needs `Authorization: Bearer <token>` (see service/security.py).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    FastAPI,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    Security,
    UploadFile,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from rundir.publish import CURRENT, MANIFEST
from service.jobrun import RUN
from service.jobs import TERMINAL, Job, JobStore, State
from service.metrics import CONTENT_TYPE, Metrics
from service.security import BearerAuth, BodyLimit, contained_file
from service.settings import ServiceSettings
from service.submit import SubmissionError, submit_job

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".yaml": "application/yaml"}


class JobView(BaseModel):
    id: str
    state: State
    stage: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str
    idempotency_key: str | None
    summary: dict[str, Any]
    progress: dict[str, Any] | None
    funnel: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    runs: int
    interruptions: int
    links: dict[str, str]


class JobList(BaseModel):
    jobs: list[JobView]


class Artifact(BaseModel):
    name: str
    bytes: int
    sha256: str
    rows: int | None = None
    url: str


class ArtifactList(BaseModel):
    job: str
    state: str
    version: int | None
    artifacts: list[Artifact]


class Health(BaseModel):
    status: str
    worker: str


def view(job: Job) -> JobView:
    return JobView.model_validate(job.public())


def create_app(settings: ServiceSettings, token: str | None) -> FastAPI:
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.db_path)
    app = FastAPI(
        title="Seedforge job API",
        version="1",
        description="Submit seed files, follow generation jobs, download their datasets.",
        openapi_url=None,  # served below, behind the token like everything else
        docs_url=None,
        redoc_url=None,
    )
    # Added last = outermost: the token is checked before the body limit reads anything.
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(BearerAuth, token=token)
    metrics = Metrics(store, settings.jobs_dir, RUN)

    @app.middleware("http")  # outermost: counts the 401s and 413s of the middlewares above too
    async def count_errors(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        metrics.observe(response.status_code)
        return response

    router = APIRouter(dependencies=[Security(HTTPBearer(auto_error=False))])  # documents the scheme

    def get_job(job_id: str) -> Job:
        job = store.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> JSONResponse:
        seen = store.worker_seen()
        alive = seen is not None and seen < max(15.0, 20 * settings.poll_seconds)
        body = {"status": "ok" if alive else "degraded", "worker": "alive" if alive else "not running"}
        return JSONResponse(body, status_code=200 if alive else 503)

    @router.get("/metrics", tags=["service"], response_class=Response)
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @router.post("/jobs", status_code=201, response_model=JobView, tags=["jobs"])
    async def submit(
        response: Response,
        seeds: Annotated[UploadFile | None, File(description="seed file: .jsonl, .json, .csv or .txt")] = None,
        config: Annotated[UploadFile | None, File(description="YAML config: seeds/generation/filters")] = None,
        domain: Annotated[UploadFile | None, File(description="classification domain file (YAML)")] = None,
        num: Annotated[int | None, Form(ge=1, description="target number of kept rows")] = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    ) -> JobView:
        seeds_bytes = await seeds.read() if seeds is not None else None
        config_bytes = await config.read() if config is not None else b""
        domain_bytes = await domain.read() if domain is not None else None
        seeds_name = seeds.filename if seeds is not None else None
        try:
            job, created = await run_in_threadpool(
                submit_job, settings, store, seeds_name, seeds_bytes, config_bytes, num, idempotency_key, domain_bytes
            )
        except SubmissionError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        response.status_code = 201 if created else 200
        response.headers["Location"] = f"/jobs/{job.id}"
        return view(job)

    @router.get("/jobs", response_model=JobList, tags=["jobs"])
    def list_jobs(
        state: Annotated[State | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> JobList:
        return JobList(jobs=[view(j) for j in store.list_jobs(state, limit)])

    @router.get("/jobs/{job_id}", response_model=JobView, tags=["jobs"])
    def show_job(job_id: str) -> JobView:
        return view(get_job(job_id))

    @router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobView, tags=["jobs"])
    def cancel_job(job_id: str) -> JobView:
        job = get_job(job_id)
        if job.state in TERMINAL:
            raise HTTPException(409, f"job already {job.state}")
        return view(store.request_cancel(job_id) or job)

    @router.post("/jobs/{job_id}/resume", status_code=202, response_model=JobView, tags=["jobs"])
    def resume_job(job_id: str) -> JobView:
        job = get_job(job_id)
        if not store.resume(job_id):
            raise HTTPException(409, f"only failed or cancelled jobs can be resumed; this one is {job.state}")
        return view(get_job(job_id))

    def manifest(job: Job) -> dict[str, Any]:
        try:
            path = contained_file(settings.jobs_dir / job.id, f"{RUN}/{CURRENT}/{MANIFEST}")
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):  # nothing published yet
            return {}

    @router.get("/jobs/{job_id}/artifacts", response_model=ArtifactList, tags=["artifacts"])
    def list_artifacts(job_id: str) -> ArtifactList:
        job = get_job(job_id)
        found = manifest(job)
        items = [
            Artifact(name=name, url=f"/jobs/{job.id}/artifacts/{name}", **info)
            for name, info in sorted(found.get("artifacts", {}).items())
        ]
        return ArtifactList(job=job.id, state=job.state, version=found.get("version"), artifacts=items)

    @router.get("/jobs/{job_id}/artifacts/{name}", response_class=FileResponse, tags=["artifacts"])
    def download_artifact(job_id: str, name: str) -> FileResponse:
        job = get_job(job_id)
        listed = {*manifest(job).get("artifacts", {}), MANIFEST}
        if name not in listed:  # only published files, by their exact names
            raise HTTPException(404, "no such artifact")
        try:
            path = contained_file(settings.jobs_dir / job.id, f"{RUN}/{name}")
        except FileNotFoundError:
            raise HTTPException(404, "no such artifact") from None
        except PermissionError:
            raise HTTPException(403, "artifact path leaves the job directory") from None
        return FileResponse(path, filename=name, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"))

    app.include_router(router)
    return app
