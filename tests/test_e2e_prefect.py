"""`prefect deployment run mke/twomoon --watch` against a real local Prefect server."""
import hashlib
import json

import pytest

from tests.conftest import run
from tests.prefect_server import prefect_server, served

pytestmark = pytest.mark.e2e


def test_deployment_run_leaves_dvc_clean(project, tmp_path):
    root, env = project
    with prefect_server(tmp_path / "prefect-home", env) as penv, served(root, penv, "mke/twomoon"):
        proc = run(["prefect", "deployment", "run", "mke/twomoon", "--watch"], root, penv, check=False, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "Completed" in proc.stdout

    for r in (1, 2):
        metrics = json.loads((root / "reports" / "twomoon" / f"round{r}" / "metrics.json").read_text())
        assert metrics["round"] == r and "student_accuracy" in metrics
        gens = [p for p in (root / "labels" / "twomoon" / f"round{r}").iterdir() if (p / "manifest.json").exists()]
        assert len(gens) == 1
    assert (root / "models" / "twomoon" / "round2" / "student.pt").exists()
    # round 2 was labeled by what round 1's promote stage chose, as its decision says
    decision = json.loads((root / "reports" / "twomoon" / "round1" / "promotion.json").read_text())
    chosen = root / "models" / "twomoon" / "teacher-after-round1.pt"
    assert chosen.read_bytes() == (root / decision["source"]).read_bytes()
    manifest = json.loads(next((root / "labels" / "twomoon" / "round2").glob("*/manifest.json")).read_text())
    assert manifest["teacher_hash"] == hashlib.sha256(chosen.read_bytes()).hexdigest()
    assert "up to date" in run(["dvc", "status"], root, env).stdout
    assert "Running stage" not in run(["dvc", "repro"], root, env).stdout
