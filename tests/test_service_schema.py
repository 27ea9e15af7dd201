"""The job API keeps the contract its /openapi.json states, on a real `seedforge serve` over a socket.

Schemathesis (its Python engine, the same one `schemathesis run` drives) runs every phase
(examples, coverage, fuzzing, stateful) with all checks against the running service, with the
token, and must find nothing. A second test drives a whole job with nothing but the schema:
operation ids, the documented multipart body and the response links.

The run is bounded by what it generates, not by a clock (a `max_time` would make the engine
cycle until it runs out): examples and coverage enumerate the schema once; fuzzing draws
MAX_EXAMPLES cases per operation; the stateful phase MAX_EXAMPLES scenarios of at most
STATEFUL_STEPS calls; a failing case is reported as found, not shrunk (shrinking re-sends
requests for minutes per failure); every request gives up after REQUEST_TIMEOUT seconds.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import Status, from_schema
from schemathesis.engine.events import FatalError, FuzzScenarioFinished, NonFatalError, ScenarioFinished

from tests.conftest import ROOT
from tests.service_helpers import start_service
from tests.stub_openai import Stub

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 30  # fuzzing: per operation (as in `schemathesis run -n 30`); stateful: scenarios
STATEFUL_STEPS = 6  # calls per scenario: submit, status, artifacts, cancel, resume fit
REQUEST_TIMEOUT = 30  # seconds per request: a hung route fails the run instead of stalling CI
SEED = 20240601  # a fixed seed: CI explores the same cases every run
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
OPERATIONS = {
    "GET /healthz",
    "GET /livez",
    "GET /metrics",
    "GET /jobs",
    "POST /jobs",
    "GET /jobs/{job_id}",
    "POST /jobs/{job_id}/cancel",
    "POST /jobs/{job_id}/resume",
    "GET /jobs/{job_id}/artifacts",
    "GET /jobs/{job_id}/artifacts/{name}",
}


@pytest.fixture
def service(tmp_path):
    """A service of its own per test: the schemathesis run leaves queued jobs behind."""
    stub = Stub()
    settings = {
        "slots": 1,
        "max_upload_bytes": 256 * 1024,
        "max_rows": 20,
        "poll_seconds": 0.2,
        "cancel_grace_seconds": 2,
        "teacher": {"backend": "openai", "base_urls": [stub.url], "max_retries": 0},
    }
    svc = start_service(tmp_path, tmp_path / "data", settings)
    yield svc
    svc.stop()
    stub.close()


def run_schemathesis(url: str, token: str) -> tuple[list[str], list[str], Counter[tuple[str, str, int]]]:
    """(failures, engine errors, answers seen as (phase, operation, status))."""
    config = schemathesis.Config.from_path(ROOT / "schemathesis.toml")
    config.update(seed=SEED, max_failures=None)  # no max_time: with one, the engine fuzzes until it runs out
    override = config.projects.override
    # the token on every request, like `run -H`
    override.update(headers={"Authorization": f"Bearer {token}"}, request_timeout=REQUEST_TIMEOUT)
    override.checks.update(included_check_names=["all"])
    override.phases.update(phases=PHASES)
    override.phases.stateful.max_steps = STATEFUL_STEPS
    override.generation.update(max_examples=MAX_EXAMPLES, database="none", no_shrink=True)
    schema = schemathesis.openapi.from_url(
        f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"}, config=config
    )
    failures: list[str] = []
    errors: list[str] = []
    seen: Counter[tuple[str, str, int]] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, (ScenarioFinished, FuzzScenarioFinished)):
            phase = event.phase.value if isinstance(event, ScenarioFinished) else "fuzzing"
            recorder = event.recorder
            for case_id, checks in recorder.checks.items():
                label = recorder.cases[case_id].value.operation.label
                failures += [
                    f"{phase} {label}: {c.name} {c.failure_info}" for c in checks if c.status == Status.FAILURE
                ]
            for case_id, interaction in recorder.interactions.items():
                if interaction.response is not None and case_id in recorder.cases:
                    label = recorder.cases[case_id].value.operation.label
                    seen[(phase, label, interaction.response.status_code)] += 1
        elif isinstance(event, NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, FatalError):
            errors.append(f"fatal: {event.exception!r}")
    return failures, errors, seen


@pytest.mark.timeout(600)  # a hard stop; the bounds above keep it to a few minutes
def test_schemathesis_finds_nothing_with_all_checks(service):
    failures, errors, seen = run_schemathesis(service.url, service.token)
    assert not failures, "\n".join(failures)
    assert not errors, "\n".join(errors)
    # every operation was answered in the coverage and the fuzzing phase; the documented example ran
    for phase in ("coverage", "fuzzing"):
        assert {label for p, label, _ in seen if p == phase} == OPERATIONS, phase
    assert ("examples", "POST /jobs", 201) in seen, sorted(seen)
    # with and without its preconditions met
    statuses = {status for _, _, status in seen}
    assert {200, 201, 202, 401, 404, 422} <= statuses, statuses
    # the stateful phase followed links to real jobs (ids from a submission, its Location, or the
    # listing): status, artifact list and cancel answered 2xx, which a made-up id never gets
    stateful = {(label, status) for phase, label, status in seen if phase == "stateful"}
    real = {("GET /jobs/{job_id}", 200), ("GET /jobs/{job_id}/artifacts", 200), ("POST /jobs/{job_id}/cancel", 202)}
    assert real <= stateful, sorted(stateful)


def operation(schema: dict[str, Any], operation_id: str) -> tuple[str, str, dict[str, Any]]:
    for path, methods in schema["paths"].items():
        for method, spec in methods.items():
            if spec.get("operationId") == operation_id:
                return method.upper(), path, spec
    raise AssertionError(f"no operation {operation_id}")


def follow(client: httpx.Client, schema: dict, spec: dict, status: int, link: str, body: dict) -> httpx.Response:
    """Call the operation a documented link names, with the parameters its expressions pick."""
    target = spec["responses"][str(status)]["links"][link]
    method, path, _ = operation(schema, target["operationId"])
    for name, expression in target["parameters"].items():
        value: Any = body
        for step in expression.removeprefix("$response.body#/").split("/"):
            value = value[int(step)] if isinstance(value, list) else value[step]
        path = path.replace("{" + name + "}", str(value))
    return client.request(method, path)


def test_a_client_that_only_reads_the_schema_submits_follows_and_downloads(service):
    client = service.client()
    schema = client.get("/openapi.json").json()
    method, path, submit = operation(schema, "submitJob")
    body = submit["requestBody"]["content"]["multipart/form-data"]
    fields = body["schema"]["properties"]
    example = body["example"]
    files = {k: (k, str(v).encode()) for k, v in example.items() if fields[k].get("format") == "binary"}
    data = {k: str(v) for k, v in example.items() if k not in files}
    created = client.request(method, path, files=files, data=data)
    assert created.status_code == 201, created.text
    job = created.json()
    assert created.headers["location"] == f"/jobs/{job['id']}"
    # follow GetJob until the job ends (bounded in count; the stub teacher answers at once)
    for _ in range(600):
        current = follow(client, schema, submit, 201, "GetJob", job)
        assert current.status_code == 200
        if current.json()["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert current.json()["state"] == "succeeded", current.json()
    listing = follow(client, schema, submit, 201, "ListArtifacts", job)
    assert listing.status_code == 200 and listing.json()["artifacts"]
    _, _, list_spec = operation(schema, "listArtifacts")
    first = follow(client, schema, list_spec, 200, "DownloadArtifact", listing.json())
    expected = listing.json()["artifacts"][0]
    assert first.status_code == 200 and len(first.content) == expected["bytes"]
    # every documented 4xx of the schema uses the one error body
    errors = {
        ref
        for methods in schema["paths"].values()
        for spec in methods.values()
        for code, response in spec["responses"].items()
        if code.startswith("4")
        for ref in [response["content"]["application/json"]["schema"]["$ref"]]
    }
    assert errors == {"#/components/schemas/ErrorBody"}
    detail = schema["components"]["schemas"]["ErrorBody"]["properties"]["detail"]
    assert detail["type"] == "string"
    bad = client.get("/jobs", params={"limit": 0})
    assert bad.status_code == 422 and isinstance(bad.json()["detail"], str) and "limit" in bad.json()["detail"]
