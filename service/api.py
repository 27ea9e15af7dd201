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
    GET  /healthz                   readiness, no token: 200 once the worker runs, 503 while it starts or is down
    GET  /livez                     liveness, no token: 200 while the API process answers
    GET  /metrics                   Prometheus text format: jobs by state, rows, teacher tokens/s, errors
    GET  /openapi.json

Every route but /healthz and /livez needs `Authorization: Bearer <token>` (see service/security.py).
Every 4xx answers `{"detail": "..."}`; service/api_schema.py documents each route's statuses.
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, Response, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPBearer
from starlette.datastructures import FormData, UploadFile
from starlette.routing import Match

from rundir.publish import CURRENT, MANIFEST
from service import api_schema as doc
from service.api_schema import Artifact, ArtifactList, Health, JobList, JobView, Liveness
from service.jobrun import RUN
from service.jobs import TERMINAL, Job, JobStore, State
from service.metrics import CONTENT_TYPE, Metrics
from service.security import BearerAuth, BodyLimit, contained_file
from service.settings import ServiceSettings
from service.submit import SubmissionError, submit_job

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
NUM = re.compile(r"^[0-9]{1,9}$")
MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".yaml": "application/yaml"}
FILE_FIELDS = ("seeds", "config", "domain")
# A url-encoded form cannot carry files but is read the same way (so its answer names what is missing).
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# A worker that has not beaten since the API started is "starting" for this long, then "not running".
STARTUP_GRACE_SECONDS = 120.0


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 whose `Allow` lists every method of the path (Starlette names only the first route's)."""
    allowed: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            allowed |= set(getattr(route, "methods", None) or ())
    return JSONResponse({"detail": "Method Not Allowed"}, 405, headers={"Allow": ", ".join(sorted(allowed))})


def view(job: Job) -> JobView:
    return JobView.model_validate(job.public())


async def read_submission(form: FormData) -> tuple[dict[str, tuple[bytes, str | None]], int | None]:
    """The upload parts (bytes, file name) and `num` of a POST /jobs form. A part may come as a
    file or as a plain field (curl -F 'config=<run.yaml' sends the latter): both are its bytes."""
    parts: dict[str, tuple[bytes, str | None]] = {}
    for field in FILE_FIELDS:
        values = form.getlist(field)
        if len(values) > 1:
            raise HTTPException(422, f"{field}: sent {len(values)} times; send it once")
        if values:
            value = values[0]
            if isinstance(value, UploadFile):
                parts[field] = (await value.read(), value.filename)
            else:
                parts[field] = (value.encode(), None)
    values = form.getlist("num")
    if not values:
        return parts, None
    text = values[0]
    if len(values) > 1 or not isinstance(text, str) or not NUM.match(text) or int(text) < 1:
        raise HTTPException(422, "num: must be one whole number of at least 1")
    return parts, int(text)


def create_app(settings: ServiceSettings, token: str | None) -> FastAPI:
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.db_path)
    started = time.time()
    app = FastAPI(
        title="Seedforge job API",
        version="1",
        description="Submit seed files, follow generation jobs, download their datasets. "
        "Every 4xx has the body `{detail: string}`.",
        openapi_url=None,  # served below, behind the token like everything else
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, doc.validation_error)
    app.add_exception_handler(405, method_not_allowed)
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

    @app.get("/healthz", operation_id="health", response_model=Health, responses=doc.HEALTH, tags=["service"])
    def healthz() -> JSONResponse:
        """Readiness: 200 once the worker runs (jobs will start), 503 while it starts or is down."""
        seen = store.worker_seen()
        now = time.time()
        # Only a heartbeat since this API started counts: after a restart, the old worker's is not ours.
        ours = seen is not None and now - seen >= started
        alive = ours and seen is not None and seen < max(15.0, 20 * settings.poll_seconds)
        if alive:
            worker = "alive"
        elif not ours and now - started < STARTUP_GRACE_SECONDS:
            worker = "starting"
        else:
            worker = "not running"
        body = {"status": "ok" if alive else "degraded", "worker": worker}
        return JSONResponse(body, status_code=200 if alive else 503)

    @app.get("/livez", operation_id="liveness", response_model=Liveness, responses=doc.LIVENESS, tags=["service"])
    def livez() -> Liveness:
        """Liveness: the API process answers (it does not look at the worker or the database)."""
        return Liveness(status="alive")

    @router.get("/metrics", operation_id="metrics", response_class=Response, responses=doc.METRICS, tags=["service"])
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @router.post(
        "/jobs",
        operation_id="submitJob",
        status_code=201,
        response_model=JobView,
        responses=doc.SUBMIT,
        openapi_extra=doc.submit_body(settings.max_rows),
        tags=["jobs"],
    )
    async def submit(
        request: Request,
        response: Response,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    ) -> JobView:
        """Queue a job: `seeds` (+ `config`) for instruction data, or `domain` (+ its `seeds`) for labeled pairs."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in FORM_TYPES:
            raise HTTPException(415, "send the job as multipart/form-data (parts: seeds, config, domain, num)")
        async with request.form() as form:
            parts, num = await read_submission(form)
        seeds, config, domain = (parts.get(field) for field in FILE_FIELDS)
        try:
            job, created = await run_in_threadpool(
                submit_job,
                settings,
                store,
                seeds[1] if seeds else None,
                seeds[0] if seeds else None,
                config[0] if config else b"",
                num,
                idempotency_key,
                domain[0] if domain else None,
            )
        except SubmissionError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        response.status_code = 201 if created else 200
        response.headers["Location"] = f"/jobs/{job.id}"
        return view(job)

    @router.get("/jobs", operation_id="listJobs", response_model=JobList, responses=doc.LIST_JOBS, tags=["jobs"])
    def list_jobs(
        state: Annotated[State | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> JobList:
        """Jobs, newest first."""
        return JobList(jobs=[view(j) for j in store.list_jobs(state, limit)])

    @router.get("/jobs/{job_id}", operation_id="getJob", response_model=JobView, responses=doc.SHOW_JOB, tags=["jobs"])
    def show_job(job_id: str) -> JobView:
        """State, stage, live progress, and the final funnel once it ends."""
        return view(get_job(job_id))

    @router.post(
        "/jobs/{job_id}/cancel",
        operation_id="cancelJob",
        status_code=202,
        response_model=JobView,
        responses=doc.CANCEL,
        tags=["jobs"],
    )
    def cancel_job(job_id: str) -> JobView:
        """Cancel a queued or running job (its run stays resumable)."""
        job = get_job(job_id)
        if job.state in TERMINAL:
            raise HTTPException(409, f"job already {job.state}")
        return view(store.request_cancel(job_id) or job)

    @router.post(
        "/jobs/{job_id}/resume",
        operation_id="resumeJob",
        status_code=202,
        response_model=JobView,
        responses=doc.RESUME,
        tags=["jobs"],
    )
    def resume_job(job_id: str) -> JobView:
        """Queue a failed or cancelled job again; it continues from its journal."""
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

    @router.get(
        "/jobs/{job_id}/artifacts",
        operation_id="listArtifacts",
        response_model=ArtifactList,
        responses=doc.ARTIFACTS,
        tags=["artifacts"],
    )
    def list_artifacts(job_id: str) -> ArtifactList:
        """The published files of the job's run, with sha256 and row counts."""
        job = get_job(job_id)
        found = manifest(job)
        items = [
            Artifact(name=name, url=f"/jobs/{job.id}/artifacts/{name}", **info)
            for name, info in sorted(found.get("artifacts", {}).items())
        ]
        return ArtifactList(job=job.id, state=job.state, version=found.get("version"), artifacts=items)

    @router.get(
        "/jobs/{job_id}/artifacts/{name}",
        operation_id="downloadArtifact",
        response_class=FileResponse,
        responses=doc.DOWNLOAD,
        tags=["artifacts"],
    )
    def download_artifact(job_id: str, name: str) -> FileResponse:
        """One published file, by its exact name."""
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
    app.openapi_schema = doc.without_fastapi_422(app.openapi())  # built once, before any request
    return app
