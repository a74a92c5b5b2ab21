"""`prefect deployment run mke/nyu --watch` on a tiny NYU configuration (what `make demo`
runs, at test scale): exit 0, metrics, models and a label generation, `dvc status` clean."""
import json

import pytest
import yaml

from tests.conftest import run
from tests.prefect_server import prefect_server, served
from tests.service_helpers import tiny_params

pytestmark = pytest.mark.e2e


def _merge(base: dict, over: dict) -> dict:
    return {**base, **{k: _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                       for k, v in over.items()}}


def test_nyu_deployment_run_leaves_dvc_clean(project, tmp_path):
    root, env = project
    tiny = tiny_params(root)
    tiny["student"]["nyu"].update(baselines=["um_student"], label_ablation=[])
    full = yaml.safe_load((root / "params.yaml").read_text())  # dvc.yaml names every key it reads
    (root / "params.yaml").write_text(yaml.safe_dump(_merge(full, tiny), sort_keys=False))
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny nyu"], root, env)
    with prefect_server(tmp_path / "prefect-home", env) as penv, served(root, penv, "mke/nyu"):
        proc = run(["prefect", "deployment", "run", "mke/nyu", "--watch"], root, penv, check=False, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    metrics = json.loads((root / "reports" / "nyu" / "round1" / "metrics.json").read_text())
    assert metrics["round"] == 1 and 0 <= metrics["student_miou"] <= 100
    assert (root / "models" / "nyu" / "round1" / "student.pt").exists()
    gens = [p for p in (root / "labels" / "nyu" / "round1").iterdir() if (p / "manifest.json").exists()]
    assert len(gens) == 1
    assert "up to date" in run(["dvc", "status"], root, env).stdout
