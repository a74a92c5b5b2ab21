"""One function per pipeline stage: paths and config in, files out.

``dvc.yaml`` calls these through ``mke stage <name>``; the Prefect flow drives the same
DVC stages, so there is exactly one implementation of each.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mkepipe.config import Params
from mkepipe.data.manifest import read_manifest
from mkepipe.fileio import atomic_copy, sha256_file
from mkepipe.evaluation.reports import write_csv, write_json
from mkepipe.experiments import create_experiment
from mkepipe.experiments.base import Experiment
from mkepipe.labels import Generation, LabelStore
from mkepipe.promotion import Decision, decide
from mkepipe.training.checkpoint import load_checkpoint, save_checkpoint
from mkepipe.training.runs import PseudoLabels, predict_logits, predict_probs, train_student, train_teacher

PRIMARY = "student.pt"


def _experiment(params: Params) -> Experiment:
    """The active experiment, with torch's thread count set to what its models need."""
    exp = create_experiment(params.experiment)
    if exp.num_threads:
        torch.set_num_threads(exp.num_threads)
    return exp


def prepare(params: Params, out_dir: Path) -> dict[str, Any]:
    """Materialise the active experiment's dataset and manifest into ``out_dir``."""
    exp = _experiment(params)
    return exp.prepare(params.active("prepare"), Path(out_dir))


def teacher(params: Params, data_dir: Path, out: Path, history: Path | None = None) -> dict[str, Any]:
    """Train the unimodal teacher on D_l and save its checkpoint."""
    exp = _experiment(params)
    labeled = exp.load(data_dir, "labeled")
    model, spec, hist = train_teacher(exp, params, labeled)
    meta = {"method": "teacher", "experiment": exp.name, "dataset_sha256": read_manifest(data_dir)["sha256"]}
    save_checkpoint(out, model, spec, meta)
    if history is not None:
        write_csv(history, hist)
    return meta


