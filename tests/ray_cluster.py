"""A real multi-node Ray cluster on 127.0.0.1, made of `ray start` processes, for tests and benches.

Each node is its own `ray start --block` session, so a test can kill one node (SIGKILL to every
process of the session: raylet, its agents and workers die together, as when a machine drops off the network)
and tear the whole cluster down without `ray stop`, which would stop every Ray on this machine.
Nodes are tiny (1 CPU, 100 MB object store) and every port is chosen free, so two clusters on one
machine never collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import cli_env, free_port

RAY = str(Path(sys.executable).parent / "ray")
STORE = str(100 * 1024 * 1024)
# Declare a lost node dead after ~2 s instead of Ray's default ~30 s.
HEALTH = {"health_check_initial_delay_ms": 1000, "health_check_period_ms": 500, "health_check_failure_threshold": 3}


def ray_env() -> dict[str, str]:
    env = cli_env()
    env["RAY_AUTH_MODE"] = "disabled"  # loopback test cluster: no token to distribute
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


class LocalCluster:
    def __init__(self, log_dir: Path, cpus_per_node: int = 1):
        self.log_dir = log_dir
        self.cpus = cpus_per_node
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        argv = [RAY, "start", "--block", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]
        argv += ["--num-cpus", str(self.cpus), "--object-store-memory", STORE]
        argv += ["--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port())]
        proc = subprocess.Popen(
            argv + args, env=ray_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.nodes.append(proc)
        return proc

    def start_head(self) -> None:
        self._start(
            [
                "--head",
                "--port",
                str(self.port),
                "--include-dashboard=false",
                "--ray-client-server-port",
                str(free_port()),
                "--system-config",
                json.dumps(HEALTH),
            ],
            "head",
        )

    def add_node(self) -> subprocess.Popen:
        return self._start(["--address", self.address], f"node{len(self.nodes)}")

    def wait_nodes(self, count: int, timeout: float = 120.0) -> None:
        """Wait until `count` nodes are alive (needs ray.init on this cluster)."""
        import ray

        deadline = time.monotonic() + timeout
        while sum(n["Alive"] for n in ray.nodes()) != count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster did not reach {count} live nodes: {ray.nodes()}")
            time.sleep(0.3)

    def connect(self, timeout: float = 120.0) -> None:
        import ray

        os.environ.update({k: v for k, v in ray_env().items() if k.startswith("RAY_")})
        deadline = time.monotonic() + timeout
        while True:
            try:
                ray.init(address=self.address, log_to_driver=False)
                return
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL a node's every process at once. Ray (2.60) puts each worker in its own process
        group, so killing the node's group alone leaves its actors answering for a second or
        three; they are still in the node's session (`ray start` leads it), so kill that."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # raylet first: it can start no new worker
        for pid in _session_members(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(30)

    def shutdown(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for proc in reversed(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            self.kill(proc)  # whatever ignored SIGTERM
        # `ray start --head` records its address machine-wide; `ray stop` would remove it, a kill does not.
        marker = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        with contextlib.suppress(OSError):
            if marker.read_text().strip().endswith(f":{self.port}"):
                marker.unlink()


def _session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry.name)) == sid:
                    members.append(int(entry.name))
    return members


@contextlib.contextmanager
def local_cluster(log_dir: Path, nodes: int = 2, cpus_per_node: int = 1) -> Iterator[LocalCluster]:
    cluster = LocalCluster(log_dir, cpus_per_node)
    try:
        cluster.start_head()
        cluster.connect()
        for _ in range(nodes - 1):
            cluster.add_node()
        cluster.wait_nodes(nodes)
        yield cluster
    finally:
        cluster.shutdown()
