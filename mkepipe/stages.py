"""One function per pipeline stage, and the one list of stages (:data:`STAGES`).

Each stage takes the validated params and paths and writes files. :data:`STAGES` gives
every stage's name, function, command-line arguments (with the path each takes in
``dvc.yaml``), code dependencies and order: ``mke stage …`` (:mod:`mkepipe.cli`), the
``mke`` Prefect flow's order and ``dvc.yaml`` itself (:mod:`mkepipe.pipeline`) derive
from it. The relabel service calls the same functions. Heavy imports (torch, the
experiment's code) happen inside the functions, so listing the stages is cheap.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mkepipe.config import Params
from mkepipe.fileio import atomic_copy, sha256_file

if TYPE_CHECKING:
    from mkepipe.experiments.base import Experiment
    from mkepipe.labels import Generation
    from mkepipe.promotion import Decision

PRIMARY = "student.pt"
log = logging.getLogger(__name__)


def _experiment(params: Params) -> "Experiment":
    """The active experiment, with torch's thread count set to what its models need."""
    import torch

    from mkepipe.experiments import create_experiment

    exp = create_experiment(params.experiment, params)
    if exp.num_threads:
        torch.set_num_threads(exp.num_threads)
    return exp


def prepare(params: Params, out: Path) -> dict[str, Any]:
    """Materialise the active experiment's dataset and manifest into ``out``.

    ``manifest.json`` marks a complete dataset: an older one is removed before anything is
    written and the new one is written last, so a run killed over an older dataset leaves
    no manifest that a reader could take for the mix."""
    from mkepipe.data.manifest import MANIFEST

    exp = _experiment(params)
    (Path(out) / MANIFEST).unlink(missing_ok=True)
    return exp.prepare(params.active("prepare"), Path(out))


def teacher(params: Params, data: Path, out: Path, history: Path | None = None) -> dict[str, Any]:
    """Train the unimodal teacher on D_l and save its checkpoint."""
    from mkepipe.data.manifest import read_manifest
    from mkepipe.evaluation.reports import write_csv
    from mkepipe.training.checkpoint import save_checkpoint
    from mkepipe.training.runs import train_teacher

    exp = _experiment(params)
    labeled = exp.load(data, "labeled")
    model, spec, hist = train_teacher(exp, params, labeled)
    meta = {"method": "teacher", "experiment": exp.name, "dataset_sha256": read_manifest(data)["sha256"]}
    save_checkpoint(out, model, spec, meta)
    if history is not None:
        write_csv(history, hist)
    return meta


def pseudolabel(params: Params, data: Path, teacher: Path, out: Path, parent: "Generation | None" = None,
                progress: Callable[[int, int], None] | None = None) -> "Generation":
    """Have the teacher label D_u into a label generation under ``out``.

    With ``parent`` (the relabel service) only the samples the parent lacks are labeled,
    into a child generation with the parent's kind, encoding and parameters.
    ``progress(done, total)`` is called after each labeled batch.
    """
    import torch

    from mkepipe.data.manifest import read_manifest
    from mkepipe.labels import LabelStore
    from mkepipe.training.checkpoint import load_checkpoint
    from mkepipe.training.runs import Labeler, chunks

    exp = _experiment(params)
    model, spec, _ = load_checkpoint(teacher)
    unlabeled = exp.load(data, "unlabeled")
    todo = len(unlabeled) - (sum(1 for sid in unlabeled.ids if sid in parent) if parent is not None else 0)
    cfg = params.active("pseudolabel")
    label_fn = Labeler(exp, model, spec, unlabeled, cfg.loader_workers, progress, todo)
    labeled = exp.load(data, "labeled")
    counts = sum((exp.task.class_counts(torch.from_numpy(labeled.labels(rows))) for rows in chunks(labeled)),
                 torch.zeros(exp.task.num_classes, dtype=torch.int64))
    setting = ({"kind": parent.kind, "encoding": parent.manifest["encoding"], "params": parent.manifest["params"]}
               if parent is not None else {"kind": cfg.kind, "encoding": cfg.encoding,
                                           "params": cfg.model_dump(exclude={"loader_workers"})})
    return LabelStore(out).write(
        unlabeled.ids, label_fn, num_classes=exp.task.num_classes, teacher_hash=sha256_file(teacher),
        dataset_hash=read_manifest(data)["sha256"], parent=parent, progress=progress is None,
        class_prior=exp.task.class_prior(counts.numpy(), len(labeled)), family=exp.task.family, **setting)


def latest_generation(labels: Path) -> "Generation":
    """The newest complete generation under ``labels``."""
    from mkepipe.labels import LabelStore

    gen = LabelStore(labels).latest()
    if gen is None:
        raise FileNotFoundError(f"{labels}: no complete label generation; run the pseudolabel stage first")
    return gen


