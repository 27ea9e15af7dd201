"""A teacher that is a pool of Ray actors, each holding one engine (one per GPU, or per core group).

The pool is a `StreamingTeacher`: the Gateway on the driver sends it a batch, the pool splits it
into chunks, keeps every live replica busy, and yields each completion the moment a replica
finishes it (Ray streaming generators). The driver's Gateway journals it right there, so the
journal — on the driver, in the run dir — stays the one record of what was paid for.

Exactly-once across a lost worker: replicas are started with Ray's own restarts and task retries
off, because a transparently re-executed stream would replay completions already delivered. When
a replica dies (its node is gone, its process crashed, its engine died) the pool requeues only the
requests of its chunk that had not arrived, sends them to a surviving replica, and starts a
replacement where the cluster has room. A completion delivered twice for one request is dropped
(counted, never used). Nothing here decides what a request *is*: request ids and seeds come from
the Gateway, so a resent request gets the same seed and the run stays reproducible.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.teachers.base import ChatRequest, Completion, Teacher, TeacherUnavailable
from generator.teachers.executor import ExecutorConfig
from generator.teachers.ray_replica import TeacherReplica

log = logging.getLogger("seedforge.ray")


def _source_root() -> str | None:
    """Seedforge's checkout when it runs from source, so workers can import it too."""
    root = Path(__file__).resolve().parents[2]  # generator/teachers/ray.py -> the checkout
    return None if "site-packages" in root.parts else str(root)


def connect(config: ExecutorConfig) -> bool:
    """Join (or start) Ray for this process. True when we started it and must shut it down."""
    import ray

    if ray.is_initialized():
        return False
    runtime_env = dict(config.runtime_env)
    root = _source_root()
    if root is not None:
        env_vars = dict(runtime_env.get("env_vars", {}))
        paths = [root, *filter(None, [env_vars.get("PYTHONPATH") or os.environ.get("PYTHONPATH")])]
        env_vars["PYTHONPATH"] = os.pathsep.join(paths)
        runtime_env["env_vars"] = env_vars
    kwargs: dict[str, Any] = {"runtime_env": runtime_env or None, "log_to_driver": False}
    if config.address:
        ray.init(address=config.address, **kwargs)
    else:
        # "local" starts a private instance; without it Ray would join whatever cluster
        # /tmp/ray/ray_current_cluster names (a `ray start` on this machine, possibly long dead).
        ray.init(address="local", include_dashboard=False, object_store_memory=config.object_store_memory, **kwargs)
    return True


@dataclass
class _Chunk:
    index: list[int]  # positions in the caller's batch
    delivered: set[int] = field(default_factory=set)  # positions in `index` already yielded


