"""``relabel/nyu`` served by ``mke serve`` against a real Prefect server on a free port:
incremental labeling, no-op, overlapping triggers, and a SIGKILL mid-way."""
import json
import os
import re
import signal
import subprocess
import time

import psutil
import pytest

from mkepipe.labels import LabelStore
from mkepipe.service.state import Layout, read_state
from tests.conftest import run
from tests.prefect_server import prefect_server, served
from tests.service_helpers import drop_png_batch, drop_scene, make_service_project, source_scenes, tree_digest

pytestmark = pytest.mark.e2e
DEPLOYMENT = "relabel/nyu"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("relabel")
    root, env = make_service_project(tmp)
    fast_queue = {**env, "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2"}
    with prefect_server(tmp / "prefect-home", fast_queue) as penv, served(root, penv, DEPLOYMENT) as proc:
        yield root, penv, proc


def _trigger(root, env, watch=True):
    return run(["prefect", "deployment", "run", DEPLOYMENT, *(["--watch"] if watch else [])], root, env,
               check=False, timeout=400)


def _generations(root):
    return [g for r in sorted((root / "service" / "nyu" / "labels").iterdir()) for g in LabelStore(r).list()]


def _verify_all(root):
    gens = _generations(root)
    for g in gens:
        assert g.verify()["ok"]
    return gens


def _artifact(root, env, key):
    out = run(["prefect", "artifact", "inspect", key, "--limit", "1", "-o", "json"], root, env).stdout
    return json.loads(out)[0]


def test_only_bad_samples_start_no_round(service):
    root, env, _ = service
    (root / "inbox" / "nyu" / "bad_0001" / "depth").mkdir(parents=True)
    (root / "inbox" / "nyu" / "bad_0001" / "depth" / "0001.png").write_bytes(b"no rgb and not a png")
    proc = _trigger(root, env)
    assert proc.returncode == 0 and "Completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = read_state(Layout(root / "service" / "nyu"))
    assert state.round == 0 and state.rejected["inbox/bad_0001/0001"]["reason"] == "missing_modality"
    assert "all quarantined" in _artifact(root, env, "relabel-nyu-last-run")["data"]


def test_new_samples_are_labeled_incrementally(service):
    root, env, _ = service
    scenes = source_scenes(root)
    expected = drop_scene(root, scenes[0], "rig_0001") + drop_png_batch(root, scenes[1], "batch_0001")
    proc = _trigger(root, env)
    assert proc.returncode == 0 and "Completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]

    state = read_state(Layout(root / "service" / "nyu"))
    assert state.round == 1
    child = LabelStore(root / "service" / "nyu" / "labels" / "round0001").latest()
    parent = LabelStore(root / "service" / "nyu" / "labels" / "round0000").latest()
    assert child.manifest["samples"] == expected  # exactly the new, good samples
    assert child.manifest["parent"]["id"] == parent.id and state.generation.endswith(child.id)
    assert len(child) == len(parent) + expected
    assert state.rejected["inbox/batch_0001/0002"]["reason"] == "unreadable"
    report = (root / "service" / "nyu" / "reports" / "round0001" / "report.md").read_text()
    assert "Promotion decision: " in report and state.history[-1]["decision"] in report
    assert (root / "service" / "nyu.dvc").exists()  # the round is versioned by DVC
    assert "Promotion decision" in _artifact(root, env, "relabel-nyu-report")["data"]
    assert _artifact(root, env, "relabel-nyu-progress")["data"] == 100
    link = _artifact(root, env, "relabel-nyu-confusion-mm-student")["data"]  # a link to the PNG figure
    assert "file://" in link and "confusion_mm_student.png" in link


def _wait_final(env, flow_run_id: str, timeout: float = 300):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = client.read_flow_run(flow_run_id).state
            if state is not None and state.is_final():
                return state
            time.sleep(0.5)
    raise TimeoutError(f"flow run {flow_run_id} not finished after {timeout}s")


def test_notify_without_new_data_is_a_noop_that_changes_nothing(service):
    root, env, _ = service
    before = tree_digest(root / "service", root / "inbox", root / "data", root / "labels")
    start = time.monotonic()
    out = run(["mke", "notify", "--experiment", "nyu"], root, env).stdout
    flow_run_id = re.search(r"\(([0-9a-f-]{36})\)", out).group(1)
    assert _wait_final(env, flow_run_id).is_completed()
    assert tree_digest(root / "service", root / "inbox", root / "data", root / "labels") == before
    assert time.monotonic() - start < 60


def test_two_triggers_at_once_run_one_round(service):
    root, env, _ = service
    expected = drop_scene(root, source_scenes(root)[1], "rig_0002")
    procs = [subprocess.Popen(["prefect", "deployment", "run", DEPLOYMENT, "--watch"], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=400)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs  # ENQUEUE: the second waited, then found nothing new
    state = read_state(Layout(root / "service" / "nyu"))
    assert state.round == 2 and [h["round"] for h in state.history] == [0, 1, 2]
    gens = _verify_all(root)
    assert len(gens) == 3 and len({g.id for g in gens}) == 3
    child = LabelStore(root / "service" / "nyu" / "labels" / "round0002").latest()
    assert child.manifest["samples"] == expected


def _flow_run_processes(serve_proc):
    return [p for p in psutil.Process(serve_proc.pid).children(recursive=True)]


def test_sigkill_mid_round_keeps_previous_state(service):
    root, env, serve_proc = service
    layout = Layout(root / "service" / "nyu")
    before = layout.state.read_bytes()
    expected = drop_scene(root, source_scenes(root)[0], "rig_0003")
    assert _trigger(root, env, watch=False).returncode == 0
    deadline = time.monotonic() + 120
    while not layout.dataset(3).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    victims = _flow_run_processes(serve_proc)
    assert layout.dataset(3).exists() and victims
    for p in victims:
        os.kill(p.pid, signal.SIGKILL)
    assert layout.state.read_bytes() == before
    _verify_all(root)

    proc = _trigger(root, env)  # waits for the crashed run's slot, then redoes round 3
    assert proc.returncode == 0 and "Completed" in proc.stdout, proc.stdout[-3000:]
    state = read_state(layout)
    assert state.round == 3 and json.loads(before)["round"] == 2
    child = LabelStore(layout.labels(3)).latest()
    assert child.manifest["samples"] == expected and len(_verify_all(root)) == 4
