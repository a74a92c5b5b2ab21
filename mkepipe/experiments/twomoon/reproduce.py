"""``mke reproduce twomoon``: the whole of paper Table 1, side by side with the paper.

Every cell goes through the same library calls as the pipeline stages (teacher training,
a real label generation on disk, student training); runs go in parallel processes. Two
protocols: ``authors`` (the public notebook: one teacher, seed 39; only the students'
seed varies) and ``per-seed`` (each seed trains its own teacher). docs/twomoon.md has
both tables and what differs from the paper.
"""
from __future__ import annotations

import random
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mkepipe.config import Params, default_params, load_params

GRID = {"T1": ("input_noise", (0.0, 1.0, 2.0)), "T2": ("hidden_noise", (0.0, 5.0, 10.0)),
        "T3": ("dropout", (0.0, 0.4, 0.8))}
METHODS = ("um_student", "mm_student", "mm_student_sup")
PAPER_TEACHER = 68.00
PAPER_TABLE1 = {
    "T1": {"um_student": (68.00, 69.90, 72.80), "mm_student": (68.85, 80.75, 83.15), "mm_student_sup": (88.05, 87.35, 86.95)},
    "T2": {"um_student": (68.00, 68.95, 70.05), "mm_student": (68.85, 80.00, 82.10), "mm_student_sup": (88.05, 87.40, 86.40)},
    "T3": {"um_student": (68.00, 68.40, 68.95), "mm_student": (68.85, 73.65, 79.20), "mm_student_sup": (88.05, 87.35, 86.90)},
}


def _with_perturbation(params: Params, field: str, strength: float) -> Params:
    return params.with_active("student", perturbation=type(params.active("student").perturbation)(**{field: strength}))


def authors_student_seeds(n: int) -> list[int]:
    """The student seeds of the authors' notebook: ``random.seed(42)`` then ``randint(0, 100)``
    per run (seed 94 comes up twice in the first ten; the notebook runs it twice)."""
    rng = random.Random(42)
    return [rng.randint(0, 100) for _ in range(n)]


def _teacher(exp, params: Params, labeled, seed: int, workdir: str):
    """The teacher of ``seed``: trained once and saved as ``teacher-<seed>.pt`` under
    ``workdir``; later runs with the same teacher seed load that checkpoint (the authors'
    protocol: one teacher for every student run)."""
    from mkepipe.training.checkpoint import load_checkpoint, save_checkpoint
    from mkepipe.training.runs import train_teacher

    ckpt = Path(workdir) / f"teacher-{seed}.pt"
    if ckpt.exists():
        teacher, spec, _ = load_checkpoint(ckpt)
        return teacher, spec, ckpt
    teacher, spec, _ = train_teacher(exp, params, labeled, seed=seed)
    return teacher, spec, save_checkpoint(ckpt, teacher, spec, {"seed": seed})


def run_seed(params: Params, seed: int, workdir: str, keep_models: bool = False,
             teacher_seed: int | None = None) -> dict[str, Any]:
    """All cells of Table 1 for one student seed: {(pert, strength, method): accuracy}, and
    whether each model predicts a single class on the whole test set (``collapsed``).

    The teacher is trained with ``teacher_seed`` (default: the same seed), or loaded if an
    earlier run in ``workdir`` trained it; its hard labels go through a real label
    generation on disk, one per teacher.
    """
    import torch

    from mkepipe.experiments import create_experiment
    from mkepipe.experiments.twomoon.data import make_splits
    from mkepipe.fileio import sha256_file
    from mkepipe.labels import LabelStore
    from mkepipe.training.runs import PseudoLabels, predict_logits, predict_probs, score, train_student

    torch.set_num_threads(1)
    exp = create_experiment("twomoon")
    metric = exp.task.metric
    teacher_seed = seed if teacher_seed is None else teacher_seed
    splits = make_splits(params.active("prepare"))
    test, unlabeled = splits["test"], splits["unlabeled"]
    teacher, spec, ckpt = _teacher(exp, params, splits["labeled"], teacher_seed, workdir)
    probs = predict_probs(exp, teacher, spec, unlabeled)
    row = {sid: i for i, sid in enumerate(unlabeled.ids)}
    gen = LabelStore(Path(workdir) / f"labels-{teacher_seed}").write(
        unlabeled.ids, lambda ids: probs[[row[s] for s in ids]], kind="hard", num_classes=exp.task.num_classes,
        teacher_hash=sha256_file(ckpt), dataset_hash="twomoon-in-memory", params={"kind": "hard"}, progress=False)
    ids, hard, _, _ = gen.arrays()
    labels = PseudoLabels(list(ids), hard)

    def evaluate(key: str, model, mspec) -> None:
        cells[key] = score(exp, model, mspec, test)[metric]
        predicted = exp.task.predictions(predict_logits(model, mspec, test))
        collapsed[key] = bool(predicted.unique().numel() == 1)

    cells: dict[str, float] = {}
    collapsed: dict[str, bool] = {}
    evaluate("teacher", teacher, spec)
    pseudo_label_accuracy = float((hard == unlabeled.y[[row[s] for s in ids]]).mean() * 100)
    models: dict[str, Any] = {"teacher": (teacher, spec)}
    for pert, (field, strengths) in GRID.items():
        for strength in strengths:
            p = _with_perturbation(params, field, strength)
            for method in METHODS:
                key = f"{pert}|{strength}|{method}"
                shared = f"T1|0.0|{method}"
                if strength == 0 and shared in cells:  # strength 0 is the same run for T1, T2, T3
                    cells[key], collapsed[key] = cells[shared], collapsed[shared]
                    continue
                truth = unlabeled if method == "mm_student_sup" else None
                model, mspec, _ = train_student(exp, p, method, unlabeled=unlabeled, labels=labels, truth=truth,
                                                seed=seed)
                evaluate(key, model, mspec)
                if keep_models and pert == "T1" and strength == 2.0:
                    models[method] = (model, mspec)
    return {"seed": seed, "teacher_seed": teacher_seed, "cells": cells, "collapsed": collapsed,
            "pseudo_label_accuracy": round(pseudo_label_accuracy, 2), "models": models if keep_models else None}


