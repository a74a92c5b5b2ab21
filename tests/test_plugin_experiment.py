"""A team's own experiment, in a package of its own (``tests/plugin_toy/toy_mke``, multi-label),
found through its entry point and run through every stage by ``dvc repro`` in a temp git
repo — with no edit to any core module."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, make_project, run

PLUGIN = Path(__file__).parent / "plugin_toy"
PARAMS = {
    "experiment": "toy",
    "seed": 0,
    "rounds": [{"id": 1, "teacher": "teacher.pt"}],
    "prepare": {"toy": {"n_samples": 300}},
    "teacher": {"toy": {"epochs": 150}},
    "pseudolabel": {"toy": {"kind": "soft"}},
    "student": {"toy": {"epochs": 150, "baselines": ["um_student"]}},
    "evaluate": {"toy": {}},  # DVC wants every section a stage tracks, empty or not
    "promotion": {"min_gain": 0.0},
}


def install_plugin(site: Path) -> None:
    """The package plus the ``.dist-info`` a ``pip install`` would write (its entry point)."""
    shutil.copytree(PLUGIN / "toy_mke", site / "toy_mke", ignore=shutil.ignore_patterns("__pycache__"))
    info = site / "toy_mke-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-mke\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text('[mkepipe.experiments]\ntoy = toy_mke:SPEC\n')


@pytest.mark.e2e
def test_plugin_experiment_runs_every_stage_through_dvc(tmp_path):
    root, env = make_project(tmp_path)
    install_plugin(root)
    env["PYTHONPATH"] = str(root)
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    listed = run(["mke", "experiments"], root, env).stdout
    assert "toy" in listed and "twomoon" in listed and "nyu" in listed

    run(["mke", "pipeline", "--write"], root, env)
    assert (root / "dvc.yaml").read_text() == (ROOT / "dvc.yaml").read_text(), "core pipeline unchanged"
    assert (root / "experiments" / "toy").resolve() == (root / "toy_mke").resolve()

    out = run(["dvc", "repro"], root, env, timeout=900).stdout
    for stage in ("prepare", "teacher", "pseudolabel@0", "student@0", "evaluate@0", "promote@0"):
        assert f"'{stage}'" in out, stage

    metrics = json.loads((root / "reports" / "toy" / "round1" / "metrics.json").read_text())
    assert metrics["metric"] == "map" and metrics["class_scores"] == "recall_per_class"
    assert 0 < metrics["teacher_map"] <= 100 and set(metrics["methods"]) == {"mm_student", "um_student"}
    assert set(metrics["details"]["pseudo_labels"]["ap_per_class"]) == {"upper moon", "right half"}
    decision = json.loads((root / "reports" / "toy" / "round1" / "promotion.json").read_text())
    assert decision["verdict"] in ("promoted", "kept teacher") and len(decision["reasons"]) == 2

    gen = next((root / "labels" / "toy" / "round1").iterdir())
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["family"] == "bernoulli" and manifest["kind"] == "soft"
    assert "OK" in run(["mke", "labels", "verify", str(gen)], root, env).stdout

    assert "Data and pipelines are up to date" in run(["dvc", "status"], root, env).stdout
    (root / "mkepipe" / "experiments" / "twomoon" / "config.py").write_text(
        (root / "mkepipe" / "experiments" / "twomoon" / "config.py").read_text() + "\n# edited\n")
    assert "Data and pipelines are up to date" in run(["dvc", "status"], root, env).stdout, \
        "editing another experiment must not re-run this one"
    (root / "toy_mke" / "experiment.py").write_text((root / "toy_mke" / "experiment.py").read_text() + "\n")
    assert "prepare" in run(["dvc", "status"], root, env).stdout, "editing its own package re-runs it"
