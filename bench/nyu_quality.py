"""NYU demo configuration over several seeds: paper Table 3, side by side.

Runs the pipeline's stage functions (prepare once; per seed: teacher, pseudo labels,
students with every baseline and the hard-label ablation (the full grid, whatever subset
params.yaml gives the demo; -S can narrow it again), evaluation, promotion; then
round 2, taught by what round 1 promoted: its student, or the teacher again) and prints
mean ± std test mIoU per method, the teacher's pseudo-label mIoU on D_u, the MM student's
expansion diagnostics (correction rate on D_u), each round's promotion verdict (decided on
validation data) and the acceptance checks of issue 12. Writes JSON (after every seed too).

    python bench/nyu_quality.py [--seeds 3] [--first-seed 0] [--data DIR] [--out FILE]
                                [-S student.nyu.epochs=10 ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.quality_common import DIAGNOSTICS, Grid, arguments, report, round1, run_grid  # noqa: E402

METHODS = ("teacher", "um_student", "noisy_student", "mm_student_noreg", "mm_student", "mm_student-hard",
           "mm_student_sup")


def full_grid(student: dict) -> None:
    for key in ("baselines", "label_ablation"):  # the demo's narrowing; the config's defaults are the full grid
        student.pop(key, None)


GRID = Grid(
    experiment="nyu", metric="miou", methods=METHODS,
    order=METHODS + ("pseudo_labels", "teacher_val", "mm_student_val") + DIAGNOSTICS,
    paper={"teacher": 44.15, "um_student": 46.13, "noisy_student": 47.68, "mm_student_noreg": 46.14,
           "mm_student": 48.88},
    paper_key="paper_table3", full_grid=full_grid)


def main() -> None:
    args = arguments(__doc__, GRID.experiment)
    result = run_grid(GRID, args)
    r1 = round1(result, GRID)
    checks = {  # issue 12's acceptance
        "mm >= teacher + 4": r1["mm_student"] >= r1["teacher"] + 4,
        "mm >= noisy + 1": r1["mm_student"] >= r1["noisy_student"] + 1,
        "mm >= mm_noreg + 1": r1["mm_student"] >= r1["mm_student_noreg"] + 1,
        "correction rate > 50": r1["correction_rate"] > 50,
    }
    report(GRID, args, result, checks, "NYU demo configuration, test mIoU % (paper Table 3, for reference)")


if __name__ == "__main__":
    main()