def _class_prior(labels: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(labels[labels >= 0], minlength=k).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def pseudolabel(params: Params, data_dir: Path, teacher_path: Path, out_dir: Path) -> Generation:
    """Have the teacher label D_u into a label generation under ``out_dir``."""
    exp = _experiment(params)
    model, spec, _ = load_checkpoint(teacher_path)
    unlabeled = exp.load(data_dir, "unlabeled")
    row = {sid: i for i, sid in enumerate(unlabeled.ids)}

    def label_fn(ids: list[str]) -> np.ndarray:
        return predict_probs(model, spec, unlabeled.take([row[sid] for sid in ids]))

    cfg = params.active("pseudolabel")
    return LabelStore(out_dir).write(
        unlabeled.ids, label_fn, kind=cfg.kind, num_classes=exp.num_classes,
        teacher_hash=sha256_file(teacher_path), dataset_hash=read_manifest(data_dir)["sha256"],
        params=cfg.model_dump(), encoding=cfg.encoding,
        class_prior=_class_prior(exp.load(data_dir, "labeled").y, exp.num_classes))


def read_pseudo_labels(labels_dir: Path) -> tuple[PseudoLabels, str]:
    """The latest generation under ``labels_dir`` as training targets, and its kind."""
    gen = LabelStore(labels_dir).latest()
    if gen is None:
        raise FileNotFoundError(f"{labels_dir}: no complete label generation; run the pseudolabel stage first")
    ids, hard, probs, weight = gen.arrays()
    return PseudoLabels(list(ids), hard, probs, weight), gen.manifest["kind"]


def student(params: Params, data_dir: Path, labels_dir: Path, out_dir: Path,
            history: Path | None = None, round_id: int = 1) -> dict[str, str]:
    """Train the configured student method and its baselines; save one checkpoint each.

    ``out_dir/student.pt`` is the configured method (the next round's teacher);
    ``out_dir/<method>.pt`` holds every method trained, baselines included, and
    ``out_dir/<method>-<kind>.pt`` the label-kind ablation (e.g. hard vs soft labels).
    A round with ``baselines: false`` trains the configured method only.
    """
    exp = _experiment(params)
    labels, kind = read_pseudo_labels(labels_dir)
    unlabeled = exp.load(data_dir, "unlabeled")
    labeled = exp.load(data_dir, "labeled")
    cfg = params.active("student")
    with_baselines = params.round(round_id).baselines
    methods = [cfg.method] + [m for m in cfg.baselines if m != cfg.method and with_baselines]
    out_dir = Path(out_dir)
    saved: dict[str, str] = {}
    runs = [(name, kind, name) for name in methods]
    runs += [(cfg.method, k, f"{cfg.method}-{k}") for k in cfg.label_ablation if k != kind and with_baselines]
    for name, label_kind, tag in runs:
        truth = exp.load_unlabeled_truth(data_dir) if name == "mm_student_sup" else None
        model, spec, hist = train_student(exp, params, name, unlabeled=unlabeled, labels=labels, kind=label_kind,
                                          labeled=labeled, truth=truth)
        meta = {"method": tag, "experiment": exp.name, "labels": str(labels_dir), "label_kind": label_kind}
        save_checkpoint(out_dir / f"{tag}.pt", model, spec, meta)
        saved[tag] = str(out_dir / f"{tag}.pt")
        if tag == cfg.method:
            save_checkpoint(out_dir / PRIMARY, model, spec, meta)
            if history is not None:
                write_csv(history, hist)
    return saved


def _pseudo_label_quality(exp: Experiment, data_dir: Path, labels_dir: Path) -> dict[str, Any] | None:
    """The stored hard labels scored against D_u's truth; None when the source has none
    (real raw sensor data)."""
    try:
        truth = exp.load_unlabeled_truth(data_dir)
    except FileNotFoundError:
        return None
    labels, _ = read_pseudo_labels(labels_dir)
    unlabeled = exp.load(data_dir, "unlabeled")
    hard = torch.from_numpy(labels.aligned(unlabeled.ids).hard.astype(np.int64))
    one_hot = torch.nn.functional.one_hot(hard, exp.num_classes).movedim(-1, 1).float()
    return exp.metrics(one_hot, truth)


def evaluate(params: Params, data_dir: Path, teacher_path: Path, students_dir: Path, labels_dir: Path,
             out_dir: Path, round_id: int = 1) -> dict[str, Any]:
    """Score the round's teacher, every trained student and the pseudo labels.

    Writes ``metrics.json`` (for ``dvc metrics``: headline scores flat, every metric of
    every model under ``details``) and the experiment's figures into ``out_dir``. The
    pseudo labels are scored only where D_u has ground truth.
    """
    exp = _experiment(params)
    test = exp.load(data_dir, "test")
    models = {"teacher": load_checkpoint(teacher_path)[:2]}
    for path in sorted(Path(students_dir).glob("*.pt")):
        if path.name != PRIMARY:
            model, spec, meta = load_checkpoint(path)
            models[meta["method"]] = (model, spec)
    primary = load_checkpoint(Path(students_dir) / PRIMARY)[2]["method"]
    details = {name: exp.metrics(predict_logits(m, s, test), test.y) for name, (m, s) in models.items()}

    quality = _pseudo_label_quality(exp, data_dir, labels_dir)
    if quality is not None:
        details["pseudo_labels"] = quality

    m = exp.metric
    metrics: dict[str, Any] = {
        "round": round_id, "student_method": primary,
        f"teacher_{m}": details["teacher"][m], f"student_{m}": details[primary][m],
    }
    if quality is not None:
        metrics[f"pseudo_label_{m}"] = quality[m]
    metrics["methods"] = {name: d[m] for name, d in details.items() if name not in ("teacher", "pseudo_labels")}
    metrics["details"] = details
    out_dir = Path(out_dir)
    write_json(out_dir / "metrics.json", metrics)
    exp.figures(out_dir, test, models, params)
    return metrics


def promote(params: Params, teacher_path: Path, students_dir: Path, metrics_path: Path, out: Path,
            decision_path: Path) -> Decision:
    """Pick the next round's teacher: the round's configured student (``student.pt``) if
    it passes the promotion rule (``promotion:`` in params.yaml) on the evaluate stage's
    metrics, else the round's own teacher. The chosen checkpoint is copied to ``out``
    (atomically) and the decision, with its reasons, written to ``decision_path``."""
    metrics = json.loads(Path(metrics_path).read_text())
    m = create_experiment(params.experiment).metric
    method = metrics["student_method"]
    rule = params.promotion
    decision = decide(metrics["details"]["teacher"], metrics["details"][method], m,
                      min_gain=rule.min_gain, min_class_coverage=rule.min_class_coverage)
    source = Path(students_dir) / PRIMARY if decision.promote else Path(teacher_path)
    atomic_copy(source, out)
    write_json(decision_path, {
        "round": metrics["round"], "promoted": decision.promote, "verdict": decision.verdict,
        "next_teacher": method if decision.promote else "teacher", "source": str(source),
        f"teacher_{m}": metrics[f"teacher_{m}"], f"student_{m}": metrics[f"student_{m}"],
        "min_gain": rule.min_gain, "min_class_coverage": rule.min_class_coverage, "reasons": decision.reasons})
    return decision
