"""A small version of bench/service_load.py in CI: a few clients submit and poll a few jobs at once
on a real `seedforge serve` (teacher: the OpenAI-compatible stub); every job must succeed with
exact accounting, none lost or duplicated, retried submissions answered with the first job, and
no request may fail. Latency is measured by the bench, not asserted here."""

from __future__ import annotations

import pytest

from tests.conftest import GENERAL_SEEDS
from tests.load_driver import Workload, run_load
from tests.service_helpers import start_service
from tests.stub_openai import Stub

pytestmark = pytest.mark.slow


def test_concurrent_clients_submit_and_poll_without_loss_or_duplicates(tmp_path):
    stub = Stub()
    settings = {"slots": 2, "poll_seconds": 0.2, "teacher": {"backend": "openai", "base_urls": [stub.url]}}
    service = start_service(tmp_path, tmp_path / "data", settings)
    work = Workload(
        seeds=GENERAL_SEEDS.read_bytes(),
        config=b"generation:\n  min_prompts_per_round: 4\n",
        num=3,
        jobs=8,
        clients=4,
        poll_interval=0.1,
        replay_every=3,
        deadline_seconds=300,
    )
    try:
        result = run_load(service.url, service.token, work)
    finally:
        service.stop()
        stub.close()
    assert result.problems == [] and not result.errors, (result.problems, result.errors)
    assert len(result.keys) == 8 and len(set(result.keys.values())) == 8
    assert result.replays == 3  # jobs 0, 3 and 6 were sent twice and answered with the first job
    assert {job["state"] for job in result.final.values()} == {"succeeded"} and len(result.final) == 8
    assert len(result.latencies) >= 8
