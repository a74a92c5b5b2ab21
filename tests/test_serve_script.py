"""`scripts/serve.sh start|stop` (what `make serve` / `make stop` run): a server on the
given loopback port with its SQLite in PREFECT_HOME, the deployments registered,
nothing left running after stop, and the same auth string after a restart."""
import os
import urllib.request

import pytest

from tests.conftest import ROOT, run, tool_env
from tests.prefect_server import free_port

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_serves_deployments_and_stop_leaves_nothing(tmp_path):
    port = free_port()
    env = tool_env(tmp_path, PORT=str(port), PREFECT_HOME=str(tmp_path / "home"), EXPERIMENT="twomoon")
    env.pop("PREFECT_API_URL", None)
    script = str(ROOT / "scripts" / "serve.sh")
    try:
        out = run(["bash", script, "start"], ROOT, env, timeout=300).stdout
        assert f"http://127.0.0.1:{port}" in out
        pids = [int((tmp_path / "home" / f"{name}.pid").read_text().split()[0]) for name in ("server", "serve")]
        assert (tmp_path / "home" / "prefect.db").exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as r:
            assert r.status == 200
        listed = run(["prefect", "deployment", "ls"], ROOT, {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"})
        assert "relabel/nyu" in listed.stdout and "mke/twomoon" in listed.stdout
        assert "already running" in run(["bash", script, "start"], ROOT, env).stdout
    finally:
        run(["bash", script, "stop"], ROOT, env, check=False)
    assert not any(_alive(p) for p in pids)
    assert not list((tmp_path / "home").glob("*.pid"))

    auth = (tmp_path / "home" / "api-auth-string").read_text()
    try:
        run(["bash", script, "start"], ROOT, env, timeout=300)
        assert (tmp_path / "home" / "api-auth-string").read_text() == auth
    finally:
        run(["bash", script, "stop"], ROOT, env, check=False)
