"""The local service's surface against callers that are not the user's own tools
(issue 13), on the real server that `scripts/serve.sh start` runs: the API refuses
calls without the auth string, CORS admits only the UI's own origin, the auth string
is private to the user, and `serve.sh stop` signals only processes it started."""
import base64
import os
import stat
import subprocess
import urllib.request
from pathlib import Path
from urllib.error import HTTPError

import pytest

from tests.conftest import ROOT, run, tool_env
from tests.prefect_server import free_port

SCRIPT = str(ROOT / "scripts" / "serve.sh")
# settings a developer's shell may carry that would bypass the profile under test
OVERRIDES = ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_PROFILE",
             "PREFECT_PROFILES_PATH", "PREFECT_SERVER_CORS_ALLOWED_ORIGINS", "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS")


def _env(tmp_path, home, port):
    env = tool_env(tmp_path, PORT=str(port), PREFECT_HOME=str(home), EXPERIMENT="twomoon")
    for name in OVERRIDES:
        env.pop(name, None)
    return env


def _request(url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers
    except HTTPError as e:
        return e.code, e.headers


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("service")
    port, home = free_port(), tmp / "home"
    env = _env(tmp, home, port)
    try:
        run(["bash", SCRIPT, "start"], ROOT, env, timeout=300)
        yield port, home, env
    finally:
        run(["bash", SCRIPT, "stop"], ROOT, env, check=False)


@pytest.mark.e2e
def test_api_refuses_calls_without_the_auth_string(service):
    port, home, _ = service
    url = f"http://127.0.0.1:{port}/api/deployments/filter"
    content = {"Content-Type": "application/json"}
    secret = (home / "api-auth-string").read_text().strip()

    def basic(s: str) -> dict[str, str]:
        return {**content, "Authorization": "Basic " + base64.b64encode(s.encode()).decode()}

    assert _request(url, "POST", content, b"{}")[0] == 401
    assert _request(url, "POST", basic(secret + "x"), b"{}")[0] == 401
    assert _request(url, "POST", basic(secret), b"{}")[0] == 200


@pytest.mark.e2e
def test_cli_finds_url_and_auth_string_through_prefect_home(service):
    """Nothing but PREFECT_HOME: the profile there supplies the API URL and the auth string.
    Without a URL the client would start a throw-away server on the same SQLite file, which
    would list the deployments too; ephemeral mode is off so that this cannot pass for it."""
    _, _, env = service
    listed = run(["prefect", "deployment", "ls"], ROOT, {**env, "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"})
    assert "mke/twomoon" in listed.stdout and "relabel/nyu" in listed.stdout


@pytest.mark.e2e
def test_cors_preflight_admits_only_the_ui_origin(service):
    port, _, _ = service
    url = f"http://127.0.0.1:{port}/api/flow_runs/filter"

    def preflight(origin: str):
        return _request(url, "OPTIONS", {"Origin": origin, "Access-Control-Request-Method": "POST"})[1]

    assert preflight("http://evil.example").get("access-control-allow-origin") is None
    ui = f"http://127.0.0.1:{port}"
    assert preflight(ui).get("access-control-allow-origin") == ui


@pytest.mark.e2e
def test_auth_string_and_profile_are_private(service):
    _, home, _ = service
    secret = (home / "api-auth-string").read_text().strip()
    assert len(secret) >= 32
    profile = (home / "profiles.toml").read_text()
    assert f'PREFECT_API_AUTH_STRING = "{secret}"' in profile
    for path in (home / "api-auth-string", home / "profiles.toml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


@pytest.mark.parametrize("recorded", ["pid", "pid and its start time"])
def test_stop_leaves_an_unrelated_process_alone(tmp_path, recorded):
    """A stale pid file that names someone else's process group leader (pid reuse, or a
    hand-edited file) makes `stop` remove the file and signal nothing."""
    home = tmp_path / "home"
    home.mkdir()
    env = _env(tmp_path, home, free_port())
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        line = f"{other.pid}" if recorded == "pid" else f"{other.pid} {_start_time(other.pid)}"
        for name in ("server", "serve"):
            (home / f"{name}.pid").write_text(line + "\n")
        status = run(["bash", SCRIPT, "status"], ROOT, env, check=False)
        assert status.returncode == 1 and "not running" in status.stdout
        out = run(["bash", SCRIPT, "stop"], ROOT, env).stdout
        assert other.poll() is None, "stop signalled a process it did not start"
        assert "stale" in out
        assert not list(home.glob("*.pid"))
    finally:
        other.kill()
        other.wait()


def test_stop_removes_a_pid_file_of_a_finished_process(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = _env(tmp_path, home, free_port())
    gone = subprocess.Popen(["true"])
    gone.wait()
    (home / "server.pid").write_text(f"{gone.pid}\n")
    out = run(["bash", SCRIPT, "stop"], ROOT, env).stdout
    assert "stale" in out and not (home / "server.pid").exists()
    assert os.listdir(home) == []
