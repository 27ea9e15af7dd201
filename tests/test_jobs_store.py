"""The job store's state machine on real SQLite (WAL): guarded transitions, recovery after a crash."""

from __future__ import annotations

import sqlite3

import pytest

from service.jobs import JobStore


@pytest.fixture
def store(tmp_path):
    return JobStore(tmp_path / "jobs.sqlite3")


def new(store: JobStore, job_id: str, key: str | None = None):
    return store.create(job_id, "sha", key, {"num": 1})


def test_wal_and_the_happy_path(store, tmp_path):
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    new(store, "a" * 32)
    job = store.claim_next(slot=0)
    assert job is not None and job.state == "running" and job.runs == 1 and job.started_at
    assert store.claim_next(slot=0) is None  # nothing else queued
    store.update_progress(job.id, {"stage": "responses", "kept": 1})
    assert store.get(job.id).stage == "responses"
    assert store.finish(job.id, "succeeded", funnel={"kept": 1})
    assert not store.finish(job.id, "failed", error="late")  # only a running job can finish
    done = store.get(job.id)
    assert done.state == "succeeded" and done.funnel == {"kept": 1} and done.error is None


def test_idempotency_key_is_unique(store):
    new(store, "a" * 32, key="k")
    with pytest.raises(sqlite3.IntegrityError):
        new(store, "b" * 32, key="k")
    assert store.by_key("k").id == "a" * 32


def test_cancel_queued_at_once_running_by_flag(store):
    new(store, "a" * 32)
    new(store, "b" * 32)
    running = store.claim_next(0)
    queued_id = "b" * 32 if running.id == "a" * 32 else "a" * 32
    assert store.request_cancel(queued_id).state == "cancelled"
    flagged = store.request_cancel(running.id)
    assert flagged.state == "running" and flagged.cancel_requested and flagged.stage == "cancelling"
    store.update_progress(running.id, {"stage": "responses"})
    assert store.get(running.id).stage == "cancelling"  # progress does not hide a pending cancel
    assert store.resume(queued_id) and store.get(queued_id).state == "queued"
    assert not store.resume(running.id)


def test_recovery_resumes_then_fails_with_a_reason(store):
    new(store, "a" * 32)
    job = store.claim_next(0)
    assert store.recover(max_interruptions=2) == {job.id: "queued"}
    assert store.get(job.id).interruptions == 1 and store.get(job.id).state == "queued"
    store.claim_next(0)
    assert store.recover(max_interruptions=2) == {job.id: "queued"}
    store.claim_next(0)
    assert store.recover(max_interruptions=2) == {job.id: "failed"}
    failed = store.get(job.id)
    assert failed.state == "failed" and "interrupted 3 times" in failed.error and "resume" in failed.error
    assert store.list_jobs(state="running") == []


def test_recovery_of_a_job_being_cancelled_finishes_the_cancel(store):
    new(store, "a" * 32)
    job = store.claim_next(0)
    store.request_cancel(job.id)
    assert store.recover(max_interruptions=5) == {job.id: "cancelled"}
