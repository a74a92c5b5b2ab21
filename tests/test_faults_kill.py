"""``kill -9`` at random points of prepare, pseudolabel, student and promote (issue 13).

Each stage runs in a subprocess (``tests/_stage_proc.py``: ``mke stage …`` once its
imports are done) and is SIGKILLed after a seeded random delay within the working time
an uninterrupted run took. After every kill, nothing a reader accepts is partial: a
dataset whose ``manifest.json`` opens, a split whose ``split.json`` opens, the store's
latest label generation, a students folder with ``student.pt``, the promoted checkpoint
and its decision are each exactly an uninterrupted run's (or, for a stage killed over
the outputs of a run with other settings, exactly that run's). Then the stage runs
again, finishes, and its outputs are byte-identical to the uninterrupted run's.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mkepipe import stages
from mkepipe.config import load_params
from mkepipe.data.manifest import read_manifest
from mkepipe.data.split import DiskSplit
from mkepipe.experiments.base import SPLITS, TRUTH_SPLIT
from mkepipe.fileio import TMP_MARK
from mkepipe.labels import LabelStore
from tests.conftest import ROOT
from tests.test_nyu_pipeline import TINY as TINY_NYU

pytestmark = pytest.mark.slow
HELPER = Path(__file__).with_name("_stage_proc.py")
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "PYTHONPATH": str(ROOT)}


def digest(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file below ``root``; the manifest's HHA cache
    counters are left out (a run after a kill finds the killed run's cache entries)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "manifest.json" and p.parent == root and b'"hha_cache"' in data:
                data = json.dumps({k: v for k, v in json.loads(data).items() if k != "hha_cache"}).encode()
            out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def committed(tree: dict[str, str], prefix: str = "") -> dict[str, str]:
    """The files of ``tree`` below ``prefix`` that a reader could open (no temporary files)."""
    return {k: v for k, v in tree.items() if k.startswith(prefix) and TMP_MARK not in k}


def differing(got: dict[str, str], *candidates: dict[str, str]) -> list[list[str]]:
    """For each candidate tree, the files in which ``got`` differs from it."""
    return [sorted(k for k in set(got) | set(c) if got.get(k) != c.get(k)) for c in candidates]


def _start(args: list) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(HELPER), *map(str, args)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.communicate()
    return proc


def run_stage(args: list) -> float:
    """Run to the end; return the seconds the stage itself took."""
    proc = _start(args)
    start = time.monotonic()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    return time.monotonic() - start


def kill_stage(args: list, delay: float, fresh) -> float:
    """SIGKILL the stage ``delay`` seconds into its work. A run that finishes first (the
    machine was faster than for the reference) is redone over ``fresh()`` with half the
    delay; returns the delay of the kill."""
    while True:
        proc = _start(args)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            return delay
        proc.communicate(timeout=60)
        assert delay > 0.01, "the stage finished within 10 ms of its start"
        fresh()
        delay /= 2


def delays(stage: str, work: float, n: int) -> list[float]:
    rng = random.Random(f"issue 13 {stage}")
    return [work * rng.uniform(0.05, 0.95) for _ in range(n)]


def _params(root: Path, raw: dict) -> Path:
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root / "params.yaml"


def _kill_then_rerun(stage: str, args: list, out: Path, reference: dict, work: float, n: int, check,
                     previous: Path | None = None) -> None:
    """Kill at ``n`` points (each over a fresh ``out``, or over a copy of ``previous``), check
    what a reader accepts, rerun, compare."""
    def fresh() -> None:
        shutil.rmtree(out, ignore_errors=True)
        if previous is not None:
            shutil.copytree(previous, out)

    for delay in delays(stage + (" over previous" if previous else ""), work, n):
        fresh()
        delay = kill_stage(args, delay, fresh)
        check(out)
        run_stage(args)
        assert digest(out) == reference, f"{stage}: the run after a kill at {delay:.2f} s differs in " \
                                         f"{differing(digest(out), reference)[0]}"


# --- prepare: NYU's synthetic source, HHA, splits, manifest ----------------------------------

def _nyu_raw(root: Path, seed: int) -> dict:
    raw = json.loads(json.dumps(TINY_NYU))
    raw["prepare"]["nyu"]["synthetic"]["seed"] = seed
    raw["prepare"]["nyu"]["hha_cache_dir"] = str(root / "hha")
    raw["data_roots"] = [str(root)]
    return raw


def test_prepare_killed_at_random_points(tmp_path):
    args = ["--params", _params(tmp_path, _nyu_raw(tmp_path, 0)), "stage", "prepare", "--out", tmp_path / "data"]
    work = run_stage(args)
    reference = digest(tmp_path / "data")
    other = tmp_path / "other"  # a complete dataset of other settings, for kills over it
    other.mkdir()
    stages.prepare(load_params(_params(other, _nyu_raw(tmp_path, 1))), other / "data")
    previous = digest(other / "data")

    def accepted_is_complete(data: Path) -> None:
        got = committed(digest(data))
        try:
            read_manifest(data)
        except FileNotFoundError:
            pass
        else:
            assert got in (reference, previous), f"a readable manifest over a partial dataset: " \
                                                  f"{differing(got, reference, previous)}"
        for split in (*SPLITS, TRUTH_SPLIT):
            try:
                DiskSplit(data, split)
            except FileNotFoundError:
                continue
            files, prefix = committed(got, f"{split}/"), f"{split}/"
            assert files in (committed(reference, prefix), committed(previous, prefix)), \
                f"split {split} opens but is partial: {differing(files, committed(reference, prefix))}"

    _kill_then_rerun("prepare", args, tmp_path / "data", reference, work, 3, accepted_is_complete)
    _kill_then_rerun("prepare", args, tmp_path / "data", reference, work, 2, accepted_is_complete,
                     previous=other / "data")

    synth = tmp_path / "data" / "source" / "synth.json"  # torn by a crash of an older version, or damaged
    synth.write_bytes(synth.read_bytes()[:40])
    run_stage(args)
    assert digest(tmp_path / "data") == reference


# --- pseudolabel, student, promote: TwoMoon -------------------------------------------------

@pytest.fixture(scope="module")
def twomoon(tmp_path_factory):
    """Prepared TwoMoon data, a teacher, a label generation, a round's students and metrics,
    and students of other settings (``students-other``)."""
    root = tmp_path_factory.mktemp("twomoon")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["teacher"]["twomoon"]["epochs"] = 200
    params = load_params(_params(root, raw))
    stages.prepare(params, root / "data")
    stages.teacher(params, root / "data", root / "teacher.pt")
    stages.pseudolabel(params, root / "data", root / "teacher.pt", root / "labels")
    stages.student(params, root / "data", root / "labels", root / "students")
    stages.student(params.with_active("student", epochs=50), root / "data", root / "labels", root / "students-other")
    stages.evaluate(params, root / "data", root / "teacher.pt", root / "students", root / "labels", root / "report")
    return root


def test_pseudolabel_killed_at_random_points(twomoon, tmp_path):
    out = tmp_path / "labels"
    args = ["--params", twomoon / "params.yaml", "stage", "pseudolabel", "--data", twomoon / "data",
            "--teacher", twomoon / "teacher.pt", "--out", out]
    work = run_stage(args)
    reference, ref_id = digest(out), LabelStore(out).latest().id

    def accepted_is_complete(labels: Path) -> None:
        gen = LabelStore(labels).latest() if labels.exists() else None
        assert gen is None or (gen.id == ref_id and gen.verify()["ok"])

    _kill_then_rerun("pseudolabel", args, out, reference, work, 3, accepted_is_complete)


def test_student_killed_at_random_points(twomoon, tmp_path):
    out = tmp_path / "students"
    args = ["--params", twomoon / "params.yaml", "stage", "student", "--data", twomoon / "data",
            "--labels", twomoon / "labels", "--out", out]
    work = run_stage(args)
    reference = digest(out)
    previous = digest(twomoon / "students-other")
    assert set(reference) == set(previous) and reference != previous

    def accepted_is_complete(students: Path) -> None:
        if (students / stages.PRIMARY).exists():
            got = committed(digest(students))
            assert got in (reference, previous), f"student.pt beside a partial set: " \
                                                  f"{differing(got, reference, previous)}"

    _kill_then_rerun("student", args, out, reference, work, 3, accepted_is_complete)
    _kill_then_rerun("student", args, out, reference, work, 2, accepted_is_complete,
                     previous=twomoon / "students-other")


def test_promote_killed_at_random_points(twomoon, tmp_path):
    out, decision = tmp_path / "promoted" / "teacher-after-round1.pt", tmp_path / "promoted" / "promotion.json"
    args = ["--params", twomoon / "params.yaml", "stage", "promote", "--teacher", twomoon / "teacher.pt",
            "--students", twomoon / "students", "--metrics", twomoon / "report" / "metrics.json",
            "--out", out, "--decision", decision]
    work = run_stage(args)
    reference = digest(out.parent)

    def accepted_is_complete(folder: Path) -> None:
        for path in (out, decision):
            if path.exists():
                assert committed(digest(folder))[path.name] == reference[path.name], f"{path.name} is partial"

    _kill_then_rerun("promote", args, out.parent, reference, work, 3, accepted_is_complete)
