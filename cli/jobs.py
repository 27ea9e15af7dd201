"""CLI commands of the job service: `serve`, and the client side `submit / status / cancel / download`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.choices import ServerLogLevel
from service.settings import TOKEN_ENV, TOKEN_FILE_ENV

URL_HELP = "service URL (default: $SEEDFORGE_URL or http://127.0.0.1:8080)"
TOKEN_HELP = f"file holding the API token (default: ${TOKEN_ENV} or ${TOKEN_FILE_ENV})"
Url = Annotated[str | None, typer.Option(help=URL_HELP)]
TokenFile = Annotated[Path | None, typer.Option(help=TOKEN_HELP)]
INFO = ServerLogLevel("info")  # the default


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0 in a container)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    data_dir: Annotated[Path | None, typer.Option(help="jobs, uploads, runs and the job database")] = None,
    config: Annotated[Path | None, typer.Option(help="service YAML: teacher, limits, slots")] = None,
    slots: Annotated[int | None, typer.Option(help="jobs at once (default: one per GPU, else 1)")] = None,
    token_file: TokenFile = None,
    insecure_no_auth: Annotated[bool, typer.Option(help="serve without a token (local experiments only)")] = False,
    log_level: Annotated[ServerLogLevel, typer.Option(help="uvicorn log level")] = INFO,
) -> None:
    """Run the HTTP job API and its worker: POST /jobs, GET /jobs/{id}, artifacts, cancel."""
    from service.serve import run_server
    from service.settings import SettingsError, load_settings, load_token

    try:
        settings = load_settings(config, data_dir=data_dir, slots=slots)
        token = load_token(token_file)
    except (SettingsError, OSError) as exc:
        _fail(str(exc))
        return
    if token is None and not insecure_no_auth:
        _fail(f"no API token: set {TOKEN_ENV} or {TOKEN_FILE_ENV} (or --token-file); --insecure-no-auth to run open")
    if token is None:
        typer.echo(
            "warning: authentication is OFF (--insecure-no-auth): anyone who can connect can submit jobs", err=True
        )
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    run_server(settings, token, host, port, log_level.value)


def _client(url: str | None, token_file: Path | None) -> Any:
    from service.client import Client, client_token

    return Client(url, client_token(token_file))


def _line(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    counts = f"kept {progress.get('kept', 0)}/{progress.get('target', '?')}" if progress else ""
    error = f"  error: {job['error']}" if job.get("error") else ""
    return f"{job['id']}  {job['state']:<9} {job['stage']:<14} {counts}{error}".rstrip()


def submit(
    seeds: Annotated[Path | None, typer.Argument(help="seed file (for a domain: the seeds_file it names)")] = None,
    domain: Annotated[Path | None, typer.Option(help="classification domain file: labeled pairs")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (seeds/generation/filters)")] = None,
    num: Annotated[int | None, typer.Option(help="target number of kept rows")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="resubmitting with the same key returns the same job")
    ] = None,
    wait: Annotated[bool, typer.Option(help="follow the job until it ends")] = False,
    url: Url = None,
    token_file: TokenFile = None,
) -> None:
    """Submit a generation job to a running `seedforge serve`: a seed file, or a --domain file."""
    from service.client import ClientError

    if seeds is None and domain is None:
        _fail("give a seed file or --domain FILE")
    client = _client(url, token_file)
    try:
        job = client.submit(seeds, config, num, idempotency_key, domain)
        typer.echo(_line(job))
        while wait and job["state"] in ("queued", "running"):
            time.sleep(2)
            job = client.job(job["id"])
            typer.echo(_line(job))
    except ClientError as exc:
        _fail(str(exc))
        return
    if wait and job["state"] != "succeeded":
        raise typer.Exit(1)


def status(
    job_id: Annotated[str | None, typer.Argument(help="a job id (default: list recent jobs)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON")] = False,
    url: Url = None,
    token_file: TokenFile = None,
) -> None:
    """Show one job (state, stage, progress, funnel) or list recent jobs."""
    from service.client import ClientError

    client = _client(url, token_file)
    try:
        result: Any = client.job(job_id) if job_id else client.jobs()
    except ClientError as exc:
        _fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for job in [result] if job_id else result:
        typer.echo(_line(job))
    if job_id and result.get("funnel"):
        typer.echo(f"  funnel: {json.dumps(result['funnel'])}")


def cancel(job_id: str, url: Url = None, token_file: TokenFile = None) -> None:
    """Cancel a queued or running job (its run stays resumable)."""
    from service.client import ClientError

    try:
        typer.echo(_line(_client(url, token_file).cancel(job_id)))
    except ClientError as exc:
        _fail(str(exc))


def download(
    job_id: str,
    out: Annotated[Path, typer.Option(help="directory to write the artifacts into")] = Path("."),
    artifact: Annotated[list[str] | None, typer.Option(help="only these artifacts (repeatable)")] = None,
    url: Url = None,
    token_file: TokenFile = None,
) -> None:
    """Download a job's published artifacts (train.jsonl, rejected.jsonl, stats.json, ...), sha256-checked."""
    from service.client import ClientError

    client = _client(url, token_file)
    try:
        listing = client.artifacts(job_id)
        wanted = [a for a in listing["artifacts"] if not artifact or a["name"] in artifact]
        if not wanted:
            _fail(
                f"job {job_id} ({listing['state']}) has no published artifacts"
                + (" by those names" if artifact else "")
            )
        for item in wanted:
            path = client.download(job_id, item, out)
            typer.echo(f"{path}  {item['bytes']} bytes")
    except ClientError as exc:
        _fail(str(exc))


def register(app: typer.Typer) -> None:
    for command in (serve, submit, status, cancel, download):
        app.command()(command)
