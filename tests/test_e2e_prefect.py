"""`prefect deployment run mke/twomoon --watch` against a real local Prefect server."""
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
    assert "up to date" in run(["dvc", "status"], root, env).stdout
    assert "Running stage" not in run(["dvc", "repro"], root, env).stdout