def student(params: Params, data: Path, labels: Path, out: Path, history: Path | None = None,
            round_id: int = 1) -> dict[str, str]:
    """Train the configured student method and its baselines; save one checkpoint each.

    ``out/student.pt`` is the configured method (the next round's teacher);
    ``out/<method>.pt`` holds every method trained, baselines included, and
    ``out/<method>-<kind>.pt`` the label-kind ablation (e.g. hard vs soft labels).
    A round with ``baselines: false`` trains the configured method only.
    ``student.pt`` marks a complete folder: removed first, copied from ``<method>.pt`` last.
    """
    from mkepipe.evaluation.reports import write_csv
    from mkepipe.training.checkpoint import save_checkpoint
    from mkepipe.training.runs import train_student

    exp = _experiment(params)
    gen = latest_generation(labels)
    unlabeled = exp.load(data, "unlabeled")
    labeled = exp.load(data, "labeled")
    cfg = params.active("student")
    with_baselines = params.round(round_id).baselines
    methods = [cfg.method] + [m for m in cfg.baselines if m != cfg.method and with_baselines]
    out = Path(out)
    (out / PRIMARY).unlink(missing_ok=True)
    saved: dict[str, str] = {}
    runs = [(name, gen.kind, name) for name in methods]
    runs += [(cfg.method, k, f"{cfg.method}-{k}") for k in cfg.label_ablation if k != gen.kind and with_baselines]
    for name, label_kind, tag in runs:
        log.info("training %s on %s labels (%d of %d)", tag, label_kind, len(saved) + 1, len(runs))
        truth = exp.load_unlabeled_truth(data) if name == "mm_student_sup" else None
        model, spec, hist = train_student(exp, params, name, unlabeled=unlabeled, labels=gen, kind=label_kind,
                                          labeled=labeled, truth=truth)
        meta = {"method": tag, "experiment": exp.name, "labels": str(labels), "label_kind": label_kind}
        save_checkpoint(out / f"{tag}.pt", model, spec, meta)
        saved[tag] = str(out / f"{tag}.pt")
        if tag == cfg.method and history is not None:
            write_csv(history, hist)
    atomic_copy(out / f"{cfg.method}.pt", out / PRIMARY)
    return saved


def _pseudo_label_quality(exp: "Experiment", unlabeled, gen: "Generation", truth) -> dict[str, Any] | None:
    """The stored labels scored against D_u's truth; None when the source has none (real
    raw sensor data)."""
    from mkepipe.training.runs import chunks

    if truth is None:
        return None
    meter = exp.task.meter()
    for rows in chunks(unlabeled):
        _, hard, probs, _ = gen.arrays([unlabeled.ids[r] for r in rows])
        meter.update(exp.task.label_predictions(hard, probs), truth.read(rows)[0])
    return meter.compute()


def _expansion(exp: "Experiment", model, spec, unlabeled, gen: "Generation", truth) -> dict[str, Any]:
    """Where the student departs from its pseudo labels on D_u: correction and corruption
    rates against D_u's truth where it exists, else disagreement and teacher confidence."""
    from mkepipe.training.runs import iter_logits

    task = exp.task
    meter = task.expansion_meter()
    for rows, logits in iter_logits(model, spec, unlabeled):
        _, hard, probs, _ = gen.arrays([unlabeled.ids[r] for r in rows])
        y = None if truth is None else task.truth_decisions(truth.read(rows)[0].numpy())
        meter.update(task.decisions(task.predictions(logits)), task.label_decisions(hard),
                     None if probs is None else task.decision_confidence(probs), y)
    return meter.compute()


