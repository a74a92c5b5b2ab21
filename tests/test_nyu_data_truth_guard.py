"""D_u's ground truth stays out of training: the guard and the training paths under it."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mkepipe import stages
from mkepipe.config import parse_params
from mkepipe.data.split import DiskSplit
from mkepipe.data.truth_guard import ENV, UnlabeledTruthAccessError, forbid_unlabeled_truth, is_truth_path
from mkepipe.experiments.nyu.experiment import Nyu
from mkepipe.experiments.nyu.prepare import prepare_nyu

SYNTH = {"n_labeled": 3, "n_test": 2, "n_scenes": 1, "frames_per_scene": 3, "height": 24, "width": 32, "rgb_drop": 0.0}


def load_unlabeled_truth(data):
    truth = Nyu().load_unlabeled_truth(data)
    return truth.labels(range(len(truth)))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("guard") / "data"
    prepare_nyu({"height": 12, "width": 16, "hha_cache_dir": None, "synthetic": SYNTH}, out)
    return out


def test_truth_paths():
    assert is_truth_path("/x/data/unlabeled_truth/y.npy") and is_truth_path(b"raw_truth/scene/d-1.5-2.png")
    assert is_truth_path("/x/data/unlabeled_truth.npz")  # the format before split folders
    assert not is_truth_path("/x/data/unlabeled/rgb.npy") and not is_truth_path(3)


def test_guard_blocks_every_reader_of_the_truth(data):
    assert load_unlabeled_truth(data).shape == (3, 12, 16)  # allowed outside the guard
    with forbid_unlabeled_truth():
        for split in ("labeled", "unlabeled", "test"):
            s = DiskSplit(data, split)  # training inputs stay readable
            s.read(range(len(s)))
        with pytest.raises(UnlabeledTruthAccessError):
            load_unlabeled_truth(data)
        with pytest.raises(UnlabeledTruthAccessError):
            np.load(data / "unlabeled_truth" / "y.npy")  # any module, not only ours
        with pytest.raises(UnlabeledTruthAccessError):
            next((data / "source" / "raw_truth").rglob("*.png")).read_bytes()
        (data / "scratch").mkdir(exist_ok=True)
        with open(data / "scratch" / "unlabeled_truth.npz", "wb") as f:  # writing is not reading
            f.write(b"x")
    assert load_unlabeled_truth(data).shape == (3, 12, 16)  # and allowed again after it


def test_guard_by_environment_in_a_fresh_process(data):
    code = ("import sys; from mkepipe.experiments.nyu.experiment import Nyu; import numpy as np\n"
            "d = sys.argv[1]\n"
            "for f in (lambda: Nyu().load_unlabeled_truth(d), lambda: np.load(d + '/unlabeled_truth/y.npy')):\n"
            "    try: f(); sys.exit(1)\n"
            "    except PermissionError: pass\n")
    env = {**os.environ, ENV: "1"}
    proc = subprocess.run([sys.executable, "-c", code, str(data)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_twomoon_training_paths_under_the_guard(tmp_path):
    """The shared stages (teacher, pseudo-labelling, every student but the sup bound) run
    with the truth forbidden; the sup bound itself trips the guard."""
    raw = {"experiment": "twomoon", "teacher": {"twomoon": {"epochs": 20}},
           "student": {"twomoon": {"epochs": 20, "baselines": ["um_student", "noisy_student", "mm_student_noreg"]}}}
    params = parse_params(raw)
    stages.prepare(params, tmp_path / "data")
    with forbid_unlabeled_truth():
        stages.teacher(params, tmp_path / "data", tmp_path / "teacher.pt")
        stages.pseudolabel(params, tmp_path / "data", tmp_path / "teacher.pt", tmp_path / "labels")
        saved = stages.student(params, tmp_path / "data", tmp_path / "labels", tmp_path / "students")
        assert set(saved) == {"mm_student", "um_student", "noisy_student", "mm_student_noreg"}
        sup = params.with_active("student", baselines=["mm_student_sup"])
        with pytest.raises(UnlabeledTruthAccessError):
            stages.student(sup, tmp_path / "data", tmp_path / "labels", tmp_path / "sup")