@dataclass
class PoolStats:
    replicas_started: int = 0
    replicas_lost: int = 0
    replacements: int = 0
    requests_resent: int = 0
    duplicates_dropped: int = 0
    chunks: int = 0
    completions_by_node: dict[str, int] = field(default_factory=dict)
    startup_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RayTeacher:
    """`StreamingTeacher` over `config.replicas` Ray actors built by `factory`."""

    def __init__(self, factory: Callable[[], Teacher], config: ExecutorConfig):
        import ray

        self._ray = ray
        self.config = config
        self.factory = factory
        self.stats = PoolStats()
        self._own_ray = connect(config)
        gpus = config.gpus_per_replica
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self._actor_cls: Any = ray.remote(TeacherReplica).options(
            num_cpus=config.cpus_per_replica, num_gpus=gpus, max_restarts=0, max_task_retries=0
        )
        self._idle: list[Any] = []
        self._info: dict[Any, dict[str, Any]] = {}
        self._starting: dict[Any, Any] = {}  # start() ref -> actor
        self._next_index = 0
        self._identity: tuple[str, str, str] | None = None
        self.startup_seconds = 0.0
        t0 = time.perf_counter()
        try:
            for _ in range(config.replicas):
                self._launch()
            self._await_start(config.replicas)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.perf_counter() - t0

    # --- identity: the replicas' teacher, so request ids match the local executor's ---
    @property
    def model_name(self) -> str:
        return self._ident()[0]

    @property
    def revision(self) -> str:
        return self._ident()[1]

    @property
    def endpoint(self) -> str:
        return self._ident()[2]

    def _ident(self) -> tuple[str, str, str]:
        if self._identity is None:
            raise TeacherUnavailable("no teacher replica has started")
        return self._identity

    # --- replicas ---
    def _launch(self) -> None:
        actor = self._actor_cls.remote(self.factory, self._next_index, self.config.cpus_per_replica)
        self._next_index += 1
        self._starting[actor.start.remote()] = actor

    def _await_start(self, wanted: int) -> None:
        deadline = time.monotonic() + self.config.start_timeout
        while len(self._idle) < wanted and self._starting:
            ready, _ = self._ray.wait(list(self._starting), num_returns=1, timeout=deadline - time.monotonic())
            if not ready:
                raise TeacherUnavailable(
                    f"{len(self._starting)} teacher replica(s) did not start within {self.config.start_timeout:.0f} s "
                    f"(does the cluster have {self.config.cpus_per_replica} CPU(s) free per replica? "
                    f"resources: {self._ray.available_resources()})"
                )
            self._started(ready[0])
        if len(self._idle) < wanted:
            raise TeacherUnavailable(f"only {len(self._idle)} of {wanted} teacher replicas started")

    def _started(self, ref: Any) -> None:
        actor = self._starting.pop(ref)
        try:
            info = self._ray.get(ref)
        except Exception as exc:  # a replica that cannot build its engine is lost, not fatal
            log.warning("teacher replica failed to start: %s", exc, extra={"stage": "ray"})
            self.stats.replicas_lost += 1
            self._ray.kill(actor)
            return
        identity = (info["model"], info["revision"], info["endpoint"])
        if self._identity is None:
            self._identity = identity
        elif identity != self._identity:
            self._ray.kill(actor)
            raise TeacherUnavailable(f"replicas disagree on the teacher: {identity} vs {self._identity}")
        self._info[actor] = info
        self.stats.replicas_started += 1
        self.stats.startup_seconds.append(info["startup_seconds"])
        self._idle.append(actor)
        log.info("teacher replica up on node %s (pid %s)", info["node"][:12], info["pid"], extra={"stage": "ray"})

    def _lose(self, actor: Any, why: str) -> None:
        self.stats.replicas_lost += 1
        log.warning("teacher replica lost (%s)", why, extra={"stage": "ray"})
        self._info.pop(actor, None)
        with contextlib.suppress(Exception):  # an unreachable replica must not keep working on our chunk
            self._ray.kill(actor)
        if self.stats.replacements < self.config.max_replacements:
            self.stats.replacements += 1
            self._launch()

    # --- the stream ---
    def stream(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        ray = self._ray
        live = max(1, len(self._info))  # replicas alive (all idle between batches)
        size = max(1, min(self.config.batch_size, math.ceil(len(requests) / live)))
        queue = deque(_Chunk(list(range(s, min(s + size, len(requests))))) for s in range(0, len(requests), size))
        answered: set[int] = set()
        running: dict[Any, tuple[Any, _Chunk]] = {}  # stream generator -> (actor, chunk)
        try:
            while queue or running:
                while queue and self._idle:
                    actor, chunk = self._idle.pop(), queue.popleft()
                    batch = [requests[i] for i in chunk.index]
                    running[actor.stream.options(num_returns="streaming").remote(batch)] = (actor, chunk)
                    self.stats.chunks += 1
                if not running and not self._starting:
                    raise TeacherUnavailable("every teacher replica is lost and no replacement can start")
                waitables = [*running, *self._starting]
                timeout = None if running else self.config.start_timeout
                ready, _ = ray.wait(waitables, num_returns=1, timeout=timeout)
                if not ready:
                    raise TeacherUnavailable("no replacement teacher replica started in time")
                for item in ready:
                    if item in self._starting:
                        self._started(item)
                        continue
                    yield from self._advance(item, running, queue, requests, answered)
        finally:
            for gen, (actor, _) in running.items():  # the consumer stopped early, or a request failed
                with contextlib.suppress(Exception):
                    ray.cancel(gen)
                self._idle.append(actor)

    def _advance(
        self,
        gen: Any,
        running: dict[Any, tuple[Any, _Chunk]],
        queue: deque[_Chunk],
        requests: Sequence[ChatRequest],
        answered: set[int],
    ) -> Iterator[tuple[int, Completion]]:
        ray = self._ray
        actor, chunk = running[gen]
        try:
            k, completion = ray.get(next(gen))
        except StopIteration:
            del running[gen]
            self._idle.append(actor)
            self._requeue(chunk, queue)  # a replica that ended early leaves the rest to others
            return
        except ray.exceptions.RayTaskError as exc:
            del running[gen]
            cause = exc.as_instanceof_cause()
            if isinstance(cause, TeacherUnavailable):  # its engine died: the replica is lost
                self._lose(actor, str(cause))
                self._requeue(chunk, queue)
                return
            self._idle.append(actor)
            raise cause from None  # one bad request: the Gateway splits the batch to isolate it
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError) as exc:
            del running[gen]
            self._lose(actor, type(exc).__name__)
            self._requeue(chunk, queue)
            return
        position = chunk.index[k]
        chunk.delivered.add(k)
        if position in answered:
            self.stats.duplicates_dropped += 1
            return
        answered.add(position)
        node = self._info.get(actor, {}).get("node", "?")[:12]
        self.stats.completions_by_node[node] = self.stats.completions_by_node.get(node, 0) + 1
        yield position, completion

    def _requeue(self, chunk: _Chunk, queue: deque[_Chunk]) -> None:
        rest = [p for k, p in enumerate(chunk.index) if k not in chunk.delivered]
        if rest:
            self.stats.requests_resent += len(rest)
            queue.appendleft(_Chunk(rest))

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        for i, completion in self.stream(requests):
            results[i] = completion
        if any(c is None for c in results):
            raise TeacherUnavailable("the replica pool finished without answering every request")
        return [c for c in results if c is not None]

    def describe(self) -> dict[str, Any]:
        return {"executor": "ray", "replicas": self.config.replicas, **self.stats.as_dict()}

    def close(self) -> None:
        ray = self._ray
        actors = [*self._idle, *self._starting.values()]
        for actor in self._idle:
            with contextlib.suppress(Exception):
                ray.get(actor.close.remote(), timeout=60)
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self._idle, self._starting, self._info = [], {}, {}
        if self._own_ray and ray.is_initialized():
            ray.shutdown()
        self._own_ray = False
