"""The ``mke`` flow: drives the DVC pipeline, one task per stage.

DVC is the single source of truth: each task is ``dvc repro <stage>``, so after a
Prefect run ``dvc status`` is clean and a following ``dvc repro`` does nothing. The
stage order comes from :data:`mkepipe.stages.STAGES`. Each stage's output streams into
the task's log as it is produced, and a progress artifact follows the epochs.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.progress import StageProgress
from mkepipe.evaluation.reports import markdown_table
from mkepipe.experiments import get_spec
from mkepipe.stages import STAGE_NAMES
from mkepipe.summary import read_round_reports
from mkepipe.workspace import project_root, workspace_lock


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
        rank = STAGE_NAMES.index(base) if base in STAGE_NAMES else len(STAGE_NAMES)
        return (int(item) + 1 if item.isdigit() else 0, rank)

    return sorted(names, key=key)


@task(name="select experiment", cache_policy=NO_CACHE)
def select_experiment(project_dir: Path, experiment: str) -> None:
    """Set ``experiment:`` in params.yaml, as ``dvc exp run -S experiment=…`` would."""
    path = project_dir / "params.yaml"
    text = path.read_text()
    new = re.sub(r"(?m)^experiment:[ \t]*[^\s#]+", f"experiment: {experiment}", text, count=1)
    if new != text:
        path.write_text(new)


@task(name="dvc repro", task_run_name="dvc repro {stage}", cache_policy=NO_CACHE)
def repro(project_dir: Path, stage: str, progress: StageProgress) -> None:
    """``dvc repro <stage>``, its output logged line by line as the stage runs."""
    logger = get_run_logger()
    proc = subprocess.Popen(["dvc", "repro", stage], cwd=project_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            logger.info(line)
            progress.line(stage, line)
            tail = (tail + [line])[-60:]
    if proc.wait() != 0:
        raise StageFailed(f"dvc repro {stage} failed with exit code {proc.returncode}:\n" + "\n".join(tail))


@task(name="publish results", cache_policy=NO_CACHE)
def publish(project_dir: Path, experiment: str) -> list[dict]:
    rows, verdicts = [], []
    for rid, m in read_round_reports(project_dir / "reports" / experiment):
        rows.append({"round": rid, **{k: round(v, 2) for k, v in m.items() if isinstance(v, float)},
                     **{k: round(v, 2) for k, v in m.get("methods", {}).items()},
                     "promotion (on val)": m["promotion"]["verdict"] if "promotion" in m else "–"})
        verdicts.append(f"- round {rid}: {m['expansion'][m['student_method']]['verdict']}")
    create_table_artifact(rows, key=f"{experiment}-metrics",
                          description=f"{experiment}: test metrics, validation scores and expansion per round")
    header = list(rows[0]) if rows else []
    md = markdown_table(header, [[r.get(h, "") for h in header] for r in rows])
    text = f"# {experiment} results\n\n{md}\n## Expansion on D_u\n\n" + "\n".join(verdicts) + "\n"
    create_markdown_artifact(text, key=f"{experiment}-report")
    return rows


@flow(name="mke", flow_run_name="mke-{experiment}")
def mke(experiment: str) -> list[dict]:
    """Run the whole expansion pipeline of ``experiment`` (every round) through DVC, in the
    project the service was started for."""
    name = get_spec(experiment).name  # only a registered experiment reaches params.yaml
    root = project_root()
    with workspace_lock(root):
        select_experiment(root, name)
        stages = pipeline_stages(root)
        progress = StageProgress(f"{name}-progress", stages)
        for stage in stages:
            repro(root, stage, progress)
            progress.stage_done(stage)
        return publish(root, name)
