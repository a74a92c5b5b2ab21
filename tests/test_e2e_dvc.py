"""`dvc repro` of the whole pipeline in a temporary git repository (real DVC)."""
import json

import pytest

from tests.conftest import run

pytestmark = pytest.mark.e2e


def test_dvc_repro_runs_everything_then_nothing(project):
    root, env = project
    out = run(["dvc", "repro"], root, env).stdout
    for stage in ("prepare", "teacher", "pseudolabel@0", "student@0", "evaluate@0", "evaluate@1"):
        assert f"Running stage '{stage}'" in out
    assert (root / "dvc.lock").exists()
    gens = [p for p in (root / "labels" / "twomoon" / "round1").iterdir() if (p / "manifest.json").exists()]
    assert len(gens) == 1

    second = run(["dvc", "repro"], root, env).stdout
    assert "Running stage" not in second
    assert "up to date" in run(["dvc", "status"], root, env).stdout

    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], root, env).stdout)
    flat = json.dumps(metrics)
    assert "teacher_accuracy" in flat and "student_accuracy" in flat

    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], root, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run"], root, env)
    exp = run(["dvc", "exp", "run", "-S", "student.twomoon.perturbation.input_noise=1.0"], root, env).stdout
    assert "Running stage 'student@0'" in exp and "Running stage 'teacher'" not in exp
    shown = run(["dvc", "exp", "show", "--json"], root, env).stdout
    assert '"input_noise": 1.0' in shown.replace("1.0,", "1.0")
