"""The stage functions, called directly on the TwoMoon experiment (the DVC-free path)."""
import json
import shutil

import pytest

from mkepipe import stages
from mkepipe.config import load_params
from mkepipe.labels import LabelStore
from tests.conftest import ROOT


def test_stages_chain_through_files(tmp_path):
    params = load_params(ROOT / "params.yaml")
    data, teacher = tmp_path / "data", tmp_path / "models" / "teacher.pt"
    manifest = stages.prepare(params, data)
    assert manifest["num_samples"] == 700 and (data / "manifest.json").exists()  # 500 moons + 200 for validation

    stages.teacher(params, data, teacher, tmp_path / "teacher_history.csv")
    gen = stages.pseudolabel(params, data, teacher, tmp_path / "labels")
    assert len(gen) == 270
    assert gen.manifest["kind"] == "hard"
    assert gen.manifest["dataset_hash"] == manifest["sha256"]
    again = stages.pseudolabel(params, data, teacher, tmp_path / "labels")
    assert again.id == gen.id, "same teacher + same data must give the same generation"

    saved = stages.student(params, data, tmp_path / "labels", tmp_path / "round1", tmp_path / "hist.csv")
    cfg = params.active("student")
    assert set(saved) == {cfg.method, *cfg.baselines}
    metrics = stages.evaluate(params, data, teacher, tmp_path / "round1", tmp_path / "labels", tmp_path / "report")
    on_disk = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert on_disk == metrics
    assert 50 <= metrics["teacher_accuracy"] <= 100 and 50 <= metrics["student_accuracy"] <= 100
    assert set(metrics["methods"]) == set(saved)
    expansion = metrics["expansion"]["mm_student"]  # TwoMoon's D_u has truth: the rates, not just disagreement
    assert metrics["correction_rate"] == expansion["correction_rate"] and 0 <= expansion["correction_rate"] <= 100
    assert expansion["correction_rate"] + expansion["corruption_rate"] + expansion["both_wrong_rate"] == \
        pytest.approx(100, abs=0.05) or expansion["disagreement_rate"] == 0
    assert (tmp_path / "report" / "boundaries.png").stat().st_size > 10_000
    # the stored pseudo labels are exactly the teacher's argmax on D_u
    assert LabelStore(tmp_path / "labels").latest().id == gen.id

    for gain, promoted, source in ((-100.0, True, tmp_path / "round1" / "student.pt"), (100.0, False, teacher)):
        strict = params.model_copy(update={"promotion": params.promotion.model_copy(update={"min_gain": gain})})
        out, record = tmp_path / f"next{gain}.pt", tmp_path / f"promotion{gain}.json"
        decision = stages.promote(strict, teacher, tmp_path / "round1", tmp_path / "report" / "metrics.json", out,
                                  record)
        assert decision.promote is promoted
        assert out.read_bytes() == source.read_bytes()
        written = json.loads(record.read_text())
        assert written["promoted"] is promoted and written["next_teacher"] == ("mm_student" if promoted else "teacher")
        assert written["student_accuracy"] == metrics["student_accuracy"] and written["reasons"]


def test_label_kind_ablation_from_one_soft_generation(tmp_path):
    params = load_params(ROOT / "params.yaml")
    params = params.with_active("pseudolabel", kind="soft")
    params = params.with_active("student", epochs=20, baselines=[], label_ablation=["hard", "weighted"])
    data, teacher = tmp_path / "data", tmp_path / "teacher.pt"
    stages.prepare(params, data)
    stages.teacher(params, data, teacher)
    gen = stages.pseudolabel(params, data, teacher, tmp_path / "labels")
    assert gen.manifest["kind"] == "soft"
    saved = stages.student(params, data, tmp_path / "labels", tmp_path / "students")
    assert set(saved) == {"mm_student", "mm_student-hard", "mm_student-weighted"}
    assert not params.round(2).baselines
    later = stages.student(params, data, tmp_path / "labels", tmp_path / "round2", round_id=2)
    assert set(later) == {"mm_student"}, "a round with baselines: false trains the configured method only"
    metrics = stages.evaluate(params, data, teacher, tmp_path / "students", tmp_path / "labels", tmp_path / "out")
    assert {"mm_student", "mm_student-hard", "mm_student-weighted"} <= set(metrics["methods"])
    assert "pseudo_label_accuracy" in metrics

    shutil.rmtree(data / "unlabeled_truth")  # real sensor data has no D_u truth: scored without it
    blind = stages.evaluate(params, data, teacher, tmp_path / "students", tmp_path / "labels", tmp_path / "out2")
    assert "pseudo_label_accuracy" not in blind and "pseudo_labels" not in blind["details"]
    assert blind["methods"] == metrics["methods"]


def test_labeling_reads_ahead_in_workers_with_the_same_labels(tmp_path):
    from mkepipe.experiments import create_experiment
    from mkepipe.training.checkpoint import load_checkpoint
    from mkepipe.training.runs import Labeler

    params = load_params(ROOT / "params.yaml").with_active("teacher", epochs=50)
    params = params.with_active("pseudolabel", kind="soft")
    data, teacher = tmp_path / "data", tmp_path / "teacher.pt"
    stages.prepare(params, data)
    stages.teacher(params, data, teacher)
    gens = [stages.pseudolabel(params.with_active("pseudolabel", loader_workers=w), data, teacher,
                               tmp_path / f"labels{w}") for w in (0, 2)]
    exp = create_experiment(params.experiment)
    model, spec, _ = load_checkpoint(teacher)
    unlabeled = exp.load(data, "unlabeled")
    labeler = Labeler(exp, model, spec, unlabeled)
    unplanned = LabelStore(tmp_path / "plain").write(  # a plain function: the store cannot tell it the plan
        unlabeled.ids, lambda ids: labeler(ids), kind="soft", num_classes=exp.task.num_classes,
        teacher_hash=gens[0].manifest["teacher_hash"], dataset_hash=gens[0].manifest["dataset_hash"],
        params=gens[0].manifest["params"], progress=False, family=exp.task.family)
    assert gens[0].id == gens[1].id == unplanned.id
    for gen in gens[1:] + [unplanned]:
        assert gen.arrays(unlabeled.ids)[2].tobytes() == gens[0].arrays(unlabeled.ids)[2].tobytes()

    labeler = Labeler(exp, model, spec, unlabeled, workers=1)
    labeler.plan([unlabeled.ids[:4], unlabeled.ids[4:8]])
    with pytest.raises(RuntimeError, match="planned batch"):
        labeler(unlabeled.ids[4:8])
