"""AudioSet → VGGSound's figure: average precision per class of teacher and MM student
(and NOISY student where trained), side by side, sorted by the MM student's gain."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mkepipe.fileio import atomic_write  # noqa: E402

TITLES = {"teacher": "UM teacher", "noisy_student": "NOISY student", "mm_student": "MM student"}
SHOWN = ("teacher", "noisy_student", "mm_student")


def average_precision(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AP of each class (NaN for a class without a positive in ``y``)."""
    from sklearn.metrics import average_precision_score

    positive = y >= 0.5
    return np.array([average_precision_score(positive[:, c], probs[:, c]) if positive[:, c].any() else np.nan
                     for c in range(y.shape[1])])


def ap_bars(path: str | Path, ap: Mapping[str, np.ndarray], class_names: Sequence[str]) -> Path:
    """Grouped bars of AP (percent) per class for each model in ``ap`` (keys from :data:`SHOWN`)."""
    names = [n for n in SHOWN if n in ap]
    base, top = ap[names[0]], ap[names[-1]]
    order = np.argsort(-(np.nan_to_num(top) - np.nan_to_num(base)))
    width = 0.8 / len(names)
    x = np.arange(len(class_names))
    fig, axis = plt.subplots(figsize=(max(6.0, 0.45 * len(class_names) * len(names)), 3.6))
    for i, name in enumerate(names):
        values = ap[name][order] * 100
        axis.bar(x + (i - (len(names) - 1) / 2) * width, np.nan_to_num(values), width,
                 label=f"{TITLES[name]} (mAP {np.nanmean(ap[name]) * 100:.1f})")
    axis.set_xticks(x, [class_names[i] for i in order], rotation=45, ha="right", fontsize=8)
    axis.set_ylabel("average precision, %")
    axis.set_ylim(0, 100)
    axis.legend(fontsize=8, loc="lower left")
    axis.set_title("Test AP per class, sorted by the MM student's gain over the teacher", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
    return Path(path)
