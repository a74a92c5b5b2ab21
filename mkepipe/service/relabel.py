"""One relabel round, as steps the ``relabel`` flow runs as tasks (or :func:`relabel` runs in turn).

plan → (bootstrap) → ingest → label → train → evaluate → commit. Every step before
``commit`` writes only into round ``n = state.round + 1``'s directories, which nothing
references yet; ``commit`` writes the report and then ``state.json``, the one atomic
rename that makes the round current. A run killed anywhere before it leaves the previous
state exactly as it was, and the next run redoes the round (the label store resumes the
shards already written).
"""
from __future__ import annotations

import functools
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from mkepipe import stages
from mkepipe.config import Params
from mkepipe.experiments import create_experiment, get_spec, inbox_experiments
from mkepipe.fileio import TMP_MARK, atomic_copy, atomic_write, sha256_file
from mkepipe.labels import Generation, LabelStore
from mkepipe.promotion import Decision, decide_from_metrics
from mkepipe.service.inbox import InboxDiff, diff_inbox
from mkepipe.service.ingest import Ingested, copy_dataset
from mkepipe.service.report import round_report
from mkepipe.service.retry import retry_transient
from mkepipe.service.state import Layout, ServiceState, read_state, service_lock, write_state
from mkepipe.workspace import workspace_lock

Progress = Callable[[float, str], None]


def _quiet(_: float, __: str) -> None:
    pass


@dataclass
class Plan:
    """What the inbox holds that the committed state does not."""

    state: ServiceState | None
    diff: InboxDiff
    seconds: float

    @property
    def round(self) -> int:
        return (self.state.round if self.state else 0) + 1


@dataclass
class Outcome:
    """What a run did: ``status`` is ``noop``, ``quarantined`` (nothing usable) or ``committed``."""

    status: str
    round: int
    state: ServiceState | None = None
    labeled: int = 0
    quarantined: int = 0
    decision: Decision | None = None
    report: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def pipeline_outputs(project_dir: Path, params: Params) -> tuple[Path, Path, Path]:
    """(dataset, teacher, labels dir) of the pipeline's last round, per dvc.yaml's templates.

    The teacher is what the last round's promote stage chose
    (``teacher-after-round<N>.pt``), or the round's own teacher where that stage has
    not run.
    """
    exp, last = params.experiment, params.rounds[-1]
    models = project_dir / "models" / exp
    promoted = models / f"teacher-after-round{last.id}.pt"
    return (project_dir / "data" / exp, promoted if promoted.exists() else models / last.teacher,
            project_dir / "labels" / exp / f"round{last.id}")


def _copy_tree(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f"{dst.name}{TMP_MARK}copy")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)


