"""The ``relabel`` flow: new sensor data in the inbox → a new expansion round.

Thin on purpose: every task is one step of :class:`mkepipe.service.Relabeler`; the
library owns the data, the label store, training and the state pointer. Tasks retry
transient I/O errors only (:func:`mkepipe.service.retry.is_transient`). See docs/service.md.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from mkepipe.config import load_params
from mkepipe.experiments import get_spec
from mkepipe.service import Outcome, Relabeler, run_round, service_lock
from mkepipe.service.retry import is_transient
from mkepipe.workspace import project_root, workspace_lock


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect retry condition: retry transient I/O errors, fail at once on anything else."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - classified, not handled
        return is_transient(exc)
    return False


STEP = dict(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, retry_condition_fn=retry_if_transient)


@task(name="find new sensor data", **STEP)
def find_new(r: Relabeler):
    plan = r.plan()
    get_run_logger().info("inbox %s: %d new, %d changed (%.2f s)", r.inbox, len(plan.diff.new),
                          len(plan.diff.changed), plan.seconds)
    return plan


@task(name="start from the pipeline's outputs", **STEP)
def bootstrap(r: Relabeler):
    return r.bootstrap()


@task(name="validate and ingest", task_run_name="validate and ingest (round {plan.round})", **STEP)
def ingest(r: Relabeler, plan, state):
    got = r.ingest(plan, state)
    get_run_logger().info("ingested %d samples, quarantined %d: %s", len(got.added), len(got.quarantine),
                          got.quarantine.summary()["by_reason"])
    return got


@task(name="label new samples", task_run_name="label new samples (round {round_id})", **STEP)
def label(r: Relabeler, round_id: int, state, version: Path):
    return r.label(round_id, state, version)


@task(name="train student", task_run_name="train student (round {round_id})", **STEP)
def train(r: Relabeler, round_id: int, version: Path) -> Path:
    return r.train(round_id, version)


@task(name="evaluate", task_run_name="evaluate (round {round_id})", **STEP)
def evaluate(r: Relabeler, round_id: int, state, version: Path) -> dict:
    return r.evaluate(round_id, state, version)


@task(name="promote and commit", **STEP)
def commit(r: Relabeler, plan, state, got, gen, metrics) -> Outcome:
    return r.commit(plan, state, got, gen, metrics)


@task(name="track with DVC", **STEP)
def track(r: Relabeler) -> None:
    """``dvc add`` the service state so each round's dataset and labels are versioned."""
    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))  # the venv's, if not on PATH
    proc = subprocess.run([dvc, "add", str(r.layout.root.relative_to(r.project))], cwd=r.project,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc add failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


@task(name="publish report", cache_policy=NO_CACHE)
def publish(r: Relabeler, out: Outcome) -> None:
    exp = r.params.experiment
    if out.status != "committed":
        text = (f"# relabel {exp}: nothing new\n\nThe inbox `{r.inbox}` holds no new sample"
                if out.status == "noop" else
                f"# relabel {exp}: nothing usable\n\n{out.quarantined} new samples, all quarantined")
        # its own key, so `relabel-<exp>-report` keeps showing the last round's report
        create_markdown_artifact(f"{text}; round {out.round} stays current.\n", key=f"relabel-{exp}-last-run")
        return
    reports = out.report.parent
    figures = sorted(reports.glob("*.png"))
    text = out.report.read_text()
    for f in figures:
        text = text.replace(f"]({f.name})", f"]({f.resolve().as_uri()})")
    create_markdown_artifact(text, key=f"relabel-{exp}-report", description=f"round {out.round}: "
                             f"{out.decision.verdict}")
    create_table_artifact(out.state.history, key=f"relabel-{exp}-metrics", description="test metrics per round")
    for f in figures:
        create_link_artifact(f.resolve().as_uri(), link_text=f"round {out.round}: {f.name}",
                             key=f"relabel-{exp}-{f.stem.replace('_', '-')}")


def _progress(key: str):
    artifact = create_progress_artifact(0.0, key=key, description="relabel: planning")
    logger = get_run_logger()
    last = [0.0]

    def update(pct: float, message: str) -> None:
        if pct - last[0] < 1 and pct < 100:
            return
        last[0] = pct
        try:
            update_progress_artifact(artifact, pct, description=message)
        except Exception as exc:  # noqa: BLE001 - a progress bar must never fail the run
            logger.warning("progress artifact not updated: %s", exc)
        logger.info("%3.0f%% %s", pct, message)

    return update


STEPS = {"bootstrap": bootstrap, "ingest": ingest, "label": label, "train": train, "evaluate": evaluate,
         "commit": commit}


def _round(r: Relabeler, plan) -> Outcome:
    r.progress = _progress(f"relabel-{r.params.experiment}-progress")
    return run_round(plan, lambda name, *args: STEPS[name](r, *args))


@flow(name="relabel", flow_run_name="relabel-{experiment}")
def relabel(experiment: str) -> dict:
    """Ingest new inbox data, label only it, train and evaluate the next student, promote or
    not, in the project the service was started for."""
    name = get_spec(experiment).name  # only a registered experiment names a path
    root = project_root()
    params = load_params(root / "params.yaml").model_copy(update={"experiment": name})
    r = Relabeler(root, params)
    plan = find_new(r)  # without the locks: a no-op touches no file
    if not plan.diff.empty:
        with workspace_lock(root), service_lock(r.layout):
            plan = find_new(r)  # again under the lock: a run that held it may have taken the data
            if not plan.diff.empty:
                out = _round(r, plan)
                if out.status != "noop":  # the state changed: version it
                    track(r)
    if plan.diff.empty:
        out = Outcome("noop", plan.round - 1, plan.state)
    publish(r, out)
    return {"status": out.status, "round": out.round, "labeled": out.labeled, "quarantined": out.quarantined,
            "decision": out.decision.verdict if out.decision else None}
