"""A quiet console for a run: engine and library output goes to RUN_DIR/logs/engine.log.

vLLM, torch, Triton and transformers write to the process's stdout and stderr from Python
(warnings, their own logging handlers, tqdm bars) and from C++; vLLM's engine core is a child
process that inherits both file descriptors and writes to them for its whole life. Redirecting
Python logging cannot reach those, so for the length of the run file descriptors 1 and 2 point
at the log file (the engine, started lazily inside the run, inherits that) and Seedforge's own
console output (its log lines, the progress lines, errors logged by any library) goes to a
duplicate of the original stderr taken first. Everything is restored before the run's outcome
is printed, so the summary and any error message or traceback reach the terminal as before.

`--log-level DEBUG` turns all of this off: the engine's output stays on the console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

ENGINE_LOG = Path("logs") / "engine.log"


def verbose() -> bool:
    """The console shows the engine's output itself (`--log-level DEBUG`)."""
    return logging.getLogger("seedforge").getEffectiveLevel() <= logging.DEBUG


def _fd_backed(stream: TextIO, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def _logging_to(console: TextIO, log_file: TextIO) -> Iterator[None]:
    """Library log records go to the file; errors also to the console, in full. Seedforge's own
    handlers write to the console stream instead of the redirected stderr."""
    root = logging.getLogger()
    to_file = logging.StreamHandler(log_file)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    errors = logging.StreamHandler(console)
    errors.setLevel(logging.ERROR)
    root.addHandler(to_file)
    root.addHandler(errors)
    ours = [h for h in logging.getLogger("seedforge").handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.setStream(console) for h in ours]
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for handler, stream in zip(ours, streams, strict=True):
            if stream is not None:
                handler.setStream(stream)
        root.removeHandler(errors)
        root.removeHandler(to_file)
        to_file.flush()


@contextlib.contextmanager
def quiet_run(out_dir: Path) -> Iterator[TextIO]:
    """Redirect the engine's and libraries' output to `out_dir`/logs/engine.log for the block;
    yields the stream for Seedforge's console output. An empty log is removed afterwards."""
    if verbose():
        yield sys.stderr
        return
    path = out_dir / ENGINE_LOG
    # Directories made here go again with an empty log: a run that fails early writes nothing.
    created = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    # Under a test runner stderr may be a Python buffer rather than fd 2: then it is the console.
    console: TextIO = sys.stderr
    own_console = _fd_backed(sys.stderr, 2)
    if own_console:
        console = open(os.dup(saved[2]), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    log_file = open(os.dup(log_fd), "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        with _environment(VLLM_LOGGING_LEVEL="INFO"), _logging_to(console, log_file):
            yield console
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(log_fd)
        log_file.close()
        if own_console:
            console.close()
        if not existed and path.stat().st_size == 0:
            path.unlink()
            for directory in created:
                with contextlib.suppress(OSError):  # not empty: the run wrote there
                    directory.rmdir()
