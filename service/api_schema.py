"""What /openapi.json promises: the bodies, every status each route can answer, and the links.

One error body for every 4xx (`{"detail": "..."}`, a sentence naming the file, line and field
when an upload is at fault); uploads are binary file parts; the links (submit → status →
artifacts → download, cancel → resume) let a client, or a stateful fuzzer, follow real job ids.
Checked by tests/test_service_schema.py (schemathesis, all checks) against a real server.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from service.jobs import State

Responses = dict[int | str, dict[str, Any]]  # FastAPI's `responses=`: status -> OpenAPI response


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
    state: State
    version: int | None
    artifacts: list[Artifact]


class Health(BaseModel):
    status: str = Field(description="ok: ready for jobs; degraded: the API answers but no worker runs jobs")
    worker: str = Field(description="alive, starting (no heartbeat yet since this API started) or not running")


class Liveness(BaseModel):
    status: str = Field(description="always `alive`: the API process answers HTTP")


class ErrorBody(BaseModel):
    """The body of every 4xx answer."""

    detail: str = Field(description="what is wrong, for a human; for uploads: file:line: field: problem")


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422s (query, header) in the one error shape: `detail` is always a string."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def without_fastapi_422(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 with its own body on every route with parameters; the routes that
    can answer 422 declare it with ErrorBody, so what is left of FastAPI's is never answered."""
    for methods in schema.get("paths", {}).values():
        for spec in methods.values():
            answer = spec.get("responses", {}).get("422", {})
            if answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref") == FASTAPI_422:
                del spec["responses"]["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description, **extra}


UNAUTHORIZED: Responses = {
    401: _error(
        "missing or wrong `Authorization: Bearer <token>`",
        headers={"WWW-Authenticate": {"description": "`Bearer`", "required": True, "schema": {"type": "string"}}},
    )
}
# BodyLimit counts every request body, on every route.
TOO_LARGE: Responses = {413: _error("request body over the service's max_upload_bytes; the connection is closed")}
NOT_FOUND: Responses = {404: _error("no such job (or artifact)")}
PROTECTED: Responses = {**UNAUTHORIZED, **TOO_LARGE}
JOB_ROUTE: Responses = {**PROTECTED, **NOT_FOUND}
LOCATION = {"Location": {"description": "/jobs/{id}", "required": True, "schema": {"type": "string"}}}
BINARY = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}

HEALTH: Responses = {
    200: {"model": Health, "description": "ready: the worker is alive"},
    503: {"model": Health, "description": "not ready: the worker is starting or not running (the API is alive)"},
    **TOO_LARGE,
}
LIVENESS: Responses = {200: {"model": Liveness, "description": "the API process answers"}, **TOO_LARGE}
METRICS: Responses = {
    200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
    **PROTECTED,
}
LIST_JOBS: Responses = {**PROTECTED, 422: _error("bad `state` or `limit`")}
SHOW_JOB: Responses = {**JOB_ROUTE}


def _link(operation: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation, "description": description, "parameters": parameters}


JOB_LINKS = {
    "GetJob": _link("getJob", "the job's state and progress", job_id="$response.body#/id"),
    "ListArtifacts": _link("listArtifacts", "the job's published files", job_id="$response.body#/id"),
    "CancelJob": _link("cancelJob", "cancel the job", job_id="$response.body#/id"),
}
SUBMIT: Responses = {
    201: {"model": JobView, "description": "queued", "headers": LOCATION, "links": JOB_LINKS},
    200: {
        "model": JobView,
        "description": "this Idempotency-Key was used before for the same request: that job",
        "headers": LOCATION,
        "links": JOB_LINKS,
    },
    400: _error("malformed multipart body"),
    **PROTECTED,
    409: _error("this Idempotency-Key was used for a different request"),
    415: _error("the body is not a form (multipart/form-data)"),
    422: _error(
        "an input is invalid (file:line: field: problem), over the service's caps, or chooses what the service owns"
    ),
}
CANCEL: Responses = {
    202: {
        "model": JobView,
        "description": "queued: cancelled now; running: its processes are being stopped",
        "links": {"ResumeJob": _link("resumeJob", "run it again from its journal", job_id="$response.body#/id")},
    },
    **JOB_ROUTE,
    409: _error("the job has already ended"),
}
RESUME: Responses = {
    202: {
        "model": JobView,
        "description": "queued again; it resumes from its journal",
        "links": {"GetJob": JOB_LINKS["GetJob"]},
    },
    **JOB_ROUTE,
    409: _error("only failed or cancelled jobs can be resumed"),
}
ARTIFACTS: Responses = {
    200: {
        "model": ArtifactList,
        "description": "the published files (none before the first version is published)",
        "links": {
            "DownloadArtifact": _link(
                "downloadArtifact",
                "the first published file",
                job_id="$response.body#/job",
                name="$response.body#/artifacts/0/name",
            )
        },
    },
    **JOB_ROUTE,
}
DOWNLOAD: Responses = {
    200: {
        "description": "the file, as published (see its sha256 in the listing)",
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},  # train.jsonl, rejected.jsonl, ...
            "application/json": {"schema": {}},  # stats.json, manifest.json: as published
            "application/yaml": {"schema": {}},  # config.yaml
            "application/octet-stream": {"schema": BINARY},  # anything else (report.html, ...)
        },
    },
    403: _error("the artifact's path leads outside the job's directory"),
    **JOB_ROUTE,
}

EXAMPLE_SEEDS = "Write a short poem about the sea.\nExplain how a bicycle gear works.\n"


def submit_body(max_rows: int) -> dict[str, Any]:
    """The multipart body of POST /jobs, written out (the route parses the form itself)."""
    schema = {
        "type": "object",
        "properties": {
            "seeds": {**BINARY, "description": "seed file: .jsonl, .json, .csv or .txt (by its file name)"},
            "config": {**BINARY, "description": "YAML config: seeds / generation / filters sections"},
            "domain": {**BINARY, "description": "classification domain file (YAML); then `seeds` is its seeds_file"},
            "num": {
                "type": "integer",
                "minimum": 1,
                "maximum": max_rows,
                "description": "target number of kept rows (overrides the config's generation.num)",
            },
        },
        "anyOf": [{"required": ["seeds"]}, {"required": ["domain"]}],
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": schema,
                    "example": {"seeds": EXAMPLE_SEEDS, "num": 2},
                }
            },
        }
    }
