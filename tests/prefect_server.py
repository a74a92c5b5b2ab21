"""A real Prefect server on a free loopback port with its own PREFECT_HOME, for tests
and benchmarks; processes are started in their own session and killed as a group."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until(check, what: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def prefect_server(home: Path, env: dict[str, str], timeout: float = 120) -> Iterator[dict[str, str]]:
    """Start ``prefect server start``; yield the env that points clients at it."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {**env, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = home / "server.log"
    proc = subprocess.Popen(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        _wait_until(healthy, "prefect server", proc, log, timeout)
        yield env
    finally:
        _stop(proc)


@contextmanager
def served(project_dir: Path, env: dict[str, str], deployment: str,
           timeout: float = 120) -> Iterator[subprocess.Popen]:
    """Run ``mke serve`` until ``deployment`` is registered; yield its process; stop it afterwards."""
    log = Path(env["PREFECT_HOME"]) / "serve.log"
    proc = subprocess.Popen(["mke", "serve", "--project", str(project_dir)], cwd=project_dir, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def registered() -> bool:
        return subprocess.run(["prefect", "deployment", "inspect", deployment], env=env,
                              capture_output=True).returncode == 0

    try:
        _wait_until(registered, "mke serve", proc, log, timeout)
        yield proc
    finally:
        _stop(proc)
