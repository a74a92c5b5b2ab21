"""Fault injection (issue 13): what a careless or a hostile input does to the pipeline.

One test per case of the issue's list that the label-store and service suites
(``test_labels_trust.py``, ``test_faults_labels.py``, ``test_faults_service.py``) do not
cover: served-flow parameters, strict config, non-finite numbers, an empty D_l, bad
inbox entries, damaged files reaching a stage, and the workspace lock. ``kill -9`` at
random points of the stages is in ``test_faults_kill.py``; ``docs/reliability.md`` maps
every promise to its tests. Stages run in-process through ``mkepipe.cli.main``, as
``mke stage …`` would run them, on a tiny TwoMoon setup.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import yaml

from mkepipe import stages
from mkepipe.cli import main
from mkepipe.config import load_params
from mkepipe.data.arrays import NpyFile, write_npy
from mkepipe.data.manifest import write_manifest
from mkepipe.data.split import write_split
from mkepipe.experiments import RegistryError
from mkepipe.experiments.nyu.config import NyuPrepareConfig
from mkepipe.experiments.nyu.inbox import RgbdInbox
from mkepipe.experiments.nyu.raw_scenes import encode_depth, encode_pnm, frame_name
from mkepipe.fileio import atomic_write_text
from mkepipe.workspace import PROJECT_ENV
from tests.conftest import ROOT, make_project, run
from tests.prefect_server import prefect_server, served
from tests.test_nyu_data_loaders import pgm_bytes, ppm_bytes, write_real_mat

REPO_PARAMS = (ROOT / "params.yaml").read_text()
TINY = {"teacher": {"twomoon": {"epochs": 5}}, "student": {"twomoon": {"epochs": 5}}}
ERROR = "mke: error: "


def cli(capsys, *args) -> tuple[int, str]:
    """``mke <args>`` in this process: exit code and stderr, which never holds a traceback."""
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return rc, err


def one_line_error(capsys, *args) -> str:
    """Run ``mke <args>``, expect exit 1 with one ``mke: error:`` line; return that line."""
    rc, err = cli(capsys, *args)
    lines = [line for line in err.splitlines() if line.startswith("mke:")]
    assert rc == 1 and len(lines) == 1 and lines[0].startswith(ERROR), err
    return lines[0]


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def twomoon(tmp_path_factory):
    """A tiny TwoMoon setup: params file, prepared data, teacher and a label generation."""
    root = tmp_path_factory.mktemp("twomoon")
    raw = yaml.safe_load(REPO_PARAMS)
    for section, change in TINY.items():
        raw[section]["twomoon"].update(change["twomoon"])
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(root / "params.yaml")
    stages.prepare(params, root / "data")
    stages.teacher(params, root / "data", root / "teacher.pt")
    stages.pseudolabel(params, root / "data", root / "teacher.pt", root / "labels")
    return root


def copy_of(twomoon: Path, name: str, dest: Path) -> Path:
    shutil.copytree(twomoon / name, dest / name)
    return dest / name


# --- served flows: only a registered experiment, nothing else ---------------------------------

@pytest.mark.parametrize("experiment", ["mars", "../outside", "{tmp}/abs"])
def test_flows_refuse_an_unregistered_or_path_like_experiment(tmp_path, monkeypatch, capsys, experiment):
    from flows.mke_flow import mke
    from flows.relabel_flow import relabel

    experiment = experiment.format(tmp=tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(REPO_PARAMS)
    monkeypatch.setenv(PROJECT_ENV, str(project))
    monkeypatch.chdir(project)
    before = tree_digest(tmp_path)
    for flow in (mke, relabel):
        with pytest.raises(RegistryError, match="unknown experiment"):
            flow.fn(experiment)
    assert "unknown experiment" in one_line_error(capsys, "relabel", "--experiment", experiment)
    assert tree_digest(tmp_path) == before  # no lock file, no params.yaml edit, nothing outside


# --- strict config: exit 2 from `mke stage prepare`, naming the key, nothing written ----------

SEED_LINE = REPO_PARAMS.splitlines().index("seed: 0") + 1
CONFIG_CASES = {  # case: (new params.yaml text, what the error names)
    "lr_inf": (REPO_PARAMS.replace("    lr: 0.01\n", "    lr: .inf\n", 1), "teacher.twomoon.lr"),
    "lr_nan": (REPO_PARAMS.replace("    lr: 0.01\n", "    lr: .nan\n", 1), "teacher.twomoon.lr"),
    "epochs_true": (REPO_PARAMS.replace("epochs: 1000", "epochs: true", 1), "teacher.twomoon.epochs"),
    "epochs_string": (REPO_PARAMS.replace("epochs: 1000", "epochs: '7'", 1), "teacher.twomoon.epochs"),
    "duplicate_key": (REPO_PARAMS.replace("seed: 0\n", "seed: 0\nseed: 1\n", 1),
                      f"duplicate key 'seed' (first on line {SEED_LINE}, again on line {SEED_LINE + 1})"),
    "empty_file": ("", "the file is empty"),
    "round_teacher_escapes": (REPO_PARAMS.replace("teacher: teacher.pt", "teacher: ../../../../etc/passwd", 1),
                              "rounds.0.teacher"),
    "state_dir_absolute": (REPO_PARAMS.replace("state_dir: service", "state_dir: /tmp/mke-state", 1),
                           "service.state_dir"),
    "inbox_dir_escapes": (REPO_PARAMS.replace("inbox_dir: inbox", "inbox_dir: ../../..", 1), "service.inbox_dir"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_exits_2_naming_the_key(tmp_path, capsys, case):
    text, named = CONFIG_CASES[case]
    assert text != REPO_PARAMS
    (tmp_path / "params.yaml").write_text(text)
    rc, err = cli(capsys, "--params", tmp_path / "params.yaml", "stage", "prepare", "--out", tmp_path / "data")
    assert rc == 2 and err.startswith("mke: invalid configuration") and named in err, err
    assert not (tmp_path / "data").exists()


# --- numbers that must be finite ------------------------------------------------------------

def _set_row(path: Path, row: int, value: float) -> None:
    rows = NpyFile(path).read_all()
    rows[row] = value
    write_npy(path, rows)


@pytest.mark.parametrize("value", [np.nan, 3e38], ids=["nan_input", "overflowing_input"])
def test_non_finite_training_exits_1_naming_the_step(twomoon, tmp_path, capsys, value):
    data = copy_of(twomoon, "data", tmp_path)
    _set_row(data / "labeled" / "alpha.npy", 3, value)
    line = one_line_error(capsys, "--params", twomoon / "params.yaml", "stage", "teacher", "--data", data,
                          "--out", tmp_path / "teacher.pt")
    assert re.search(r"loss is (nan|inf) at epoch \d+, step \d+", line), line
    assert os.listdir(tmp_path) == ["data"]  # no checkpoint, no temporary


def test_empty_labeled_split_trains_no_teacher(twomoon, tmp_path, capsys):
    data = copy_of(twomoon, "data", tmp_path)
    shutil.rmtree(data / "labeled")
    write_split(data, "labeled", [], {"alpha": np.zeros((0, 1), np.float32)}, np.zeros(0, np.int64), labels={})
    line = one_line_error(capsys, "--params", twomoon / "params.yaml", "stage", "teacher", "--data", data,
                          "--out", tmp_path / "teacher.pt")
    assert "no training samples" in line
    assert os.listdir(tmp_path) == ["data"]


# --- NYU sources: a corrupt .mat, a labeled split with no usable frame ------------------------

H, W = 12, 16


def _nyu_params(tmp_path: Path, mat: str) -> Path:
    raw = yaml.safe_load(REPO_PARAMS)
    raw["experiment"] = "nyu"
    raw["prepare"]["nyu"] = {"source": "mat", "mat_path": mat, "split_dir": "splits", "raw_dir": "raw",
                             "height": H, "width": W, "hha_cache_dir": None}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "params.yaml"


@pytest.fixture
def nyu_sources(tmp_path, monkeypatch):
    """A labeled .mat of two frames (train: 1, test: 2) and a raw scene of one good pair,
    at relative paths inside the project (the working directory)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, H, W, 3), dtype=np.uint8)
    write_real_mat(tmp_path / "labeled.mat", rgb, np.full((2, H, W), 2.0, np.float32), np.full((2, H, W), 21))
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train_indices_1based.txt").write_text("1\n")
    (tmp_path / "splits" / "test_indices_1based.txt").write_text("2\n")
    scene = tmp_path / "raw" / "office_0001"
    scene.mkdir(parents=True)
    (scene / "r-1294439283.010000-1.ppm").write_bytes(ppm_bytes(rgb[0]))
    (scene / "d-1294439283.000000-2.pgm").write_bytes(pgm_bytes(np.full((H, W), 700, np.uint16)))
    return tmp_path


