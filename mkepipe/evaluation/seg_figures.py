"""Figures for segmentation: a confusion matrix and qualitative panels (paper Fig. 5)."""
from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from mkepipe.fileio import atomic_write  # noqa: E402

COLUMN_TITLES = {"rgb": "RGB", "depth": "Depth", "teacher": "Teacher", "um_student": "UM student",
                 "mm_student": "MM student", "ground_truth": "Ground truth"}


def palette(num_classes: int = 40) -> np.ndarray:
    """(K, 3) uint8 class colours: golden-ratio hues, alternating saturation/brightness so
    neighbouring ids differ; never black, which is reserved for void."""
    colours = []
    for k in range(num_classes):
        hue = (k * 0.618033988749895) % 1.0
        sat, val = (0.85, 0.95) if k % 2 == 0 else (0.55, 0.75)
        if k % 3 == 2:
            sat, val = 0.95, 0.55
        colours.append(colorsys.hsv_to_rgb(hue, sat, val))
    return (np.asarray(colours) * 255).round().astype(np.uint8)


def _array(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def colorize(labels: Any, num_classes: int) -> np.ndarray:
    """(H, W) ids → (H, W, 3) uint8; void (−100, 255, anything outside [0, K)) is black."""
    labels = _array(labels).astype(np.int64)
    out = np.zeros((*labels.shape, 3), dtype=np.uint8)
    ok = (labels >= 0) & (labels < num_classes)
    out[ok] = palette(num_classes)[labels[ok]]
    return out


def _rgb(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    if a.min() < 0 or a.max() > 1:  # normalised input: stretch for display
        a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
    return a


def _depth(a: np.ndarray) -> np.ndarray:
    """Depth (H, W) through a colour map, 2nd–98th percentile of valid values; invalid black.
    Three channels (HHA) are shown as an image."""
    if a.ndim == 3:
        return _rgb(a)
    a = a.astype(np.float64)
    valid = np.isfinite(a) & (a > 0)
    out = np.zeros((*a.shape, 3))
    if valid.any():
        lo, hi = np.percentile(a[valid], [2, 98])
        out[valid] = plt.get_cmap("viridis")(np.clip((a[valid] - lo) / max(hi - lo, 1e-12), 0, 1))[:, :3]
    return out


def qualitative_panels(path: str | Path, rows: Sequence[Mapping[str, Any]], class_names: Sequence[str]) -> Path:
    """One row per sample, one column per key, like the paper's Fig. 5.

    Keys: ``rgb`` (H, W, 3 uint8 or float), ``depth`` (H, W, or H, W, 3 for HHA), and label
    maps (H, W) such as ``teacher``, ``um_student``, ``mm_student``, ``ground_truth``
    (void −100/255 black). Known keys come in that order, others after; an optional
    ``title`` labels the row. A legend lists the classes present in any label map.
    """
    keys: list[str] = [k for k in COLUMN_TITLES if any(k in r for r in rows)]
    keys += [k for r in rows for k in r if k not in keys and k != "title"]
    keys = list(dict.fromkeys(keys))
    k = len(class_names)
    present = sorted({int(c) for r in rows for key in keys if key in r and key not in ("rgb", "depth")
                      for c in np.unique(_array(r[key])) if _array(r[key]).ndim == 2 and 0 <= c < k})
    first = next(_array(v) for r in rows for v in r.values() if not isinstance(v, str))
    cell_w = 2.1
    cell_h = cell_w * first.shape[0] / first.shape[1]
    ncol = max(1, min(len(present) + 1, int(cell_w * len(keys) / 1.25)))
    legend_h = 0.1 + 0.17 * -(-(len(present) + 1) // ncol)
    fig_h = cell_h * len(rows) + 0.35 + legend_h
    fig, axes = plt.subplots(len(rows), len(keys), squeeze=False, figsize=(cell_w * len(keys), fig_h))
    for i, row in enumerate(rows):
        for j, key in enumerate(keys):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if i == 0:
                ax.set_title(COLUMN_TITLES.get(key, key.replace("_", " ")), fontsize=10)
            if j == 0 and "title" in row:
                ax.set_ylabel(str(row["title"]), fontsize=9)
            if key not in row:
                continue
            value = _array(row[key])
            if key == "rgb":
                ax.imshow(_rgb(value))
            elif key == "depth":
                ax.imshow(_depth(value))
            elif value.ndim == 2:
                ax.imshow(colorize(value, k), interpolation="nearest")
            else:
                ax.imshow(_rgb(value))
    colours = palette(k) / 255.0
    handles = [Patch(facecolor=colours[c], edgecolor="none", label=class_names[c]) for c in present]
    handles.append(Patch(facecolor="black", edgecolor="none", label="void"))
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=7.5, frameon=False,
               handlelength=1.2, columnspacing=0.8)
    fig.tight_layout(rect=(0, legend_h / fig_h, 1, 1), h_pad=0.3, w_pad=0.3)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return Path(path)


def confusion_png(path: str | Path, cm: Any, class_names: Sequence[str], normalise: bool = True) -> Path:
    """The confusion matrix as a heat map: rows ground truth, columns prediction.

    ``normalise`` divides each row by its total (per-class recall; classes absent from
    the ground truth are grey); otherwise raw pixel counts on a log-free linear scale.
    """
    cm = _array(cm).astype(np.float64)
    k = cm.shape[0]
    if normalise:
        totals = cm.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = np.where(totals > 0, cm / totals, np.nan)
    side = max(5.0, 0.24 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    cmap = plt.get_cmap("Blues").with_extremes(bad="#d9d9d9")  # grey rows: class absent from the truth
    image = ax.imshow(cm, cmap=cmap, vmin=0, vmax=1 if normalise else None, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="fraction of row" if normalise else "pixels")
    fontsize = 9 if k <= 15 else 7
    ax.set_xticks(range(k), labels=list(class_names), rotation=90, fontsize=fontsize)
    ax.set_yticks(range(k), labels=list(class_names), fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalise else ""))
    if k <= 15:
        for (r, c), v in np.ndenumerate(cm):
            if np.isfinite(v) and v > 0:
                text = f"{v:.2f}" if normalise else f"{int(v)}"
                ax.text(c, r, text, ha="center", va="center", fontsize=7,
                        color="white" if v > (0.5 if normalise else np.nanmax(cm) / 2) else "black")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return Path(path)
