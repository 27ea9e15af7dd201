"""No secret in any log: the API token sent every way a client might send it (header, URL, body)
must not appear in any log file of a real `seedforge serve` run (its own log with the access log
and the worker's, every job's job.log)."""

from __future__ import annotations

import base64
import json
import logging
import sys
from urllib.parse import quote

import pytest

from service.logs import REDACTED, RedactSecrets, redact_query
from tests.conftest import GENERAL_SEEDS
from tests.service_helpers import start_service, wait_job
from tests.stub_openai import Stub


def test_redact_query_keeps_names_and_harmless_values():
    target = "/jobs?state=queued&token=abc&API_KEY=def&x-signature=ghi&limit=5&password&session_id=jkl"
    assert redact_query(target) == (
        f"/jobs?state=queued&token={REDACTED}&API_KEY={REDACTED}&x-signature={REDACTED}&limit=5"
        f"&password={REDACTED}&session_id={REDACTED}"
    )
    assert redact_query("/jobs/abc") == "/jobs/abc"
    assert redact_query("/jobs?access%5Ftoken=abc") == f"/jobs?access%5Ftoken={REDACTED}"


def test_redactor_scrubs_messages_arguments_access_records_and_tracebacks():
    secret = "s3cr3t/token+value"
    redactor = RedactSecrets([secret])
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "GET", "/j?t=1&key=x", "1.1", 401),
        None,
    )
    assert redactor.filter(access) and access.getMessage() == f'1.2.3.4 - "GET /j?t=1&key={REDACTED} HTTP/1.1" 401'
    encoded = logging.LogRecord(
        "uvicorn.access", 20, "", 0, "%s %s %s %s %d", ("a", "GET", f"/x/{quote(secret, safe='')}", "1.1", 404), None
    )
    redactor.filter(encoded)
    assert secret not in encoded.getMessage() and quote(secret, safe="") not in encoded.getMessage()
    try:
        raise ValueError(f"bad {secret}")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, "", 0, "got %s", (secret,), sys.exc_info())
    redactor.filter(failed)
    text = logging.Formatter().format(failed)
    assert secret not in text and text.count(REDACTED) == 2


@pytest.mark.slow
def test_no_log_file_holds_the_token_however_a_client_sends_it(tmp_path):
    stub = Stub()
    settings = {"slots": 1, "poll_seconds": 0.2, "teacher": {"backend": "openai", "base_urls": [stub.url]}}
    token = "Sf-" + "9f3c2a7be1d04c58a6e2" + "_Tk.~x"  # characters that URL-encode differently
    service = start_service(tmp_path, tmp_path / "data", settings, token=token)
    try:
        right, anonymous = service.client(), service.client(None)
        encoded = quote(token, safe="")
        # in URLs: as query parameters under credential names and not, and as a path segment
        for target in (
            f"/jobs?token={encoded}",
            f"/jobs?access_token={encoded}&state=queued",
            f"/metrics?api_key={encoded}",
            f"/healthz?auth={encoded}",
            f"/openapi.json?q={encoded}",
            f"/jobs/{encoded}",
            f"/jobs/{encoded}/artifacts/{encoded}",
        ):
            assert anonymous.get(target).status_code in (200, 401), target
            assert right.get(target).status_code in (200, 404), target
        # in headers other than the right one
        basic = base64.b64encode(f"user:{token}".encode()).decode()
        for headers in ({"Authorization": f"Basic {basic}"}, {"Authorization": f"Token {token}"}, {"X-Api-Key": token}):
            assert anonymous.get("/jobs", headers=headers).status_code == 401
        # in bodies: a refused config that holds it, and a job whose seeds and key hold it
        refused = right.post(
            "/jobs",
            files={"seeds": ("s.txt", b"Write a poem.\n"), "config": ("c.yaml", f"api_key: {token}\n".encode())},
        )
        assert refused.status_code == 422
        seeds = (
            GENERAL_SEEDS.read_bytes()
            + json.dumps({"id": "s", "name": "s", "instruction": f"Remember {token}.", "instances": []}).encode()
            + b"\n"
        )
        job = right.post(
            "/jobs",
            files={"seeds": ("seeds.jsonl", seeds), "config": ("c.yaml", b"generation: {min_prompts_per_round: 4}\n")},
            data={"num": "3"},
            headers={"Idempotency-Key": token},
        )
        assert job.status_code == 201, job.text
        wait_job(service, job.json()["id"], lambda j: j["state"] == "succeeded", timeout=120)
    finally:
        service.stop()
        stub.close()
    logs = sorted(p for p in tmp_path.rglob("*.log") if p.is_file())
    names = {p.name for p in logs}
    assert "job.log" in names and any(n.startswith("service-") for n in names), names
    forms = {token, quote(token, safe=""), base64.b64encode(token.encode()).decode(), basic}
    for path in logs:
        text = path.read_text(errors="replace")
        assert not [form for form in forms if form in text], path
    access = next(p for p in logs if p.name.startswith("service-")).read_text()
    # the requests were logged, without the token
    assert f'"GET /jobs?token={REDACTED} HTTP/1.1" 401' in access
    assert f'"GET /jobs?access_token={REDACTED}&state=queued HTTP/1.1" 200' in access
    assert f'"GET /jobs/{REDACTED} HTTP/1.1" 404' in access
    assert f'"GET /openapi.json?q={REDACTED} HTTP/1.1" 200' in access