def _h5(path: Path, **datasets) -> bytes:
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            if data is None:
                f.create_group(name)
            else:
                f.create_dataset(name, data=data)
    return path.read_bytes()


def _corrupt_mat(case: str, real: bytes, tmp: Path) -> bytes:
    images, depths, labels = (np.zeros((2, 3, W, H), np.uint8), np.ones((2, W, H), np.float32),
                              np.ones((2, W, H), np.uint16))
    return {
        "garbage": lambda: b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4,
        "truncated": lambda: real[: len(real) // 2],
        "images_not_a_dataset": lambda: _h5(tmp / "x.h5", images=None, depths=depths, labels=labels),
        "images_of_wrong_rank": lambda: _h5(tmp / "x.h5", images=np.zeros(6, np.uint8), depths=depths, labels=labels),
        "depths_shorter_than_images": lambda: _h5(tmp / "x.h5", images=images, depths=depths[:1], labels=labels),
        "labels_not_integers": lambda: _h5(tmp / "x.h5", images=images, depths=depths, labels=depths),
    }[case]()


@pytest.mark.parametrize("case", ["garbage", "truncated", "images_not_a_dataset", "images_of_wrong_rank",
                                  "depths_shorter_than_images", "labels_not_integers"])
def test_corrupt_mat_is_one_line_naming_the_file(nyu_sources, capsys, case):
    bad = nyu_sources / "corrupt.mat"
    bad.write_bytes(_corrupt_mat(case, (nyu_sources / "labeled.mat").read_bytes(), nyu_sources))
    line = one_line_error(capsys, "--params", _nyu_params(nyu_sources, "corrupt.mat"), "stage", "prepare",
                          "--out", "data")
    assert "corrupt.mat" in line, line
    assert not (nyu_sources / "data" / "manifest.json").exists()


def test_prepare_refuses_an_empty_labeled_split(nyu_sources, capsys):
    labels = np.full((2, H, W), 21)
    labels[0, 0, 0] = 900  # frame 1, D_l's only frame, is quarantined: label out of range
    write_real_mat(nyu_sources / "labeled.mat", np.zeros((2, H, W, 3), np.uint8), np.full((2, H, W), 2.0), labels)
    line = one_line_error(capsys, "--params", _nyu_params(nyu_sources, "labeled.mat"), "stage", "prepare",
                          "--out", "data")
    assert "no usable sample in split(s) labeled" in line and "label_out_of_range" in line
    assert not any(p.is_file() for p in (nyu_sources / "data").rglob("*"))


# --- damaged files reaching a stage: one line, exit 1, no traceback ---------------------------

def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


DAMAGED_DATA = {  # case: (file of the prepared dataset, bytes kept, stage reading it)
    "npy_body": ("labeled/alpha.npy", -7, "teacher"),
    "npy_header": ("unlabeled/beta.npy", 50, "pseudolabel"),
    "split_json": ("labeled/split.json", 20, "teacher"),
    "ids_missing": ("unlabeled/ids.txt", None, "pseudolabel"),
    "manifest_json": ("manifest.json", 20, "pseudolabel"),
}


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # e.g. a traceback from __del__
@pytest.mark.parametrize("case", DAMAGED_DATA)
def test_damaged_dataset_file_is_one_line_naming_it(twomoon, tmp_path, capsys, case):
    rel, keep, stage = DAMAGED_DATA[case]
    data = copy_of(twomoon, "data", tmp_path)
    if keep is None:
        (data / rel).unlink()
    else:
        _truncate(data / rel, keep)
    args = {"teacher": ["--data", data, "--out", tmp_path / "out.pt"],
            "pseudolabel": ["--data", data, "--teacher", twomoon / "teacher.pt", "--out", tmp_path / "labels"]}
    line = one_line_error(capsys, "--params", twomoon / "params.yaml", "stage", stage, *args[stage])
    assert str(data / rel) in line, line
    assert [p for p in tmp_path.rglob("*") if p.is_file() and data not in p.parents] == []


def _damage_generation(gen: Path, case: str) -> str:
    """Damage one generation; return what the error must name."""
    manifest = json.loads((gen / "manifest.json").read_text())
    if case == "flipped_shard_byte":
        shard = gen / "shard-00000.lbl"
        data = bytearray(shard.read_bytes())
        data[20] ^= 0xFF
        shard.write_bytes(bytes(data))
        return "shard-00000.lbl"
    if case == "truncated_manifest":
        _truncate(gen / "manifest.json", 100)
        return "manifest.json"
    if case == "shards_as_strings":
        manifest["shards"] = [s["file"] for s in manifest["shards"]]
        named = "manifest field shards:"
    else:  # a shard outside the store
        manifest["shards"][0]["file"] = "../../../../etc/passwd"
        named = "manifest field shards[0].file:"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    return named


@pytest.mark.parametrize("case", ["flipped_shard_byte", "truncated_manifest", "shards_as_strings",
                                  "shard_outside_the_store"])
def test_label_store_errors_reach_the_student_stage_as_one_line(twomoon, tmp_path, capsys, case):
    labels = copy_of(twomoon, "labels", tmp_path)
    gen = next(labels.iterdir())
    named = _damage_generation(gen, case)
    line = one_line_error(capsys, "--params", twomoon / "params.yaml", "stage", "student", "--data",
                          twomoon / "data", "--labels", labels, "--out", tmp_path / "students")
    assert "damaged label generation" in line and str(gen) in line and named in line, line
    assert not (tmp_path / "students").exists()


def test_a_damaged_newer_generation_is_not_skipped_for_an_older_one(twomoon, tmp_path, capsys):
    labels = copy_of(twomoon, "labels", tmp_path)
    older = next(labels.iterdir())
    newer = labels / "hard-0123456789abcdef"
    shutil.copytree(older, newer)
    _damage_generation(newer, "truncated_manifest")
    line = one_line_error(capsys, "--params", twomoon / "params.yaml", "stage", "student", "--data",
                          twomoon / "data", "--labels", labels, "--out", tmp_path / "students")
    assert str(newer / "manifest.json") in line, line
    assert not (tmp_path / "students").exists()


# --- the inbox: one bad entry is quarantined, the good samples are ingested -------------------

T0 = 1294439283.0


def _raw_scene(folder: Path, n: int) -> list[str]:
    """``n`` good RGB-D pairs in NYU's raw layout; returns their sample ids."""
    folder.mkdir(parents=True)
    ids = []
    for i in range(n):
        (folder / frame_name("r", T0 + i + 0.01, 2 * i)).write_bytes(encode_pnm(np.full((8, 10, 3), 40 * i, np.uint8)))
        depth = frame_name("d", T0 + i, 2 * i + 1)
        (folder / depth).write_bytes(encode_depth(np.full((8, 10), 2.0 + i, np.float32)))
        ids.append(f"inbox/{folder.name}/{Path(depth).stem}")
    return ids


def _png_pair(batch: Path, stem: str, rgb: bool = True) -> None:
    for role in ("rgb", "depth"):
        (batch / role).mkdir(parents=True, exist_ok=True)
    if rgb:
        cv2.imwrite(str(batch / "rgb" / f"{stem}.png"), np.full((8, 10, 3), 90, np.uint8))
    cv2.imwrite(str(batch / "depth" / f"{stem}.png"), np.full((8, 10), 1500, np.uint16))


def _previous_version(path: Path) -> None:
    """A dataset version as ingest reads it: one D_u sample and the manifest with its config."""
    cfg = NyuPrepareConfig(height=8, width=10, depth_encoding="depth", hha_cache_dir=None)
    write_split(path, "unlabeled", ["old/0001"], {"rgb": np.zeros((1, 3, 8, 10), np.uint8),
                                                 "depth": np.full((1, 1, 8, 10), 0.2, np.float32)},
                divide={"rgb": 255.0})
    write_manifest(path, "nyu", {"old/0001": {"split": "unlabeled", "file": "unlabeled/", "sha256": "0" * 64}},
                   {"config": cfg.model_dump(mode="json"), "counts": {"labeled": 0, "test": 0, "unlabeled": 1}})


def _bad_entry(case: str, inbox: Path, outside: Path) -> tuple[str, str]:
    """Put one bad entry into the inbox; return its sample id and quarantine reason."""
    rgb = inbox / "batch_0001" / "rgb" / "0002.png"
    _png_pair(inbox / "batch_0001", "0002", rgb=False)
    if case == "dangling_symlink":
        rgb.symlink_to(inbox / "batch_0001" / "rgb" / "gone.png")
    elif case == "folder_named_like_a_png":
        rgb.mkdir()
    elif case == "fifo":
        os.mkfifo(rgb)
    else:  # a scene folder that is a symbolic link to a scene outside the inbox
        _raw_scene(outside / "elsewhere_0001", 1)
        (inbox / "linked_0002").symlink_to(outside / "elsewhere_0001")
        return "inbox/linked_0002", "outside_inbox"
    return "inbox/batch_0001/rgb/0002.png", "not_a_file"


def _ingest_with_timeout(prev: Path, out: Path, inbox: Path, project: Path, timeout: float = 60):
    """Scan and ingest as a relabel round does; a run that blocks (e.g. opening a FIFO)
    fails the test instead of hanging it."""
    result: dict = {}

    def work() -> None:
        try:
            adapter = RgbdInbox()
            samples = adapter.scan(inbox, NyuPrepareConfig())
            result["ingested"] = adapter.ingest(prev, out, samples, [], project)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            result["error"] = err

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        for fifo in (p for p in inbox.rglob("*") if p.is_fifo()):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # release the blocked reader
        pytest.fail(f"scan + ingest still running after {timeout} s")
    if "error" in result:
        raise result["error"]
    return result["ingested"]


@pytest.mark.parametrize("case", ["dangling_symlink", "folder_named_like_a_png", "fifo", "scene_linked_outside"])
def test_bad_inbox_entry_is_quarantined_and_the_rest_ingested(tmp_path, case):
    inbox = tmp_path / "inbox"
    good = _raw_scene(inbox / "rig_0001", 2) + ["inbox/batch_0001/0001"]
    _png_pair(inbox / "batch_0001", "0001")
    bad_id, reason = _bad_entry(case, inbox, tmp_path / "outside")
    _previous_version(tmp_path / "v0")
    got = _ingest_with_timeout(tmp_path / "v0", tmp_path / "v1", inbox, tmp_path)
    reasons = {e.id: e.reason for e in got.quarantine.entries}
    assert reasons[bad_id] == reason, reasons
    assert sorted(got.added) == sorted(good)
    stored = (tmp_path / "v1" / "unlabeled" / "ids.txt").read_text().split()
    assert stored[0] == "old/0001" and sorted(stored[1:]) == sorted(good)


# --- what a killed writer leaves behind -----------------------------------------------------

def test_the_next_writer_removes_a_killed_writers_temporary_files(tmp_path):
    """kill -9 leaves ``<name>.tmp-<pid>…`` beside an output (test_faults_kill.py kills
    for real); the next write of that output removes it, unless its writer still runs."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    for name, write in (("x.json", lambda p: atomic_write_text(p, "{}")),
                        ("y.npy", lambda p: write_npy(p, np.zeros((2, 3), np.float32)))):
        dead, live = tmp_path / f"{name}.tmp-{gone.pid}-0123abcd", tmp_path / f"{name}.tmp-{os.getppid()}"
        dead.write_bytes(b"half")
        live.write_bytes(b"in progress")
        write(tmp_path / name)
        assert not dead.exists() and live.exists()


# --- served flows on a real Prefect server: `mke serve`, deployments, the workspace lock ------

SERVED_PARAMS = {"experiment": "nyu", "rounds": [{"id": 1, "teacher": "teacher.pt"}],
                 "service": {"schedule": False}}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """``mke serve`` for a project whose params.yaml names nyu and runs one tiny TwoMoon round."""
    tmp = tmp_path_factory.mktemp("served")
    root, env = make_project(tmp)
    raw = yaml.safe_load(REPO_PARAMS)
    raw.update(SERVED_PARAMS)
    raw["teacher"]["twomoon"]["epochs"] = raw["student"]["twomoon"]["epochs"] = 5
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny"], root, env)
    with prefect_server(tmp / "prefect-home", env) as penv, served(root, penv, "relabel/nyu"):
        yield root, penv


def _deploy(root: Path, env: dict, deployment: str, *params: str, watch: bool = True):
    args = [a for p in params for a in ("--param", p)]
    return run(["prefect", "deployment", "run", deployment, *args, *(["--watch"] if watch else [])], root, env,
               check=False, timeout=600)


def _untouched(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(root).items() if not k.startswith((".git/", ".dvc/tmp"))}


def _run_through_the_api(env: dict, deployment: str, parameters: dict) -> str:
    """Create a flow run as any API client can (no CLI-side check) and wait for its end."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
        try:
            return run_deployment(deployment, parameters=parameters, timeout=300, as_subflow=False).state.type.value
        except PrefectHTTPStatusError as err:  # refused by the server's parameter schema
            return f"refused {err.response.status_code}"


@pytest.mark.slow
@pytest.mark.e2e
def test_deployment_run_with_project_dir_is_refused_before_any_stage(service, tmp_path):
    root, env = service
    hostile = tmp_path / "x"
    hostile.mkdir()
    run(["dvc", "init", "--no-scm", "-q"], hostile, env)  # a DVC project whose one stage runs a command
    (hostile / "dvc.yaml").write_text("stages:\n  pwn:\n    cmd: touch pwned\n")
    (hostile / "params.yaml").write_text(REPO_PARAMS)
    before, hostile_before = _untouched(root), tree_digest(hostile)
    proc = _deploy(root, env, "mke/twomoon", f"project_dir={hostile}")
    assert proc.returncode != 0 and "'project_dir'" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    state = _run_through_the_api(env, "mke/twomoon", {"experiment": "twomoon", "project_dir": str(hostile)})
    assert state in ("FAILED", "CRASHED") or state.startswith("refused"), state
    assert not (hostile / "pwned").exists() and tree_digest(hostile) == hostile_before
    assert _untouched(root) == before  # no stage ran here either: params.yaml, data/, dvc.lock as they were


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("deployment", ["mke/twomoon", "relabel/nyu"])
def test_deployment_run_with_a_path_like_experiment_writes_nothing(service, tmp_path, deployment):
    """The path holds a recording, so a flow that took it for an inbox would lock and ingest there."""
    root, env = service
    _raw_scene(tmp_path / "elsewhere" / "rig_0001", 1)
    before, outside = _untouched(root), tree_digest(tmp_path)
    proc = _deploy(root, env, deployment, f"experiment={tmp_path / 'elsewhere'}")
    assert proc.returncode != 0 and "Completed" not in proc.stdout, proc.stdout[-3000:]
    assert tree_digest(tmp_path) == outside and _untouched(root) == before


def _flow_run_state(env: dict, deployment: str) -> str | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
                                     limit=1, sort="EXPECTED_START_TIME_DESC")
    return runs[0].state.type.value if runs and runs[0].state else None


