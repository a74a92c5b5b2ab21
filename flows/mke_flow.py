"""The ``mke`` flow: drives the DVC pipeline, one task per stage.

DVC is the single source of truth: each task is ``dvc repro <stage>``, so after a
Prefect run ``dvc status`` is clean and a following ``dvc repro`` does nothing.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from mkepipe.evaluation.reports import markdown_table
from mkepipe.summary import read_round_reports

STAGE_ORDER = ("prepare", "teacher", "pseudolabel", "student", "evaluate", "promote")


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero; its output tail is in the message."""


def _dvc(project_dir: Path, *args: str) -> str:
    proc = subprocess.run(["dvc", *args], cwd=project_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise StageFailed(f"dvc {' '.join(args)} failed with exit code {proc.returncode}:\n{tail}")
    return proc.stdout


def pipeline_stages(project_dir: Path) -> list[str]:
    """Stage names in execution order: prepare, teacher, then each round's four stages."""
    names = _dvc(project_dir, "stage", "list", "--name-only").split()

    def key(name: str) -> tuple[int, int]:
        base, _, item = name.partition("@")
        rank = STAGE_ORDER.index(base) if base in STAGE_ORDER else len(STAGE_ORDER)
        return (int(item) + 1 if item.isdigit() else 0, rank)

    return sorted(names, key=key)


@task(name="select experiment")
def select_experiment(project_dir: Path, experiment: str) -> None:
    """Set ``experiment:`` in params.yaml, as ``dvc exp run -S experiment=…`` would."""
    path = project_dir / "params.yaml"
    text = path.read_text()
    new = re.sub(r"(?m)^experiment:[ \t]*[^\s#]+", f"experiment: {experiment}", text, count=1)
    if new != text:
        path.write_text(new)


@task(name="dvc repro", task_run_name="dvc repro {stage}")
def repro(project_dir: Path, stage: str) -> None:
    logger = get_run_logger()
    logger.info(_dvc(project_dir, "repro", stage)[-4000:])


@task(name="publish results")
def publish(project_dir: Path, experiment: str) -> list[dict]:
    rows = []
    for rid, m in read_round_reports(project_dir / "reports" / experiment):
        rows.append({"round": rid, **{k: round(v, 2) for k, v in m.items() if isinstance(v, float)},
                     **{k: round(v, 2) for k, v in m.get("methods", {}).items()},
                     "promotion": m["promotion"]["verdict"] if "promotion" in m else "–"})
    create_table_artifact(rows, key=f"{experiment}-metrics", description=f"{experiment}: test metrics per round")
    header = list(rows[0]) if rows else []
    md = markdown_table(header, [[r.get(h, "") for h in header] for r in rows])
    create_markdown_artifact(f"# {experiment} results\n\n{md}", key=f"{experiment}-report")
    return rows


@flow(name="mke", flow_run_name="mke-{experiment}")
def mke(experiment: str = "twomoon", project_dir: str = ".") -> list[dict]:
    """Run the whole expansion pipeline of ``experiment`` (every round) through DVC."""
    root = Path(project_dir).resolve()
    select_experiment(root, experiment)
    for stage in pipeline_stages(root):
        repro(root, stage)
    return publish(root, experiment)