def evaluate(params: Params, data: Path, teacher: Path, students: Path, labels: Path, out: Path,
             round_id: int = 1) -> dict[str, Any]:
    """Score the round's teacher, every trained student and the pseudo labels.

    Every model is scored on the test split (reported) and on the validation split (what
    the promotion rule decides on; test never decides). Each student's expansion
    diagnostics on D_u (:mod:`mkepipe.evaluation.expansion`) are added. Writes
    ``metrics.json`` (for ``dvc metrics``: headline scores flat, every metric of every
    model under ``details`` and ``validation``, the task's metric names) and the
    experiment's figures into ``out``. Pseudo labels are scored only where D_u has truth.
    """
    from mkepipe.evaluation.reports import write_json
    from mkepipe.training.checkpoint import load_checkpoint
    from mkepipe.training.data import SplitLabels
    from mkepipe.training.runs import score

    exp = _experiment(params)
    test, val, unlabeled = exp.load(data, "test"), exp.load(data, "val"), exp.load(data, "unlabeled")
    models = {"teacher": load_checkpoint(teacher)[:2]}
    for path in sorted(Path(students).glob("*.pt")):
        if path.name != PRIMARY:
            model, spec, meta = load_checkpoint(path)
            models[meta["method"]] = (model, spec)
    primary = load_checkpoint(Path(students) / PRIMARY)[2]["method"]
    details = {name: score(exp, m, s, test) for name, (m, s) in models.items()}
    validation = {name: score(exp, m, s, val) for name, (m, s) in models.items()}
    gen = latest_generation(labels)
    try:
        truth = SplitLabels(exp.load_unlabeled_truth(data), exp.task, ids=unlabeled.ids)
    except FileNotFoundError:
        truth = None
    expansion = {name: _expansion(exp, m, s, unlabeled, gen, truth) for name, (m, s) in models.items()
                 if name != "teacher"}
    quality = _pseudo_label_quality(exp, unlabeled, gen, truth)
    if quality is not None:
        details["pseudo_labels"] = quality

    m = exp.task.metric
    metrics: dict[str, Any] = {
        "round": round_id, "student_method": primary, "metric": m, "class_scores": exp.task.class_scores,
        f"teacher_{m}": details["teacher"][m], f"student_{m}": details[primary][m],
        f"teacher_{m}_val": validation["teacher"][m], f"student_{m}_val": validation[primary][m],
    }
    if quality is not None:
        metrics[f"pseudo_label_{m}"] = quality[m]
    diag = expansion[primary]
    for key in ("correction_rate", "corruption_rate", "disagreement_rate"):
        if key in diag:
            metrics[key] = diag[key]
    metrics["methods"] = {name: d[m] for name, d in details.items() if name not in ("teacher", "pseudo_labels")}
    metrics["expansion"] = expansion
    metrics["details"] = details
    metrics["validation"] = validation
    out = Path(out)
    write_json(out / "metrics.json", metrics)
    exp.figures(out, test, models, params)
    log.info("round %d: %s", round_id, diag["verdict"])
    return metrics


def promote(params: Params, teacher: Path, students: Path, metrics: Path, out: Path,
            decision: Path) -> "Decision":
    """Pick the next round's teacher: the round's configured student (``student.pt``) if
    it passes the promotion rule (``promotion:`` in params.yaml) on the evaluate stage's
    metrics, else the round's own teacher. The chosen checkpoint is copied to ``out``
    (atomically) and the decision, with its reasons, written to ``decision``."""
    from mkepipe.evaluation.reports import write_json
    from mkepipe.promotion import decide_from_metrics

    scores = json.loads(Path(metrics).read_text())
    rule = params.promotion
    verdict = decide_from_metrics(scores, rule)
    source = Path(students) / PRIMARY if verdict.promote else Path(teacher)
    atomic_copy(source, out)
    m = scores["metric"]
    write_json(decision, {
        "round": scores["round"], "promoted": verdict.promote, "verdict": verdict.verdict,
        "next_teacher": scores["student_method"] if verdict.promote else "teacher", "source": str(source),
        f"teacher_{m}_val": scores[f"teacher_{m}_val"], f"student_{m}_val": scores[f"student_{m}_val"],
        f"teacher_{m}": scores[f"teacher_{m}"], f"student_{m}": scores[f"student_{m}"],
        "min_gain": rule.min_gain, "min_class_coverage": rule.min_class_coverage, "reasons": verdict.reasons})
    return verdict


# --- the one list of stages ------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    """A stage argument: ``--<name>``; ``dvc`` is its value in dvc.yaml and ``role`` how
    DVC tracks it: ``dep`` (input), ``out`` (cached output), ``plot`` (CSV of a training
    history), ``metric`` (uncached JSON), ``path`` (written, not tracked) or ``value``."""

    name: str
    help: str
    dvc: str
    role: str = "dep"
    type: type = Path
    required: bool = True


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: its function, arguments, the params sections it reads, the code
    it depends on (``{experiment}`` is the active experiment's package) and whether it runs
    once per round."""

    name: str
    func: Callable[..., Any]
    help: str
    args: tuple[Arg, ...]
    params: tuple[str, ...]
    code: tuple[str, ...]
    per_round: bool = False
    metrics: tuple[str, ...] = ()  # uncached JSON the stage writes into a ``path`` argument
    report: Callable[[Any, dict[str, Any]], str] = field(default=lambda result, kwargs: "done")


DATA = "data/${experiment}"
MODELS = "models/${experiment}"
REPORT = "reports/${experiment}/round${item.id}"
EXPERIMENT_CODE = ("experiments/${experiment}", "mkepipe/experiments/__init__.py",
                   "mkepipe/experiments/base.py", "mkepipe/config.py", "mkepipe/stages.py", "mkepipe/data",
                   "mkepipe/tasks.py", "mkepipe/losses.py", "mkepipe/evaluation", "mkepipe/models",
                   "mkepipe/perturb.py", "mkepipe/fileio.py", "mkepipe/registry.py")
