"""The one list of stages: dvc.yaml and the CLI derive from it, each stage's declared code
dependencies cover every module it really imports, and the commands that only read
configuration or reports never import torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mkepipe.pipeline import check, experiment_sources
from mkepipe.stages import STAGES, get_stage
from tests.conftest import ROOT


def test_dvc_yaml_is_generated_from_the_stage_list():
    assert check(ROOT / "dvc.yaml"), "run `mke pipeline --write`"
    for name, rel in experiment_sources().items():
        assert (ROOT / "experiments" / name).resolve() == (ROOT / rel).resolve()


def test_cli_offers_every_stage_with_its_arguments():
    from mkepipe.cli import build_parser

    parser = build_parser()
    for stage in STAGES:
        args = ["stage", stage.name] + [x for a in stage.args if a.required
                                        for x in (f"--{a.name.replace('_', '-')}", "x")]
        ns = parser.parse_args(args)
        assert ns.stage == stage.name and all(hasattr(ns, a.name) for a in stage.args)


TWOMOON_CHAIN = {  # stage -> arguments, run in order on a tiny TwoMoon setting
    "prepare": {"out": "data"},
    "teacher": {"data": "data", "out": "teacher.pt"},
    "pseudolabel": {"data": "data", "teacher": "teacher.pt", "out": "labels"},
    "student": {"data": "data", "labels": "labels", "out": "students"},
    "evaluate": {"data": "data", "teacher": "teacher.pt", "students": "students", "labels": "labels",
                 "out": "report"},
    "promote": {"teacher": "teacher.pt", "students": "students", "metrics": "report/metrics.json",
                "out": "next.pt", "decision": "report/promotion.json"},
}
RUN_STAGE = """
import json, sys
from pathlib import Path
from mkepipe.config import parse_params
from mkepipe.stages import get_stage
params = parse_params({"experiment": "twomoon", "teacher": {"twomoon": {"epochs": 5}},
                       "student": {"twomoon": {"epochs": 5}}})
get_stage(sys.argv[1]).func(params, **{k: Path(v) for k, v in json.loads(sys.argv[2]).items()})
names = {getattr(m, "__file__", None) for name, m in list(sys.modules.items()) if name.startswith("mkepipe")}
print(json.dumps(sorted(f for f in names if f)))
"""


def _covered(path: Path, declared: tuple[str, ...], experiment: str) -> bool:
    rel = path.resolve().relative_to(ROOT)
    if rel.parent.parent == Path("mkepipe/experiments") and rel.name in ("__init__.py", "config.py"):
        return True  # every experiment's spec and config models validate params.yaml; they read only
        # their own sections, whose values DVC tracks as params, so they are no code dependency
    for dep in declared:
        dep_path = (ROOT / dep.replace("${experiment}", experiment)).resolve().relative_to(ROOT)
        if rel == dep_path or dep_path in rel.parents:
            return True
    return False


@pytest.mark.e2e
def test_each_stage_depends_on_the_code_it_imports(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, args in TWOMOON_CHAIN.items():
        proc = subprocess.run([sys.executable, "-c", RUN_STAGE, name, json.dumps(args)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        imported = [Path(f) for f in json.loads(proc.stdout.strip().splitlines()[-1])]
        missing = [str(p.relative_to(ROOT)) for p in imported if p != ROOT / "mkepipe" / "__init__.py"
                   and not _covered(p, get_stage(name).code, "twomoon")]
        assert not missing, f"stage {name} imports {missing} but dvc.yaml does not list them as deps"


CHECK_NO_TORCH = """
import sys
{body}
print("torch" in sys.modules)
"""


@pytest.mark.parametrize("body", [
    "import mkepipe.config; mkepipe.config.load_params('params.yaml')",
    "from mkepipe.cli import build_parser; build_parser().parse_args(['show'])",
    "from mkepipe.cli import main; main(['show', '--reports', sys.argv[1]])",
    "from mkepipe.cli import main; main(['labels', 'list', '--root', sys.argv[1]])",
    "from pathlib import Path; from flows.serve import deployments; deployments(Path('.').resolve())",
])
def test_configuration_reports_labels_and_deployment_listing_import_no_torch(body, tmp_path):
    (tmp_path / "twomoon" / "round1").mkdir(parents=True)
    (tmp_path / "twomoon" / "round1" / "metrics.json").write_text(json.dumps(
        {"metric": "accuracy", "teacher_accuracy": 70.0, "student_accuracy": 71.0, "methods": {}}))
    proc = subprocess.run([sys.executable, "-c", CHECK_NO_TORCH.format(body=body), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False", f"imported torch: {body}"