class Relabeler:
    """The steps of one relabel round for ``params.experiment`` in ``project_dir``."""

    def __init__(self, project_dir: str | Path, params: Params, progress: Progress | None = None) -> None:
        if not get_spec(params.experiment).inbox:
            raise ValueError(f"experiment {params.experiment!r} has no inbox adapter: new raw data cannot be "
                             f"ingested (experiments with one: {', '.join(inbox_experiments())})")
        self.project = Path(project_dir).resolve()
        self.params = params
        cfg = params.service
        self.layout = Layout(self.project / cfg.state_dir / params.experiment)
        self.inbox = self.project / cfg.inbox_dir / params.experiment
        self.progress = progress or _quiet

    @functools.cached_property
    def experiment(self):
        return create_experiment(self.params.experiment, self.params)

    def plan(self) -> Plan:
        start = time.perf_counter()
        state = read_state(self.layout)
        samples = self.experiment.inbox.scan(self.inbox, self.params.active("prepare"))
        diff = diff_inbox(samples, state.ingested if state else {}, state.rejected if state else {})
        return Plan(state, diff, time.perf_counter() - start)

    def bootstrap(self) -> ServiceState:
        """Round 0: copy the pipeline's dataset and teacher into the state dir, with the
        last round's label generation if that teacher wrote it; a promoted student labels
        the dataset afresh, so that every later child generation extends its own labels."""
        data, teacher, labels = pipeline_outputs(self.project, self.params)
        gen = LabelStore(labels).latest() if labels.is_dir() else None
        if gen is None or not teacher.exists() or not (data / "manifest.json").exists():
            raise FileNotFoundError(f"the relabel service starts from the pipeline's outputs ({data}, {teacher}, "
                                    f"{labels}); run `prefect deployment run mke/{self.params.experiment}` "
                                    "or `dvc repro` first")
        if gen.parent is not None:
            raise ValueError(f"{gen.path}: bootstrap needs a generation without a parent")
        gen.verify()
        lay = self.layout
        copy_dataset(data, lay.dataset(0))
        atomic_copy(teacher, lay.models(0) / "teacher.pt")
        shutil.rmtree(lay.labels(0), ignore_errors=True)
        if gen.manifest["teacher_hash"] == sha256_file(teacher):
            _copy_tree(gen.path, lay.labels(0) / gen.id)
        else:
            self.progress(5, f"round 0: {teacher.name} labels the pipeline's {len(gen)} samples")
            gen = stages.pseudolabel(self.params, lay.dataset(0), lay.models(0) / "teacher.pt", lay.labels(0))
        row = {"round": 0, "dataset": lay.rel(lay.dataset(0)), "samples": len(gen), "labeled": len(gen),
               "decision": "bootstrap", "teacher": lay.rel(lay.models(0) / "teacher.pt")}
        return ServiceState(self.params.experiment, 0, row["dataset"], lay.rel(lay.labels(0) / gen.id),
                            row["teacher"], history=[row])

    def ingest(self, plan: Plan, state: ServiceState) -> Ingested:
        self.progress(5, f"round {plan.round}: validating {len(plan.diff.new)} new samples")
        return self.experiment.inbox.ingest(self.layout.abs(state.dataset), self.layout.dataset(plan.round),
                                            plan.diff.new, plan.diff.changed, self.project)

    def label(self, round_id: int, state: ServiceState, version: Path) -> Generation:
        """The current teacher labels the samples its generation lacks into a child
        generation (the pipeline's pseudolabel stage, with the parent)."""
        def progress(done: int, total: int) -> None:
            self.progress(10 + 40 * done / max(total, 1), f"round {round_id}: labeled {done}/{total}")

        store = self.layout.labels(round_id)
        gen = stages.pseudolabel(self.params, version, self.layout.abs(state.teacher), store,
                                 parent=Generation(self.layout.abs(state.generation)), progress=progress)
        for stale in store.iterdir():  # left by a killed run on other data; unreferenced
            if stale.is_dir() and stale.name != gen.id:
                shutil.rmtree(stale)
        return gen

    def _round_params(self) -> Params:
        if self.params.service.baselines:
            return self.params
        return self.params.with_active("student", baselines=[], label_ablation=[])

    def train(self, round_id: int, version: Path) -> Path:
        """Train the next student on every label of the round's generation (old and new)."""
        self.progress(50, f"round {round_id}: training the student")
        out = self.layout.models(round_id)
        stages.student(self._round_params(), version, self.layout.labels(round_id), out,
                       self.layout.reports(round_id) / "student_history.csv")
        return out

    def evaluate(self, round_id: int, state: ServiceState, version: Path) -> dict[str, Any]:
        self.progress(85, f"round {round_id}: evaluating")
        return stages.evaluate(self._round_params(), version, self.layout.abs(state.teacher),
                               self.layout.models(round_id), self.layout.labels(round_id),
                               self.layout.reports(round_id), round_id)

    def commit(self, plan: Plan, state: ServiceState, ingested: Ingested, gen: Generation | None,
               metrics: dict[str, Any] | None) -> Outcome:
        """Decide on promotion, write the report, then the state (last)."""
        lay, n = self.layout, plan.round
        sha = {s.id: s.sha256 for s in plan.diff.new + plan.diff.changed}
        rejected = {**state.rejected, **ingested.rejected(sha)}
        if gen is None:  # nothing usable: remember the refusals, no new round
            new = replace(state, rejected=rejected)
            write_state(lay, new)
            return Outcome("quarantined", state.round, new, quarantined=len(ingested.quarantine))
        metric = metrics["metric"]
        decision = decide_from_metrics(metrics, self.params.promotion)
        teacher = lay.rel(lay.models(n) / stages.PRIMARY) if decision.promote else state.teacher
        row = {"round": n, "dataset": lay.rel(lay.dataset(n)), "samples": len(gen.ids),
               "labeled": gen.manifest["samples"], "quarantined": len(ingested.quarantine),
               f"teacher_{metric}": round(metrics[f"teacher_{metric}"], 2),
               f"student_{metric}": round(metrics[f"student_{metric}"], 2),
               f"pseudo_label_{metric}": (round(metrics[f"pseudo_label_{metric}"], 2)
                                          if f"pseudo_label_{metric}" in metrics else None),
               f"teacher_{metric}_val": round(metrics[f"teacher_{metric}_val"], 2),
               f"student_{metric}_val": round(metrics[f"student_{metric}_val"], 2),
               "correction_rate": metrics.get("correction_rate"), "disagreement_rate": metrics["disagreement_rate"],
               "decision": decision.verdict, "teacher": teacher}
        new = ServiceState(state.experiment, n, row["dataset"], lay.rel(gen.path), teacher,
                           {**state.ingested, **ingested.added}, rejected, state.history + [row])
        report = lay.reports(n) / "report.md"
        atomic_write(report, lambda tmp: tmp.write_text(
            round_report(new, state, gen, ingested, metrics, decision, metric, lay)))
        write_state(lay, new)
        self.progress(100, f"round {n}: {decision.verdict}")
        return Outcome("committed", n, new, gen.manifest["samples"], len(ingested.quarantine), decision, report,
                       metrics)


def relabel(project_dir: str | Path, params: Params, progress: Progress | None = None) -> Outcome:
    """Run one relabel round start to finish, without Prefect (``mke relabel``, benchmarks);
    each step is retried on transient I/O errors, as the flow's tasks are."""
    r = Relabeler(project_dir, params, progress)
    plan = retry_transient(r.plan)  # without the lock: a no-op touches no file
    if plan.diff.empty:
        return Outcome("noop", plan.round - 1, plan.state)
    with workspace_lock(r.project), service_lock(r.layout):
        plan = retry_transient(r.plan)  # again under the lock: a run that held it may have taken the data
        if plan.diff.empty:
            return Outcome("noop", plan.round - 1, plan.state)
        return run_round(plan, lambda name, *args: retry_transient(lambda: getattr(r, name)(*args)))


def run_round(plan: Plan, step: Callable[..., Any]) -> Outcome:
    """The steps of a round after planning, in order: ``step(name, *args)`` runs the
    :class:`Relabeler` method ``name`` (retried in :func:`relabel`, as a Prefect task in
    the relabel flow)."""
    state = plan.state or step("bootstrap")
    got = step("ingest", plan, state)
    gen = metrics = None
    if got.version is not None:
        gen = step("label", plan.round, state, got.version)
        step("train", plan.round, got.version)
        metrics = step("evaluate", plan.round, state, got.version)
    return step("commit", plan, state, got, gen, metrics)
