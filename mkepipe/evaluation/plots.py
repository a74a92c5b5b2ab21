"""Figures: decision boundaries over two 1-D modalities (TwoMoon, paper Fig. 3)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from mkepipe.fileio import atomic_write  # noqa: E402


def decision_boundaries(path: str | Path, panels: Sequence[tuple[str, nn.Module, tuple[str, ...]]],
                        points: np.ndarray, labels: np.ndarray, task, resolution: int = 200,
                        axes: tuple[str, str] = ("alpha", "beta")) -> Path:
    """One panel per model: the ``task``'s predicted class over the plane of two 1-D
    modalities, data on top.

    ``points`` is (N, 2) with modality ``axes[0]`` in column 0 and ``axes[1]`` in column 1;
    each model reads the modalities its panel names (a unimodal one: ``axes[0]`` only).
    """
    lo, hi = points.min(0) - 0.5, points.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    fig, axes_grid = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, (title, model, modalities) in zip(axes_grid[0], panels):
        x = {m: torch.from_numpy(grid[:, [axes.index(m)]]) for m in modalities}
        with torch.no_grad():
            pred = task.predictions(model.eval()(x)).numpy().reshape(gx.shape)
        ax.contourf(gx, gy, pred, levels=[-0.5, 0.5, 1.5], colors=["#c6dbef", "#f4c7c3"], alpha=0.8)
        ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", s=8, edgecolors="none")
        ax.set_title(title)
        ax.set_xlabel(axes[0])
        ax.set_ylabel(axes[1])
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return Path(path)
