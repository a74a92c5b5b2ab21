"""TwoMoon (paper Table 1): the x-coordinate is modality α, the y-coordinate modality β.

Protocol of the authors' public notebook: ``make_moons(500, noise=0.1, random_state=42)``,
``StandardScaler``, 60/40 train/test split, then 10 % of train labeled (D_l, α only) and
90 % unlabeled (D_u, α and β). D_u's true labels go to the ``unlabeled_truth`` split,
which only the MM (sup) upper bound and label-quality reports may read. The notebook has
no validation data; ``val`` is a fresh draw of the same moons (``random_state + 1``, the
same scaler), so that promotion is decided without touching the notebook's splits.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mkepipe.data.manifest import sha256_bytes, write_manifest
from mkepipe.data.split import Split, write_split
from mkepipe.experiments.base import TRUTH_SPLIT
from mkepipe.experiments.twomoon.config import TwoMoonPrepare


def make_splits(cfg: TwoMoonPrepare) -> dict[str, Split]:
    """Generate the TwoMoon splits in memory (deterministic for a given config)."""
    x, y = make_moons(cfg.n_samples, noise=cfg.noise, random_state=cfg.random_state)
    scaler = StandardScaler().fit(x)
    x = scaler.transform(x).astype(np.float32)
    x_v, y_v = make_moons(cfg.n_val, noise=cfg.noise, random_state=cfg.random_state + 1)
    x_v = scaler.transform(x_v).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=cfg.test_size, random_state=cfg.random_state)
    x_l, x_u, y_l, y_u = train_test_split(x_tr, y_tr, test_size=cfg.unlabeled_fraction, random_state=cfg.random_state)

    def split(prefix: str, xs: np.ndarray, ys: np.ndarray, with_beta: bool) -> Split:
        mods = {"alpha": xs[:, :1].copy()}
        if with_beta:
            mods["beta"] = xs[:, 1:].copy()
        return Split([f"{prefix}{i:05d}" for i in range(len(xs))], mods, ys.astype(np.int64))

    return {"labeled": split("l", x_l, y_l, False), "unlabeled": split("u", x_u, y_u, True),
            "test": split("t", x_te, y_te, True), "val": split("v", x_v, y_v, True)}


def write_dataset(splits: dict[str, Split], out_dir: str | Path) -> dict:
    """Write the splits in the on-disk split format and the dataset manifest."""
    out = Path(out_dir)
    samples = {}
    for name, s in splits.items():
        labeled = name != "unlabeled"
        write_split(out, name, s.ids, s.modalities, s.y if labeled else None, labels={})
        for i, sid in enumerate(s.ids):
            row = b"".join(m[i].tobytes() for m in s.modalities.values())
            if labeled:
                row += s.y[i].tobytes()
            samples[sid] = {"split": name, "file": f"{name}/", "sha256": sha256_bytes(row)}
    unlabeled = splits["unlabeled"]
    write_split(out, TRUTH_SPLIT, unlabeled.ids, {}, unlabeled.y, labels={})
    return write_manifest(out, "twomoon", samples)
