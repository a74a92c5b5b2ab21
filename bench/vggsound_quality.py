"""AudioSet → VGGSound over several seeds: paper Table 4, side by side (mAP, mAUC, top-1).

Prepares the dataset once (the synthetic default unless -S says otherwise), then per seed
runs the pipeline's stage functions — teacher, pseudo labels, every student method of
Table 4 (the config's full grid, whatever subset params.yaml gives the demo), evaluation
on val and test, promotion, and round 2 taught by what round 1 promoted — and prints mean
± std of test and validation mAP per method, test mAUC and top-1, the MM student's
expansion diagnostics on D_u and issue 15's acceptance checks. Writes JSON (after every
seed too: a killed run keeps what it finished; --first-seed runs the rest).

    python bench/vggsound_quality.py [--seeds 3] [--first-seed 0] [--data DIR] [--out FILE]
                                     [-S student.vggsound.epochs=10 ...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.quality_common import DIAGNOSTICS, Grid, arguments, report, round1, run_grid  # noqa: E402

METHODS = ("teacher", "um_student", "noisy_student", "mm_student_noreg", "mm_student", "mm_student_sup")


def full_grid(student: dict) -> None:
    student["baselines"] = list(METHODS[1:4]) + ["mm_student_sup"]


def ranking_metrics(res: dict, reports: dict[str, Path]) -> None:
    for rnd, folder in reports.items():
        details = json.loads((folder / "metrics.json").read_text())["details"]
        for key in ("mauc", "top1"):
            res[rnd].update({f"{k}_{key}": v[key] for k, v in details.items() if key in v})


GRID = Grid(
    experiment="vggsound", metric="map", methods=METHODS,
    order=METHODS + ("pseudo_labels",) + tuple(f"{m}_val" for m in METHODS) + tuple(f"{m}_mauc" for m in METHODS)
    + tuple(f"{m}_top1" for m in METHODS) + DIAGNOSTICS,
    paper={"teacher": 34.5, "um_student": 40.6, "noisy_student": 41.1, "mm_student_noreg": 42.1, "mm_student": 42.7,
           "mm_student_sup": 43.4},
    paper_key="paper_table4_map_percent", full_grid=full_grid, per_seed=ranking_metrics)


def main() -> None:
    args = arguments(__doc__, GRID.experiment)
    result = run_grid(GRID, args)
    r1 = round1(result, GRID)
    checks = {  # issue 15's acceptance
        "mm > noisy": r1["mm_student"] > r1["noisy_student"],
        "noisy >= um_student": r1["noisy_student"] >= r1["um_student"],
        "um_student > teacher": r1["um_student"] > r1["teacher"],
        "mm >= mm_noreg": r1["mm_student"] >= r1["mm_student_noreg"],
    }
    report(GRID, args, result, checks, "AudioSet → VGGSound, test mAP % (_val validation mAP; _mauc, _top1 test) "
           "(paper Table 4 mAP, for reference)")


if __name__ == "__main__":
    main()
