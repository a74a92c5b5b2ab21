"""What the per-experiment quality benchmarks share: their options, the seed loop (one
seed = the pipeline's stage functions over every round), ``-S`` overrides, the mean ± std
summary, the acceptance checks and the printed table and JSON."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import yaml

from mkepipe import stages
from mkepipe.config import parse_params
from mkepipe.data.manifest import MANIFEST

ROOT = Path(__file__).resolve().parents[1]

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


@dataclass(frozen=True)
class Grid:
    """One experiment's quality benchmark: which metric, which methods in which order, the
    paper's figures and how to widen the demo's params to the full grid."""

    experiment: str
    metric: str                      # the key of the metric in metrics.json's details
    methods: tuple[str, ...]         # the methods of the paper's table, summarised after each seed
    order: tuple[str, ...]           # rows of the printed table and the JSON: methods and extra figures
    paper: dict[str, float]
    paper_key: str                   # the JSON key the paper's figures are written under
    full_grid: Callable[[dict], None]  # widens the experiment's raw params to every method
    per_seed: Callable[[dict, dict[str, Path]], None] | None = None  # adds figures from each round's report


def arguments(doc: str, experiment: str, data: bool = True) -> argparse.Namespace:
    """The options every quality benchmark takes (``data``: whether it can reuse a prepared dataset)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed … first-seed + seeds - 1")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"{experiment}_quality.json")
    if data:
        ap.add_argument("--data", type=Path, default=None,
                        help="prepared dataset to reuse (default: prepare into a temporary folder)")
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help=f"override a params.yaml value, e.g. -S student.{experiment}.epochs=10 (repeatable)")
    return ap.parse_args()


def run_grid(grid: Grid, args: argparse.Namespace) -> dict:
    """Prepare once (or reuse ``--data``), run every seed over every round and return the
    result (``grid.metric``: the mean ± std table). What is done is written to ``--out``
    after every seed, so a killed run keeps its finished seeds."""
    raw = yaml.safe_load(args.params.read_text())
    raw["experiment"] = grid.experiment
    grid.full_grid(raw["student"][grid.experiment])
    for assignment in args.overrides:
        override(raw, assignment)
    base = parse_params(raw, str(args.params))
    t0 = time.perf_counter()
    runs, timings, promotions = [], [], []
    with tempfile.TemporaryDirectory(prefix=f"mke-{grid.experiment}-quality-") as tmp:
        data = getattr(args, "data", None) or Path(tmp) / "data"
        if not (data / MANIFEST).is_file():
            stages.prepare(base, data)
        prepare_s = time.perf_counter() - t0
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            params = base.model_copy(update={"seed": seed})
            res, seconds, promoted, reports = run_seed(params, data, Path(tmp) / f"seed{seed}", grid.metric)
            if grid.per_seed is not None:
                grid.per_seed(res, reports)
            runs.append(res)
            timings.append(seconds)
            promotions.append(promoted)
            summary = ", ".join(f"{k} {res['round1'][k]:.1f}" for k in grid.methods if k in res["round1"])
            verdicts = ", ".join(f"{k} {'promoted' if v else 'kept teacher'}" for k, v in promoted.items())
            print(f"seed {seed} done after {time.perf_counter() - t0:.0f} s; round 1 test {grid.metric}: {summary}; "
                  f"{verdicts}", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"seeds_done": len(runs), "runs": runs, "overrides": args.overrides},
                                           indent=2) + "\n")
    return {"seeds": list(range(args.first_seed, args.first_seed + args.seeds)), "overrides": args.overrides,
            "seconds": time.perf_counter() - t0, "prepare_seconds": prepare_s, "stage_seconds": timings,
            "promoted": promotions, grid.metric: mean_table(runs, grid.order), grid.paper_key: grid.paper}


def round1(result: dict, grid: Grid) -> dict[str, float]:
    """Round 1's mean per method or figure; NaN for one not trained, so that a check on it fails."""
    means = {k: v["mean"] for k, v in result[grid.metric]["round1"].items()}
    return {k: means.get(k, float("nan")) for k in grid.order}


def report(grid: Grid, args: argparse.Namespace, result: dict, checks: dict[str, bool], title: str) -> None:
    """Write the result with its checks to ``--out`` and print the table and the checks."""
    result["checks"] = checks
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(f"{title}, mean ± std over {len(result['seeds'])} seeds", result[grid.metric], grid.order,
                grid.paper)
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print(f"total {result['seconds']:.0f} s; wrote {args.out}")
