"""TwoMoon (paper Table 1): the x-coordinate is modality α, the y-coordinate modality β.

Protocol of the authors' public notebook: ``make_moons(500, noise=0.1, random_state=42)``,
``StandardScaler``, 60/40 train/test split, then 10 % of train labeled (D_l, α only) and
90 % unlabeled (D_u, α and β). D_u's true labels go to ``unlabeled_truth.npz``, which
only the MM (sup) upper bound and label-quality reports may read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mkepipe.experiments.twomoon.config import TwoMoonPrepare
from mkepipe.data.manifest import sha256_bytes, write_manifest
from mkepipe.data.split import Split
from mkepipe.fileio import atomic_write

SPLITS = ("labeled", "unlabeled", "test")
TRUTH = "unlabeled_truth"


def make_splits(cfg: TwoMoonPrepare) -> dict[str, Split]:
    """Generate the TwoMoon splits in memory (deterministic for a given config)."""
    x, y = make_moons(cfg.n_samples, noise=cfg.noise, random_state=cfg.random_state)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=cfg.test_size, random_state=cfg.random_state)
    x_l, x_u, y_l, y_u = train_test_split(x_tr, y_tr, test_size=cfg.unlabeled_fraction, random_state=cfg.random_state)

    def split(prefix: str, xs: np.ndarray, ys: np.ndarray, with_beta: bool) -> Split:
        mods = {"alpha": xs[:, :1].copy()}
        if with_beta:
            mods["beta"] = xs[:, 1:].copy()
        return Split([f"{prefix}{i:05d}" for i in range(len(xs))], mods, ys.astype(np.int64))

    return {"labeled": split("l", x_l, y_l, False), "unlabeled": split("u", x_u, y_u, True),
            "test": split("t", x_te, y_te, True)}


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def write_dataset(splits: dict[str, Split], out_dir: str | Path) -> dict:
    """Write the splits in the on-disk format and the dataset manifest."""
    out = Path(out_dir)
    samples = {}
    for name, s in splits.items():
        arrays = {"ids": np.array(s.ids), **s.modalities}
        if name != "unlabeled":
            arrays["y"] = s.y
        _save_npz(out / f"{name}.npz", **arrays)
        for i, sid in enumerate(s.ids):
            row = b"".join(m[i].tobytes() for m in s.modalities.values())
            if name != "unlabeled":
                row += s.y[i].tobytes()
            samples[sid] = {"split": name, "file": f"{name}.npz", "sha256": sha256_bytes(row)}
    _save_npz(out / f"{TRUTH}.npz", ids=np.array(splits["unlabeled"].ids), y=splits["unlabeled"].y)
    return write_manifest(out, "twomoon", samples)


def load_split(data_dir: str | Path, name: str) -> Split:
    """Read one split; ``unlabeled`` comes without labels."""
    if name not in SPLITS:
        raise ValueError(f"unknown TwoMoon split {name!r}; expected one of {SPLITS}")
    path = Path(data_dir) / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the prepare stage first")
    with np.load(path) as z:
        mods = {m: z[m] for m in ("alpha", "beta") if m in z.files}
        return Split([str(i) for i in z["ids"]], mods, z["y"] if "y" in z.files else None)


def load_unlabeled_truth(data_dir: str | Path) -> np.ndarray:
    """True labels of D_u, aligned with ``load_split(…, 'unlabeled').ids``.

    Only for the MM (sup) upper bound and for label-quality reports.
    """
    with np.load(Path(data_dir) / f"{TRUTH}.npz") as z:
        return z["y"]