TRAINING_CODE = ("mkepipe/training", "mkepipe/perturb_dense.py", "mkepipe/labels")


def _round(args: dict[str, Any]) -> str:
    return f"round {args.get('round_id', 1)}"


STAGES: tuple[Stage, ...] = (
    Stage("prepare", prepare, "materialise the dataset and its manifest",
          (Arg("out", "dataset folder", DATA, "out"),),
          ("experiment", "prepare.${experiment}"), EXPERIMENT_CODE,
          report=lambda m, a: f"prepared {m['num_samples']} samples into {a['out']}"),
    Stage("teacher", teacher, "train the unimodal teacher on D_l",
          (Arg("data", "prepared dataset", DATA), Arg("out", "teacher checkpoint", f"{MODELS}/teacher.pt", "out"),
           Arg("history", "training history (CSV)", "reports/${experiment}/teacher_history.csv", "plot",
               required=False)),
          ("seed", "teacher.${experiment}"), EXPERIMENT_CODE + TRAINING_CODE,
          report=lambda m, a: f"teacher saved to {a['out']}"),
    Stage("pseudolabel", pseudolabel, "write a label generation for D_u",
          (Arg("data", "prepared dataset", DATA), Arg("teacher", "teacher checkpoint", f"{MODELS}/${{item.teacher}}"),
           Arg("out", "label store folder of the round", "labels/${experiment}/round${item.id}", "out")),
          ("pseudolabel.${experiment}",), EXPERIMENT_CODE + TRAINING_CODE, per_round=True,
          report=lambda g, a: f"label generation {g.id} ({len(g)} samples) in {g.path}"),
    Stage("student", student, "train the student and its baselines on a label generation",
          (Arg("data", "prepared dataset", DATA),
           Arg("labels", "label store folder", "labels/${experiment}/round${item.id}"),
           Arg("out", "folder of student checkpoints", f"{MODELS}/round${{item.id}}", "out"),
           Arg("history", "training history (CSV)", f"{REPORT}/student_history.csv", "plot", required=False),
           Arg("round_id", "round id in params.yaml (its baselines switch)", "${item.id}", "value", int, False)),
          ("seed", "rounds", "student.${experiment}"), EXPERIMENT_CODE + TRAINING_CODE, per_round=True,
          report=lambda saved, a: f"students saved: {', '.join(saved)}"),
    Stage("evaluate", evaluate, "score teacher, students and pseudo labels on test and validation data, with "
                                "each student's expansion diagnostics",
          (Arg("data", "prepared dataset", DATA), Arg("teacher", "the round's teacher", f"{MODELS}/${{item.teacher}}"),
           Arg("students", "folder of student checkpoints", f"{MODELS}/round${{item.id}}"),
           Arg("labels", "label store folder", "labels/${experiment}/round${item.id}"),
           Arg("out", "report folder (metrics.json, figures)", REPORT, "path"),
           Arg("round_id", "round id", "${item.id}", "value", int, False)),
          ("evaluate.${experiment}",), EXPERIMENT_CODE + TRAINING_CODE, per_round=True,
          metrics=(f"{REPORT}/metrics.json",),
          report=lambda m, a: f"{_round(a)}: " + ", ".join(f"{k} {v:.2f}" for k, v in m.items()
                                                           if isinstance(v, float))
          + f"\n{m['expansion'][m['student_method']]['verdict']}"),
    Stage("promote", promote, "copy the round's student, or its teacher if the student fails the promotion "
                              "rule, to the next round's teacher checkpoint",
          (Arg("teacher", "the round's teacher", f"{MODELS}/${{item.teacher}}"),
           Arg("students", "folder of student checkpoints", f"{MODELS}/round${{item.id}}"),
           Arg("metrics", "the round's metrics.json (evaluate stage)", f"{REPORT}/metrics.json"),
           Arg("out", "the next round's teacher", f"{MODELS}/teacher-after-round${{item.id}}.pt", "out"),
           Arg("decision", "where the decision and its reasons go (JSON)", f"{REPORT}/promotion.json", "metric")),
          ("promotion",), ("mkepipe/promotion.py", "mkepipe/stages.py", "mkepipe/config.py", "mkepipe/fileio.py",
                           "mkepipe/experiments/__init__.py", "mkepipe/evaluation/__init__.py",
                           "mkepipe/evaluation/reports.py"), per_round=True,
          report=lambda d, a: f"{d.verdict}: " + "; ".join(d.reasons) + f" -> {a['out']}"),
)

STAGE_NAMES = tuple(s.name for s in STAGES)


def get_stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"unknown stage {name!r}; stages: {', '.join(STAGE_NAMES)}")
