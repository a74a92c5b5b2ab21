"""Reading the prepared NYU dataset (what :func:`~mkepipe.experiments.nyu.prepare.prepare_nyu` wrote).

On disk: ``{labeled,unlabeled,test}.npz`` with ``ids``, ``rgb`` uint8 (N, 3, H, W),
``depth`` (N, C, H, W) — uint8 HHA (C = 3) or float32 normalised depth (C = 1) — and
``y`` uint8 (N, H, W) train ids with 255 = void (not in ``unlabeled``);
``unlabeled_truth.npz`` (``ids``, ``y``) only where the source has D_u truth.
In memory: float32 modalities in [0, 1] and int64 labels with −100 = void.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mkepipe.experiments.nyu.classes import IGNORE_INDEX, NUM_CLASSES, VOID
from mkepipe.data.truth_guard import check_truth_access
from mkepipe.data.split import Split
from mkepipe.fileio import atomic_write

SPLITS = ("labeled", "unlabeled", "test")
TRUTH_FILE = "unlabeled_truth.npz"


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def _labels(y: np.ndarray) -> np.ndarray:
    out = y.astype(np.int64)
    out[y == VOID] = IGNORE_INDEX
    return out


def load_split(data_dir: str | Path, split: str) -> Split:
    """One prepared split: ``modalities = {"rgb": (N, 3, H, W), "depth": (N, C, H, W)}``
    float32 in [0, 1]; ``y`` int64 (N, H, W) with −100 for void; ``unlabeled`` has no y."""
    if split not in SPLITS:
        raise ValueError(f"unknown NYU split {split!r}; expected one of {SPLITS}")
    path = Path(data_dir) / f"{split}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the prepare stage first")
    with np.load(path, allow_pickle=False) as z:
        rgb = z["rgb"].astype(np.float32) / 255.0
        depth = z["depth"]
        encoding = "hha" if depth.dtype == np.uint8 else "depth"
        depth = depth.astype(np.float32) / 255.0 if encoding == "hha" else depth.astype(np.float32)
        y = _labels(z["y"]) if "y" in z.files else None
        ids = [str(i) for i in z["ids"]]
    return Split(ids, {"rgb": rgb, "depth": depth}, y,
                 meta={"depth_encoding": encoding, "num_classes": NUM_CLASSES, "ignore_index": IGNORE_INDEX})


def has_unlabeled_truth(data_dir: str | Path) -> bool:
    """Whether the source had D_u truth (checks the file's presence without reading it)."""
    return (Path(data_dir) / TRUTH_FILE).exists()


def load_unlabeled_truth(data_dir: str | Path) -> np.ndarray:
    """D_u's true labels, int64 (N_u, H, W) aligned with ``load_split(…, "unlabeled").ids``,
    −100 for void and for samples without truth.

    The only reader of ``unlabeled_truth.npz``, for the MM (sup) bound and label-quality
    reports; raises :class:`~mkepipe.data.truth_guard.UnlabeledTruthAccessError`
    inside ``forbid_unlabeled_truth()``.
    """
    path = Path(data_dir) / TRUTH_FILE
    check_truth_access(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: this source has no D_u ground truth (MM (sup) bound unavailable)")
    with np.load(Path(data_dir) / "unlabeled.npz", allow_pickle=False) as z:
        ids = [str(i) for i in z["ids"]]
    with np.load(path, allow_pickle=False) as z:
        row = {str(i): k for k, i in enumerate(z["ids"])}
        truth = z["y"]
    out = np.full((len(ids), *truth.shape[1:]), IGNORE_INDEX, np.int64)
    for k, sid in enumerate(ids):
        if sid in row:
            out[k] = _labels(truth[row[sid]])
    return out
