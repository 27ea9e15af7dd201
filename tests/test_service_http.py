"""The API's HTTP surface in-process (no worker, no socket): probes, the one error shape, 405/415.
The real-server tests are test_service_api.py, test_service_schema.py and test_service_secrets.py."""

from __future__ import annotations

import json
import os
import time

import pytest
from fastapi.testclient import TestClient

from service import api
from service.api import create_app
from service.jobs import JobStore
from service.settings import ServiceSettings

TOKEN = "t" * 24


@pytest.fixture
def client(tmp_path):
    settings = ServiceSettings(data_dir=tmp_path, max_rows=7)
    with TestClient(create_app(settings, TOKEN), headers={"Authorization": f"Bearer {TOKEN}"}) as made:
        made.store = JobStore(settings.db_path)  # type: ignore[attr-defined]
        yield made


def test_healthz_is_readiness_and_livez_is_liveness(client, monkeypatch):
    anonymous = TestClient(client.app)
    starting = anonymous.get("/healthz")
    assert starting.status_code == 503 and starting.json() == {"status": "degraded", "worker": "starting"}
    assert anonymous.get("/livez").json() == {"status": "alive"}
    # a heartbeat written before this API started is a previous worker's: still starting
    with client.store._connect() as db:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('worker', ?)", (json.dumps({"at": 1.0}),))
    assert anonymous.get("/healthz").json()["worker"] == "starting"
    client.store.heartbeat(os.getpid())
    ready = anonymous.get("/healthz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "worker": "alive"}
    # once the start-up grace is over, a worker without a fresh heartbeat is down, not starting
    with client.store._connect() as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'worker'", (json.dumps({"at": time.time() - 3600}),))
    monkeypatch.setattr(api, "STARTUP_GRACE_SECONDS", 0.0)
    down = anonymous.get("/healthz")
    assert down.status_code == 503 and down.json() == {"status": "degraded", "worker": "not running"}


def test_every_error_is_one_detail_string(client):
    for response, status, words in (
        (client.get("/jobs", params={"limit": 0}), 422, "query.limit"),
        (client.get("/jobs", params={"state": "done"}), 422, "query.state"),
        (
            client.post("/jobs", files={"seeds": ("s.txt", b"A task.\n")}, headers={"Idempotency-Key": "k" * 201}),
            422,
            "Idempotency-Key",
        ),
        (client.post("/jobs", json={"seeds": "A task."}), 415, "multipart/form-data"),
        (client.post("/jobs", data={"num": "2"}), 422, "upload `seeds`"),
        (client.post("/jobs", files={"seeds": ("s.txt", b"A task.\n")}, data={"num": "1.5"}), 422, "num"),
        (
            client.post("/jobs", files=[("seeds", ("a.txt", b"A.\n")), ("seeds", ("b.txt", b"B.\n"))]),
            422,
            "seeds: sent 2 times",
        ),
        (client.post("/jobs", files={"seeds": ("s.txt", b"A task.\n")}, data={"num": "8"}), 422, "cap of 7"),
        (client.get(f"/jobs/{'0' * 32}"), 404, "no such job"),
        (client.get("/nowhere"), 404, "Not Found"),
        (TestClient(client.app).get("/jobs"), 401, "bearer token"),
    ):
        assert response.status_code == status, (response.status_code, response.text)
        body = response.json()
        assert list(body) == ["detail"] and isinstance(body["detail"], str) and words in body["detail"], body


def test_a_plain_form_field_is_read_like_a_file_part(client):
    # curl -F 'seeds=<file' sends a field without a file name: the same bytes, named seeds.txt
    response = client.post(
        "/jobs", data={"seeds": "Write a poem.\nPlan a trip.\n", "num": "2"}, files={"x": ("x", b"")}
    )
    assert response.status_code == 201, response.text
    seeds = response.json()["summary"]["seeds"]
    assert (seeds["name"], seeds["tasks"], seeds["format"]) == ("seeds.txt", 2, "text")


def test_405_lists_every_method_of_the_path(client):
    response = client.request("OPTIONS", "/jobs")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "POST"}
    assert "POST" not in client.request("PUT", f"/jobs/{'0' * 32}").headers["allow"]
