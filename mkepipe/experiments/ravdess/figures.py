"""RAVDESS's report beside ``metrics.json``: per-clip accuracy and the confusion matrices
of teacher, NOISY student and MM student side by side (the paper's supplement Fig. 6)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mkepipe.fileio import atomic_write  # noqa: E402

TITLES = {"teacher": "UM teacher", "um_student": "UM student", "noisy_student": "NOISY student",
          "mm_student_noreg": "MM student (no reg)", "mm_student": "MM student", "mm_student_sup": "MM student (sup)"}
SIDE_BY_SIDE = ("teacher", "noisy_student", "mm_student")


def clip_of(sample_id: str) -> str:
    """A sample id is ``<clip name>/<frame index>``."""
    return sample_id.rsplit("/", 1)[0]


def per_clip_accuracy(ids: Sequence[str], probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy over clips: a clip's prediction is the argmax of the mean of its frames'
    probabilities (a soft majority vote). Also per-frame accuracy, for comparison."""
    clips: dict[str, list[int]] = {}
    for row, sid in enumerate(ids):
        clips.setdefault(clip_of(sid), []).append(row)
    right = [int(probs[rows].mean(0).argmax() == y[rows[0]]) for rows in clips.values()]
    frame = float((probs.argmax(1) == y).mean() * 100)
    return {"clip_accuracy": float(np.mean(right) * 100), "frame_accuracy": frame, "clips": len(clips)}


def confusion(pred: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Row-normalised confusion matrix (rows truth, columns prediction)."""
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)
    totals = cm.sum(1, keepdims=True)
    return np.divide(cm, totals, out=np.full_like(cm, np.nan), where=totals > 0)


def confusion_panels(path: str | Path, matrices: Mapping[str, tuple[np.ndarray, float]],
                     class_names: Sequence[str]) -> Path:
    """Row-normalised confusion matrices side by side, each titled with its accuracy."""
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.8, 4.6), squeeze=False)
    cmap = plt.get_cmap("Blues").with_extremes(bad="#d9d9d9")
    image = None
    for ax, (name, (cm, acc)) in zip(axes[0], matrices.items()):
        image = ax.imshow(cm, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        k = len(class_names)
        ax.set_xticks(range(k), labels=list(class_names), rotation=90, fontsize=8)
        ax.set_yticks(range(k), labels=list(class_names) if ax is axes[0][0] else [""] * k, fontsize=8)
        ax.set_title(f"{TITLES.get(name, name)}: {acc:.1f} %", fontsize=10)
        ax.set_xlabel("predicted")
        for (r, c), v in np.ndenumerate(cm):
            if np.isfinite(v) and v >= 0.01:
                ax.text(c, r, f"{v:.2f}"[1:] if v < 1 else "1", ha="center", va="center", fontsize=6,
                        color="white" if v > 0.5 else "black")
    axes[0][0].set_ylabel("ground truth")
    fig.colorbar(image, ax=list(axes[0]), fraction=0.02, pad=0.02, label="fraction of row")
    fig.suptitle("Test confusion matrices (row-normalised), per frame", fontsize=11)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight"))
    plt.close(fig)
    return Path(path)
