"""The NYU experiment through the stage functions on a tiny synthetic dataset written in
the real formats; D_u's ground truth must stay out of every training path."""
import json

import pytest

from mkepipe import stages
from mkepipe.config import parse_params
from mkepipe.data.truth_guard import UnlabeledTruthAccessError, forbid_unlabeled_truth
from mkepipe.labels import LabelStore

TINY = {
    "experiment": "nyu",
    "prepare": {"nyu": {"height": 32, "width": 48, "synthetic": {
        "n_labeled": 8, "n_test": 4, "n_scenes": 2, "frames_per_scene": 4, "height": 96, "width": 128}}},
    "teacher": {"nyu": {"epochs": 1, "batch_size": 4}},
    "student": {"nyu": {"epochs": 1, "batch_size": 4, "baselines": ["um_student", "noisy_student", "mm_student_noreg"],
                        "label_ablation": ["hard"]}},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    raw = json.loads(json.dumps(TINY))
    raw["prepare"]["nyu"]["hha_cache_dir"] = str(root / "hha-cache")
    raw["data_roots"] = [str(root)]
    params = parse_params(raw)
    stages.prepare(params, root / "data")
    return params, root


def test_training_paths_never_read_unlabeled_truth(tiny):
    params, root = tiny
    with forbid_unlabeled_truth():
        stages.teacher(params, root / "data", root / "teacher.pt")
        gen = stages.pseudolabel(params, root / "data", root / "teacher.pt", root / "labels")
        saved = stages.student(params, root / "data", root / "labels", root / "students")
    assert gen.manifest["kind"] == "soft" and gen.manifest["encoding"] == "sparse-q8"
    assert set(saved) == {"mm_student", "um_student", "noisy_student", "mm_student_noreg", "mm_student-hard"}
    with forbid_unlabeled_truth(), pytest.raises(UnlabeledTruthAccessError):
        stages.student(params.with_active("student", baselines=["mm_student_sup"], label_ablation=[]),
                       root / "data", root / "labels", root / "sup")


def test_evaluate_reports_miou_and_figures(tiny):
    params, root = tiny
    if not (root / "students" / "student.pt").exists():
        pytest.skip("needs the training test's outputs")
    metrics = stages.evaluate(params, root / "data", root / "teacher.pt", root / "students", root / "labels",
                              root / "report")
    assert 0 <= metrics["teacher_miou"] <= 100 and 0 <= metrics["pseudo_label_miou"] <= 100
    assert {"miou", "pixel_accuracy", "iou_per_class"} <= set(metrics["details"]["mm_student"])
    assert (root / "report" / "qualitative.png").stat().st_size > 10_000
    assert (root / "report" / "confusion_mm_student.png").exists()
    gen = LabelStore(root / "labels").latest()
    ids, hard, probs, _ = gen.arrays()
    assert probs.shape == (len(ids), 40, 32, 48) and hard.shape == (len(ids), 32, 48)
