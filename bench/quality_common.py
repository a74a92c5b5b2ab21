"""What the per-experiment quality benchmarks share: run one seed of the pipeline's stage
functions over every round, apply ``-S`` overrides, and summarise runs as mean ± std."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

import numpy as np
import yaml

from mkepipe import stages

DIAGNOSTICS = ("correction_rate", "corruption_rate", "disagreement_rate")


def run_seed(params, data: Path, work: Path, metric: str
             ) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, bool], dict[str, dict]]:
    """Test ``metric`` per round and method (``<method>_val`` on validation, plus the
    configured student's expansion diagnostics on D_u), seconds per stage, whether each
    round's student was promoted to the next round's teacher, and each round's report folder."""
    models = work / "models"
    seconds: dict[str, float] = {}
    promoted: dict[str, bool] = {}
    reports: dict[str, Path] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds[name] = time.perf_counter() - t
        return result

    timed("teacher", stages.teacher, params, data, models / "teacher.pt")
    out: dict[str, dict[str, float]] = {}
    for r in params.rounds:
        labels, students = work / f"labels{r.id}", models / f"round{r.id}"
        timed(f"pseudolabel@{r.id}", stages.pseudolabel, params, data, models / r.teacher, labels)
        timed(f"student@{r.id}", stages.student, params, data, labels, students, round_id=r.id)
        report = work / f"report{r.id}"
        m = timed(f"evaluate@{r.id}", stages.evaluate, params, data, models / r.teacher, students, labels, report,
                  r.id)
        decision = stages.promote(params, models / r.teacher, students, report / "metrics.json",
                                  models / f"teacher-after-round{r.id}.pt", report / "promotion.json")
        promoted[f"round{r.id}"] = decision.promote
        reports[f"round{r.id}"] = report
        out[f"round{r.id}"] = {k: v[metric] for k, v in m["details"].items()}
        out[f"round{r.id}"].update({f"{k}_val": v[metric] for k, v in m["validation"].items()})
        for key in DIAGNOSTICS:
            if key in m:
                out[f"round{r.id}"][key] = m[key]
    return out, seconds, promoted, reports


def override(raw: dict, assignment: str) -> None:
    """Apply ``a.b.c=value`` (value parsed as YAML) to a params mapping, like ``dvc exp run -S``."""
    key, _, value = assignment.partition("=")
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = yaml.safe_load(value)


def mean_table(runs: list[dict[str, dict[str, float]]], order: Iterable[str]) -> dict[str, dict[str, dict]]:
    """``{round: {method: {mean, std, values}}}`` over the runs, methods in ``order``."""
    table: dict[str, dict[str, dict]] = {}
    for rnd in runs[0]:
        table[rnd] = {}
        for method in order:
            vals = [r[rnd][method] for r in runs if method in r[rnd]]
            if vals:
                table[rnd][method] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": vals}
    return table


def print_table(title: str, table: dict[str, dict[str, dict]], order: Iterable[str], paper: dict[str, float]) -> None:
    rounds = list(table)
    print(f"\n{title}")
    print(f"{'method':<22}" + "".join(f"{rnd:>18}" for rnd in rounds) + f"{'paper':>10}")
    for method in order:
        cells = "".join(f"{table[rnd][method]['mean']:>11.2f} ± {table[rnd][method]['std']:<4.2f}"
                        if method in table[rnd] else f"{'–':>18}" for rnd in rounds)
        print(f"{method:<22}{cells}{paper.get(method, float('nan')):>10.2f}")
