"""`seedforge` command line (`python -m cli`; `python -m service` is kept as an alias). Each command
parses arguments, calls one function, prints a summary.

Errors the user can fix (bad seed file, bad config, unknown model) are printed as one clear
message with exit code 2, never as a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Annotated

import typer

from cli import classify, dedup, export, filter, finetune_lm, generate, prepare, report
from cli.choices import LogFormat, LogLevel
from cli.jobs import register as register_service_commands

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Turn seed examples into a fine-tuning dataset.")
seeds_app = typer.Typer(no_args_is_help=True, help="Inspect seed files.")
app.add_typer(seeds_app, name="seeds")
finetune_app = typer.Typer(no_args_is_help=True, help="Fine-tune a student on a run's kept rows.")
app.add_typer(finetune_app, name="finetune")
# (group, name, command), in the order `seedforge --help` lists them.
COMMANDS: list[tuple[typer.Typer, str, Callable[..., None]]] = [
    (app, "label", classify.label),
    (app, "report", report.report),
    (app, "estimate", report.estimate),
    (finetune_app, "classifier", classify.finetune_classifier),
    (app, "filter", filter.filter_run),
    (app, "dedup", dedup.dedup),
    (finetune_app, "lm", finetune_lm.finetune_lm),
    (finetune_app, "merge", finetune_lm.merge),
    (app, "export", export.export),
    (app, "generate", generate.generate),
    (app, "init", prepare.init),
    (app, "models", prepare.models),
    (seeds_app, "lint", prepare.seeds_lint),
]
for group, name, command in COMMANDS:
    group.command(name)(command)

TEXT, WARNING = LogFormat("text"), LogLevel("WARNING")  # defaults


@app.callback()
def _global_options(
    log_format: Annotated[LogFormat, typer.Option(help="log lines as text, or json (one object per line)")] = TEXT,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False, help="least severe level logged")] = WARNING,
) -> None:
    from rundir.logs import setup_logging

    setup_logging(log_format.value, log_level.value)


register_service_commands(app)  # serve, submit, status, cancel, download


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is. A BaseException, like KeyboardInterrupt, so no
    `except Exception` on the way swallows it and every `finally` runs: the engine is shut down
    (its processes would otherwise outlive us) and the journal is flushed."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM stops at once, cleanup or not
    raise Terminated()


def main() -> None:
    # `kill PID`, `docker stop`, a batch scheduler's time limit: stop as cleanly as Ctrl-C would.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except Terminated:
        typer.echo(
            "stopped (SIGTERM): finished completions are in the run's journal; run the same command again to resume",
            err=True,
        )
        raise SystemExit(128 + signal.SIGTERM) from None
