"""Streaming teacher traffic, decided in request order.

A round-based run idles the engine (a batch waits for its slowest request, the next stage for
the batch). A `Flow` lets a strategy submit calls at any time and take outcomes one by one: the
teacher holds up to `in_flight` requests, and an invalid completion is re-sent as it arrives.
Outcomes are taken in submission order (a reorder buffer) and counted when taken, and seeds
derive from each call's key and attempt, so decisions and counts never depend on timing: a
rerun from the journal, at any in-flight count or round-based, decides and counts the same.
Teachers without a session (scripted fakes, the Ray pool) or `in_flight: 0` get round-based
batches: one per stage when an outcome of it is needed, exactly what `Gateway.run` sends.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from generator.calls import Call, FlowGateway, Outcome, StageStats, check_completion
from generator.teachers.base import ChatRequest, Completion, SessionTeacher, TeacherSession, TeacherUnavailable

log = logging.getLogger("seedforge.flow")
LOG_EVERY = 64  # streaming: one log line per this many outcomes taken in a stage


@dataclass
class _Ticket:
    call: Call
    stage: str
    attempt: int = 0
    request: ChatRequest | None = None
    request_id: str = ""
    history: list[str] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    cached: int = 0
    final: Outcome | None = None
    taken: bool = False
    ahead: bool = False  # sent ahead for a call the strategy will submit again (see send_ahead)
    first: bool = False  # sent before earlier-submitted calls (see submit)
    journaled: set[str] = field(default_factory=set)  # request ids answered from the journal


class Flow:
    def __init__(self, gateway: FlowGateway, in_flight: int | None = None):
        self.gateway = gateway
        teacher = gateway.teacher
        limit = in_flight if in_flight is not None else getattr(teacher, "in_flight", 0)
        self.in_flight = int(limit or 0)
        self.streaming = self.in_flight > 0 and isinstance(teacher, SessionTeacher)
        self._session: TeacherSession | None = None
        self._tickets: list[_Ticket] = []
        # Waiting to be sent, as (rank, order, ticket): retries first (the oldest undecided waits on
        # them), then calls submitted `first`, then the rest, each in the order queued.
        self._waiting: list[tuple[int, int, int]] = []
        self._order = itertools.count()
        self._sent: set[int] = set()
        self._busy_mark: float | None = None  # engine busy since (streaming: teacher time)
        self.waited = 0.0  # streaming: seconds spent waiting on the teacher ...
        self.held = 0.0  # ... and request-seconds held in it meanwhile (held / waited: mean in flight)
        self._ahead: dict[str, int] = {}  # request id -> the ticket that sent it ahead
        self._followers: dict[str, list[int]] = {}  # request id -> tickets waiting on its answer
        self._joined: set[int] = set()  # tickets sent ahead that a submit joined
        # Runs after each batch of answers, whoever waits (e.g. sends the checks of texts that
        # arrived while verification waits on another round); see take's `idle` for one wait.
        self.watch: Callable[[], None] | None = None

    # -- the strategy's side ----------------------------------------------------------------------

    def submit(self, call: Call, stage: str, first: bool = False) -> int:
        """Queue `call`; returns its ticket. Journaled requests are answered at once. `first`: send
        it before calls queued without it (work that later decisions wait on); order only."""
        ticket = len(self._tickets)
        self._tickets.append(_Ticket(call, stage, first=first))
        self._issue(ticket)
        if self.streaming:
            self._pump()
        return ticket

    def send_ahead(self, call: Call, stage: str, first: bool = False) -> None:
        """Send now a call the strategy will `submit` later: that submit gets these answers, with
        the outcome and counts a plain submit gives. Abandoned at close if never submitted;
        round-based flows ignore it. `first` as in submit."""
        if not self.streaming:
            return
        ticket = len(self._tickets)
        self._tickets.append(_Ticket(call, stage, ahead=True, first=first))
        self._issue(ticket)
        self._pump()

    def room(self) -> int:
        """How many more requests the teacher could take now with nothing else waiting to be sent
        (streaming; round-based flows have none)."""
        if not self.streaming:
            return 0
        return self.in_flight - len(self._sent) - len(self._waiting)

    def peek(self, ticket: int) -> Outcome | None:
        """The final outcome of `ticket` if it has come, without taking (or counting) it."""
        return self._tickets[ticket].final

    def take(self, ticket: int, idle: Callable[[], None] | None = None) -> Outcome:
        """The final outcome of `ticket`, waiting as needed; `idle` runs after each batch of answers
        meanwhile (it may take outcomes that are done, and submit). Counted now, once."""
        entry = self._tickets[ticket]
        while entry.final is None:
            (self._stream_step if self.streaming else self._send_batch)(entry.stage)
            for hook in (self.watch, idle):
                if hook is not None:
                    hook()
        if not entry.taken:
            entry.taken = True
            self._count(entry, entry.final)
        return entry.final

    def close(self) -> None:
        """Abandon requests nobody will take (e.g. sent ahead for a round that never came)."""
        if self.waited:
            ahead = [t for t, entry in enumerate(self._tickets) if entry.ahead]
            unused = len([t for t in ahead if t not in self._joined])
            message = "held %.1f requests in flight on average (in_flight %d) over %.1f s waiting on the teacher; "
            message += "%d of %d calls sent ahead were never submitted (their answers unused)"
            log.info(message, self.held / self.waited, self.in_flight, self.waited, unused, len(ahead))
        if self._session is not None:
            self._session.close()
            self._session = None
        self._sent.clear()
        if self.gateway.journal is not None:
            self.gateway.journal.sync()

    def __enter__(self) -> Flow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------------------

    def _issue(self, ticket: int, retry: bool = False) -> None:
        entry = self._tickets[ticket]
        gateway = self.gateway
        entry.request = gateway.request_for(entry.call, entry.attempt)
        request_id = entry.request_id = gateway.request_id(entry.request)
        leader = self._ahead.get(request_id)
        if leader is not None and not entry.ahead:
            self._joined.add(leader)
            sent = self._tickets[leader]
            if request_id in sent.history:  # answered already
                entry.cached += request_id in sent.journaled
                self._arrive(ticket, sent.completions[sent.history.index(request_id)])
            else:
                self._followers.setdefault(request_id, []).append(ticket)
            return
        if entry.ahead:
            self._ahead[request_id] = ticket
        found = gateway.journal.get(request_id) if gateway.journal is not None else None
        if found is not None:
            entry.cached += 1
            entry.journaled.add(request_id)
            self._arrive(ticket, found)
        else:
            heapq.heappush(self._waiting, (0 if retry else 1 if entry.first else 2, next(self._order), ticket))

    def _arrive(self, ticket: int, completion: Completion) -> None:
        entry = self._tickets[ticket]
        assert entry.request is not None
        request_id = entry.request_id
        entry.history.append(request_id)
        entry.completions.append(completion)
        tries = len(entry.history)
        outcome = check_completion(entry.call, completion, tries, list(entry.history), entry.request.seed)
        if outcome.ok or tries >= self.gateway.max_attempts:
            entry.final = outcome
        else:
            entry.attempt += 1
            self._issue(ticket, retry=True)
        for follower in self._followers.pop(request_id, []) if entry.ahead else []:
            self._tickets[follower].cached += request_id in entry.journaled
            self._arrive(follower, completion)

    def _count(self, entry: _Ticket, outcome: Outcome) -> None:
        stats = self._stats(entry.stage)
        stats.requests += 1
        stats.attempts += len(entry.history)
        stats.retries += len(entry.history) - 1
        stats.quarantined += not outcome.ok
        stats.cached += entry.cached
        stats.prompt_tokens += sum(c.prompt_tokens for c in entry.completions)
        stats.completion_tokens += sum(c.completion_tokens for c in entry.completions)
        if self.streaming and stats.requests % LOG_EVERY == 0:
            log.info(
                "%d outcomes taken, %d requests in flight",
                stats.requests,
                len(self._sent),
                extra={"stage": entry.stage, "spent_tokens": self.gateway.spent_tokens, "cached": stats.cached},
            )

    # -- round-based: one batch per stage, as Gateway.run sends them -----------------------------

    def _send_batch(self, stage: str) -> None:
        mine = sorted(item for item in self._waiting if self._tickets[item[2]].stage == stage)
        batch = [t for rank, _, t in mine if rank == 0] + sorted(t for rank, _, t in mine if rank)
        if not batch:
            raise RuntimeError(f"nothing queued for stage {stage!r} yet an outcome is awaited")
        self._waiting = [item for item in self._waiting if self._tickets[item[2]].stage != stage]
        heapq.heapify(self._waiting)
        requests = [self._tickets[t].request for t in batch]
        ids = [self._tickets[t].request_id for t in batch]
        answered: dict[int, Completion] = {}
        started = time.perf_counter()
        try:
            for k, completion in self.gateway._fresh([r for r in requests if r is not None], ids):
                answered[k] = completion
        finally:
            self._stats(stage).teacher_seconds += time.perf_counter() - started
        if len(answered) != len(batch):
            raise TeacherUnavailable(f"teacher answered {len(answered)} of {len(batch)} requests")
        for k, ticket in enumerate(batch):
            self._arrive(ticket, answered[k])
        log.info(
            "batch of %d requests: %d to retry",
            len(batch),
            len([t for t in batch if self._tickets[t].final is None]),
            extra={"stage": stage, "spent_tokens": self.gateway.spent_tokens},
        )

    # -- streaming ----------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Top the engine up to `in_flight` requests: retries, then `first` calls, then the rest,
        each in submission order."""
        items: list[tuple[int, ChatRequest]] = []
        while len(self._sent) + len(items) < self.in_flight and self._waiting:
            ticket = heapq.heappop(self._waiting)[2]
            request = self._tickets[ticket].request
            assert request is not None
            items.append((ticket, request))
        if not items:
            return
        if self._session is None:
            teacher = self.gateway.teacher
            assert isinstance(teacher, SessionTeacher)
            self._session = teacher.open_session()
        if not self._sent:
            self._busy_mark = time.perf_counter()
        self._submit(self._session, items)

    def _submit(self, session: TeacherSession, items: list[tuple[int, ChatRequest]]) -> None:
        """Send `items`; a refused group is re-sent one by one, so a bad request fails alone."""
        self._sent.update(t for t, _ in items)
        try:
            session.submit(items)
        except TeacherUnavailable:
            raise
        except Exception as exc:
            self._sent.difference_update(t for t, _ in items)
            if len(items) > 1:
                for item in items:
                    self._submit(session, [item])
                return
            log.warning("the teacher refused a request: %s: %s", type(exc).__name__, exc)
            self._fresh_arrivals([(items[0][0], Completion.failed(f"{type(exc).__name__}: {exc}"))])

    def _stream_step(self, stage: str) -> None:
        self._pump()
        if not self._sent or self._session is None:
            if self._waiting:
                return  # the teacher refused every request just sent; their retries go next
            raise RuntimeError(f"nothing in flight for stage {stage!r} yet an outcome is awaited")
        holding, asked = len(self._sent), time.perf_counter()
        arrivals = self._session.wait()
        now = time.perf_counter()
        self.waited += now - asked
        self.held += holding * (now - asked)
        if self._busy_mark is not None:
            self._stats(stage).teacher_seconds += now - self._busy_mark
            self._busy_mark = now
        arrivals = [(t, c) for t, c in arrivals if t in self._sent]  # nothing answered twice
        self._sent.difference_update(t for t, _ in arrivals)
        self._fresh_arrivals(arrivals)
        if not self._sent:
            self._busy_mark = None
        self._pump()

    def _fresh_arrivals(self, arrivals: list[tuple[int, Completion]]) -> None:
        gateway = self.gateway
        gateway.teacher_calls += len(arrivals)
        # Errors are not journaled: a transient failure must be retried on resume.
        keep = [(self._tickets[t].request_id, c) for t, c in arrivals if c.finish_reason != "error"]
        if keep and gateway.journal is not None:
            gateway.journal.put_many(keep)
        for ticket, completion in arrivals:
            self._arrive(ticket, completion)

    def _stats(self, stage: str) -> StageStats:
        return self.gateway.stats.setdefault(stage, StageStats())
