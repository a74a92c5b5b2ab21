"""NYU demo configuration over several seeds: paper Table 3, side by side.

Runs the pipeline's stage functions (prepare once; per seed: teacher, pseudo labels,
students with every baseline and the hard-label ablation, evaluation; then round 2 with
round 1's student as teacher) and prints mean ± std test mIoU per method, the teacher's
pseudo-label mIoU on D_u, and the acceptance checks of issue 4. Writes JSON.

    python bench/nyu_quality.py [--seeds 3] [--out bench/results/nyu_quality.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mkepipe import stages  # noqa: E402
from mkepipe.config import load_params  # noqa: E402

PAPER = {"teacher": 44.15, "um_student": 46.13, "noisy_student": 47.68, "mm_student_noreg": 46.14, "mm_student": 48.88}
ORDER = ("teacher", "um_student", "noisy_student", "mm_student_noreg", "mm_student", "mm_student-hard",
         "mm_student_sup", "pseudo_labels")


def run_seed(params, data: Path, work: Path) -> dict[str, dict[str, float]]:
    models = work / "models"
    stages.teacher(params, data, models / "teacher.pt")
    out: dict[str, dict[str, float]] = {}
    for r in params.rounds:
        labels, students = work / f"labels{r.id}", models / f"round{r.id}"
        stages.pseudolabel(params, data, models / r.teacher, labels)
        stages.student(params, data, labels, students)
        m = stages.evaluate(params, data, models / r.teacher, students, labels, work / f"report{r.id}", r.id)
        out[f"round{r.id}"] = {k: v["miou"] for k, v in m["details"].items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nyu_quality.json")
    args = ap.parse_args()
    base = load_params(args.params).model_copy(update={"experiment": "nyu"})
    t0 = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="mke-nyu-quality-") as tmp:
        data = Path(tmp) / "data"
        stages.prepare(base, data)
        for seed in range(args.seeds):
            params = base.model_copy(update={"seed": seed})
            runs.append(run_seed(params, data, Path(tmp) / f"seed{seed}"))
            print(f"seed {seed} done after {time.perf_counter() - t0:.0f} s", flush=True)
    table = {}
    for rnd in runs[0]:
        table[rnd] = {}
        for method in ORDER:
            vals = [r[rnd][method] for r in runs if method in r[rnd]]
            if vals:
                table[rnd][method] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": vals}
    r1 = {k: v["mean"] for k, v in table["round1"].items()}
    checks = {
        "mm >= teacher + 5": r1["mm_student"] >= r1["teacher"] + 5,
        "mm >= noisy + 2": r1["mm_student"] >= r1["noisy_student"] + 2,
        "mm >= mm_noreg": r1["mm_student"] >= r1["mm_student_noreg"],
        "soft >= hard": r1["mm_student"] >= r1.get("mm_student-hard", float("-inf")),
    }
    result = {"seeds": args.seeds, "seconds": time.perf_counter() - t0, "miou": table, "checks": checks,
              "paper_table3": PAPER}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    rounds = list(table)
    print(f"\nNYU demo configuration, test mIoU %, mean ± std over {args.seeds} seeds (paper Table 3 for reference)")
    print(f"{'method':<22}" + "".join(f"{rnd:>18}" for rnd in rounds) + f"{'paper':>10}")
    for method in ORDER:
        cells = "".join(f"{table[rnd][method]['mean']:>11.2f} ± {table[rnd][method]['std']:<4.2f}"
                        if method in table[rnd] else f"{'–':>18}" for rnd in rounds)
        print(f"{method:<22}{cells}{PAPER.get(method, float('nan')):>10.2f}")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print(f"total {result['seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
