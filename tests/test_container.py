"""What can be tested of the container without Docker: the entrypoint script (against a real
`seedforge serve`), hadolint and shellcheck, and that Dockerfile, compose.yaml and the service
config agree with each other and with the code that reads them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.settings import load_settings
from tests.conftest import ROOT, cli_env, free_port, stop_process_group, wait_for_http

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
DOCKERFILE = ROOT / "Dockerfile"


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the dev extra)")
    return found


def test_hadolint_passes():
    proc = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_passes():
    proc = subprocess.run([tool("shellcheck"), str(ENTRYPOINT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def fake_cli(tmp_path):
    """A stand-in `seedforge` that prints the arguments it was given, one per line."""
    script = tmp_path / "fake-seedforge"
    script.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    script.chmod(0o755)
    return script


def entrypoint(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEEDFORGE_")}
    return subprocess.run(["bash", str(ENTRYPOINT), *args], env={**clean, **env}, capture_output=True, text=True)


def test_serve_refuses_to_start_without_a_token(fake_cli, tmp_path):
    env = {"SEEDFORGE_BIN": str(fake_cli), "SEEDFORGE_DATA_DIR": str(tmp_path / "data")}
    proc = entrypoint(env=env)
    assert proc.returncode == 64 and "SEEDFORGE_API_TOKEN" in proc.stderr and proc.stdout == ""
    proc = entrypoint("serve", env={**env, "SEEDFORGE_API_TOKEN_FILE": str(tmp_path / "missing")})
    assert proc.returncode == 64 and "not readable" in proc.stderr
    proc = entrypoint("serve", "--insecure-no-auth", env=env)
    assert proc.returncode == 0 and "--insecure-no-auth" in proc.stdout.splitlines()


def test_serve_passes_host_port_data_dir_and_config(fake_cli, tmp_path):
    config = tmp_path / "service.yaml"
    config.write_text("slots: 1\n")
    env = {
        "SEEDFORGE_BIN": str(fake_cli),
        "SEEDFORGE_DATA_DIR": str(tmp_path / "data"),
        "SEEDFORGE_API_TOKEN": "t" * 32,
        "SEEDFORGE_SERVICE_CONFIG": str(config),
        "SEEDFORGE_SERVING_MARKER": str(tmp_path / "marker"),
    }
    proc = entrypoint("serve", "--log-level", "debug", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--data-dir",
        str(tmp_path / "data"),
        "--config",
        str(config),
        "--log-level",
        "debug",
    ]
    assert (tmp_path / "data").is_dir() and (tmp_path / "marker").read_text().strip() == "8080"
    assert "t" * 32 not in proc.stdout  # the token travels in the environment, never as an argument


def test_serve_refuses_an_unwritable_data_dir(fake_cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"SEEDFORGE_BIN": str(fake_cli), "SEEDFORGE_DATA_DIR": str(blocker / "data"), "SEEDFORGE_API_TOKEN": "t" * 32}
    proc = entrypoint("serve", env=env)
    assert proc.returncode == 64 and "not writable" in proc.stderr


def test_other_commands_go_to_the_cli(fake_cli, tmp_path):
    env = {"SEEDFORGE_BIN": str(fake_cli), "SEEDFORGE_SERVING_MARKER": str(tmp_path / "marker")}
    proc = entrypoint("generate", "--seeds", "/data/s.jsonl", "--num", "5", env=env)
    assert proc.returncode == 0 and proc.stdout.split() == ["generate", "--seeds", "/data/s.jsonl", "--num", "5"]
    assert entrypoint("healthcheck", env=env).returncode == 0  # not serving: nothing to check


@pytest.mark.slow
def test_entrypoint_serves_the_real_service_and_healthcheck_follows_it(tmp_path):
    wrapper = tmp_path / "seedforge"
    wrapper.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" -m cli "$@"\n')
    wrapper.chmod(0o755)
    port = free_port()
    env = {
        **{k: v for k, v in cli_env().items() if not k.startswith("SEEDFORGE_")},
        "SEEDFORGE_BIN": str(wrapper),
        "SEEDFORGE_PYTHON": sys.executable,
        "SEEDFORGE_HOST": "127.0.0.1",
        "SEEDFORGE_PORT": str(port),
        "SEEDFORGE_DATA_DIR": str(tmp_path / "data"),
        "SEEDFORGE_API_TOKEN": "entrypoint-test-token-0123456789",
        "SEEDFORGE_SERVING_MARKER": str(tmp_path / "marker"),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", str(ENTRYPOINT)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc, log, timeout=120)
        check = subprocess.run(["bash", str(ENTRYPOINT), "healthcheck"], env=env, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    finally:
        stop_process_group(proc)
    check = subprocess.run(["bash", str(ENTRYPOINT), "healthcheck"], env=env, capture_output=True, text=True)
    assert check.returncode == 1 and "unhealthy" in check.stderr


def test_dockerfile_compose_and_service_config_agree():
    dockerfile = DOCKERFILE.read_text()
    base = re.search(r"^FROM (\S+)$", dockerfile, re.M)
    assert base and re.fullmatch(r"vllm/vllm-openai:v\d+\.\d+\.\d+", base.group(1))  # a pinned release tag
    user = re.search(r"^USER (\S+)$", dockerfile, re.M)
    uid = re.search(r"^ARG SEEDFORGE_UID=(\d+)$", dockerfile, re.M)
    assert user and uid and int(uid.group(1)) > 0 and user.group(1).startswith("${SEEDFORGE_UID}")
    for needle in ('".[gpu]"', 'VOLUME ["/data"]', "HEALTHCHECK", 'ENTRYPOINT ["seedforge-entrypoint"]'):
        assert needle in dockerfile
    assert "tests" in (ROOT / ".dockerignore").read_text().split()

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    teacher, service = compose["services"]["teacher"], compose["services"]["seedforge"]
    assert teacher["image"] == base.group(1)
    assert service["depends_on"]["teacher"]["condition"] == "service_healthy"
    args = dict(a.removeprefix("--").split("=", 1) for a in teacher["command"])
    mount = next(v for v in service["volumes"] if v.endswith("/etc/seedforge/service.yaml:ro"))
    settings = load_settings(ROOT / mount.split(":")[0].removeprefix("./"))  # validated by the real loader
    assert settings.teacher.backend == "openai" and settings.teacher.model == args["served-model-name"]
    assert settings.teacher.base_urls == (f"http://teacher:{args['port']}/v1",)
    key_var = settings.teacher.api_key_env
    assert key_var in service["environment"] and "API_KEY" in teacher["environment"]["VLLM_API_KEY"]
    assert service["environment"][key_var].startswith("${TEACHER_API_KEY")
    assert teacher["environment"]["VLLM_API_KEY"].startswith("${TEACHER_API_KEY")
    assert service["environment"]["SEEDFORGE_API_TOKEN"].startswith("${SEEDFORGE_API_TOKEN:?")
    assert any(v.endswith(":/data") for v in service["volumes"])
    # compose probes readiness the way the image does (the entrypoint's healthcheck: GET /healthz)
    assert service["healthcheck"]["test"] == ["CMD", "seedforge-entrypoint", "healthcheck"]
    assert '"healthcheck"' in dockerfile.split("HEALTHCHECK", 1)[1].splitlines()[0]
