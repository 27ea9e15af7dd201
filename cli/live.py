"""One live progress line per stage of a run, drawn from RUN_DIR/progress.json.

The lines read the run's progress file rather than hooking into the pipeline: whatever schedules
the teacher keeps progress.json current, and this only watches it (every `interval` seconds, in
a daemon thread). Each teacher stage (instructions, responses, verification, ...) gets its own
line when it first runs; on a terminal every line is redrawn in place, elsewhere (a pipe, CI) a
stage's line is printed when the run moves on from it (at most every `every` seconds per stage)
and every stage's final line at the end.

    instructions   kept 12/40   0.41 rows/s    63 tokens/s   ETA 1:08
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pipeline.progress import read_progress

QUIET_STAGES = {"starting", "done"}  # not stages of work


@dataclass
class _Stage:
    seconds: float = 0.0  # time this stage was the current one
    tokens: int = 0
    line: str = ""


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else (f"{seconds // 60}:{seconds % 60:02d}")
    )


class LiveLines:
    def __init__(
        self,
        run_dir: Path,
        console: TextIO,
        interval: float = 0.5,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.clock = clock
        self.run_dir = run_dir
        self.console = console
        self.interval = interval
        self.tty = bool(getattr(console, "isatty", lambda: False)())
        self.stages: dict[str, _Stage] = {}
        self.current: str | None = None
        self.started = clock()
        self.first_answer: float | None = None  # when the teacher (or the journal) first answered
        self.drawn = 0  # lines drawn by the last redraw (terminal only)
        self.every = every
        self.printed: dict[str, float] = {}  # stage -> when its line was last printed (not a terminal)
        self._last = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="seedforge-progress", daemon=True)

    def __enter__(self) -> LiveLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.tick()
        if not self.tty:
            for name in self.stages:
                self._print(name, final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        state = read_progress(self.run_dir)
        now = self.clock()
        elapsed, self._last = now - self._last, now
        if state is None:
            return
        previous, stage = self.current, str(state.get("stage", ""))
        if previous is not None:
            self.stages[previous].seconds += elapsed
        if stage not in QUIET_STAGES:
            self.stages.setdefault(stage, _Stage())
            self.current = stage
        if self.first_answer is None and (state.get("completions", 0) or state.get("reused", 0)):
            self.first_answer = now
        for name, entry in self.stages.items():
            counts = (state.get("stages") or {}).get(name) or {}
            entry.tokens = int(counts.get("completion_tokens", 0) or 0)
            if name in (previous, self.current) or not entry.line:
                entry.line = self.render(name, entry, state, now)
        if self.tty:
            self._redraw()
        elif previous is not None and previous != self.current:
            self._print(previous, now=now)

    def render(self, name: str, entry: _Stage, state: dict[str, Any], now: float) -> str:
        label = f"{name:<14}"
        if self.first_answer is None:
            return f"{label} waiting for the teacher to start ({now - self.started:.0f} s)"
        kept, target = int(state.get("kept", 0)), int(state.get("target", 0))
        running = max(now - self.first_answer, 1e-9)
        rate = kept / running
        tokens = entry.tokens / entry.seconds if entry.seconds > 0 else 0.0
        if kept >= target > 0:
            eta = "done"
        elif rate > 0:
            eta = _clock((target - kept) / rate)
        else:
            eta = "?"
        return f"{label} kept {kept}/{target}  {rate:6.2f} rows/s  {tokens:6.0f} tokens/s  ETA {eta}"

    def _redraw(self) -> None:
        out = "".join("\x1b[1A" for _ in range(self.drawn))
        out += "".join(f"\r\x1b[2K{entry.line}\n" for entry in self.stages.values())
        self.drawn = len(self.stages)
        self.console.write(out)
        self.console.flush()

    def _print(self, name: str, now: float = 0.0, final: bool = False) -> None:
        if not self.stages[name].line or (not final and now - self.printed.get(name, -self.every) < self.every):
            return
        self.printed[name] = now
        self.console.write(self.stages[name].line + "\n")
        self.console.flush()