def table_rows(results: list[dict[str, Any]], protocol: str) -> list[dict[str, Any]]:
    """Aggregate per-run cells into the rows of ``table1.json``: mean, std, every run's
    value in run order (``seeds``: the student seed of each run, ``teacher_seeds``: the
    teacher seed of each run) and ``collapsed_runs``, the runs that predict one class for
    all test points."""
    seeds = [r["seed"] for r in results]
    teacher_seeds = [r["teacher_seed"] for r in results]

    def row(pert: str, strength: float, method: str, key: str, paper: float) -> dict[str, Any]:
        acc = np.array([r["cells"][key] for r in results])
        return {"perturbation": pert, "strength": strength, "method": method,
                "accuracy_mean": round(float(acc.mean()), 2), "accuracy_std": round(float(acc.std()), 2),
                "accuracy_per_seed": [round(float(a), 2) for a in acc],
                "collapsed_runs": sum(r["collapsed"][key] for r in results),
                "protocol": protocol, "seeds": seeds, "teacher_seeds": teacher_seeds, "paper": paper}

    teacher = row("none", 0.0, "teacher", "teacher", PAPER_TEACHER)
    teacher["pseudo_label_accuracy_per_seed"] = [r["pseudo_label_accuracy"] for r in results]
    rows = [teacher]
    for pert, (_, strengths) in GRID.items():
        for i, strength in enumerate(strengths):
            for method in METHODS:
                rows.append(row(pert, strength, method, f"{pert}|{strength}|{method}", PAPER_TABLE1[pert][method][i]))
    return rows


PROTOCOLS = ("authors", "per-seed")
AUTHORS_TEACHER_SEED = 39  # the notebook's `train(39, ...)` for the teacher


def reproduce(experiment: str, seeds: int = 10, out_dir: Path | None = None, params_path: str | Path = "params.yaml",
              workers: int = 2, protocol: str | None = None) -> list[dict[str, Any]]:
    """Run Table 1 over ``seeds`` runs; write table1.json, table1.md and fig3_boundaries.png.

    ``protocol="authors"`` (default), as in the authors' notebook: one teacher (seed 39),
    trained once by the first run and loaded by the others, and students over the seeds
    :func:`authors_student_seeds` draws. ``"per-seed"``: seeds 0..n-1, each training its
    own teacher.
    """
    from rich.progress import Progress

    from mkepipe.evaluation.reports import write_json
    from mkepipe.summary import print_table1, table1_markdown

    protocol = protocol or "authors"
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown TwoMoon protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    params = load_params(params_path) if Path(params_path).exists() else default_params(experiment)
    params = params.model_copy(update={"experiment": experiment})
    out_dir = Path(out_dir or Path("reports") / experiment)
    student_seeds = authors_student_seeds(seeds) if protocol == "authors" else list(range(seeds))
    teacher_seeds = [AUTHORS_TEACHER_SEED if protocol == "authors" else s for s in student_seeds]
    results = []
    with tempfile.TemporaryDirectory(prefix="mke-reproduce-") as work, Progress(transient=True) as bar:
        task = bar.add_task(f"Table 1 over {seeds} runs ({protocol} protocol)", total=seeds)
        first = run_seed(params, student_seeds[0], work, keep_models=True, teacher_seed=teacher_seeds[0])
        results.append(first)
        bar.advance(task)
        rest = len(student_seeds) - 1
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            for res in pool.map(run_seed, [params] * rest, student_seeds[1:], [work] * rest, [False] * rest,
                                teacher_seeds[1:]):
                results.append(res)
                bar.advance(task)
    rows = table_rows(results, protocol)
    write_json(out_dir / "table1.json", rows)
    (out_dir / "table1.md").write_text(table1_markdown(rows))
    _figure(out_dir / "fig3_boundaries.png", params, first["models"])
    print_table1(rows)
    print(f"wrote {out_dir / 'table1.json'}, {out_dir / 'table1.md'}, {out_dir / 'fig3_boundaries.png'}")
    return rows


def _figure(path: Path, params: Params, models: dict[str, Any]) -> None:
    """Paper Fig. 3: decision boundaries of the first run's teacher and T1 v0 = 2 students."""
    from mkepipe.evaluation.plots import decision_boundaries
    from mkepipe.experiments import create_experiment
    from mkepipe.experiments.twomoon.data import make_splits

    exp = create_experiment("twomoon")
    test = make_splits(params.active("prepare"))["test"]
    points = np.concatenate([test.modalities["alpha"], test.modalities["beta"]], 1)
    panels = [(title, models[key][0], models[key][1].modalities) for title, key in
              (("UM teacher", "teacher"), ("UM student (T1, v0=2)", "um_student"),
               ("MM student (T1, v0=2)", "mm_student"))]
    decision_boundaries(path, panels, points, test.y, exp.task, params.active("evaluate").grid_resolution,
                        axes=exp.multimodal)