@pytest.mark.slow
@pytest.mark.e2e
def test_a_flow_waits_for_the_workspace_lock(service):
    """While another run holds the workspace lock, ``mke/twomoon`` starts but writes
    nothing (params.yaml still names nyu); released, it runs the pipeline to the end."""
    root, env = service
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _deploy(root, env, "mke/twomoon", watch=False).returncode == 0
        deadline = time.monotonic() + 120
        while _flow_run_state(env, "twomoon") != "RUNNING":
            assert time.monotonic() < deadline, "the flow run never started"
            time.sleep(0.5)
        time.sleep(5)
        assert yaml.safe_load((root / "params.yaml").read_text())["experiment"] == "nyu"
        assert not (root / "data").exists() and not (root / "dvc.lock").exists()
    finally:
        holder.communicate("", timeout=30)
    deadline = time.monotonic() + 600
    while (state := _flow_run_state(env, "twomoon")) not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
        assert time.monotonic() < deadline, "the flow run did not finish"
        time.sleep(1)
    assert state == "COMPLETED"
    assert yaml.safe_load((root / "params.yaml").read_text())["experiment"] == "twomoon"
    assert (root / "models" / "twomoon" / "teacher-after-round1.pt").exists()


HOLD_LOCK = """
import sys
from pathlib import Path
from mkepipe.workspace import workspace_lock
with workspace_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_reliability_doc_names_tests_that_exist():
    """Every ``file::test`` in docs/reliability.md (``::test`` continues the last file) is a test."""
    doc = (ROOT / "docs" / "reliability.md").read_text()
    named, current = [], None
    for path, name in re.findall(r"`(tests/\w+\.py)?::(\w+)", doc):
        current = path or current
        named.append((current, name))
    assert len(named) > 40
    missing = [f"{p}::{n}" for p, n in named if not re.search(rf"^def {n}\(", (ROOT / p).read_text(), re.M)]
    assert not missing, missing
