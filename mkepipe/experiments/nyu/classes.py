"""NYU Depth V2 label spaces, read from the package data in ``mkepipe/experiments/nyu/nyuv2/``.

Three label spaces meet here: the 894 raw object ids of the labeled ``.mat`` (0 =
unlabeled), the common 40-class set (1..40 in files, 0 = void) and the *train ids* the
prepared arrays hold: ``id40 - 1`` in 0..39 with :data:`VOID` (255) for void, which
:func:`mkepipe.experiments.nyu.prepare.load_split` turns into :data:`IGNORE_INDEX` (−100).
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

NUM_CLASSES = 40
NUM_RAW_CLASSES = 894
VOID = 255
IGNORE_INDEX = -100


def _read(name: str) -> str:
    return resources.files("mkepipe.experiments.nyu").joinpath("nyuv2", name).read_text()


def _table(name: str) -> list[list[str]]:
    rows = [line.split("\t") for line in _read(name).splitlines() if line.strip()]
    return rows[1:]  # header


@lru_cache(maxsize=None)
def classes40() -> tuple[str, ...]:
    """The 40 class names; ``classes40()[i]`` is train id ``i`` (file id ``i + 1``)."""
    names = tuple(line.strip() for line in _read("classes40.txt").splitlines() if line.strip())
    if len(names) != NUM_CLASSES:
        raise ValueError(f"classes40.txt: expected {NUM_CLASSES} names, got {len(names)}")
    return names


@lru_cache(maxsize=None)
def classes13() -> tuple[str, ...]:
    return tuple(line.strip() for line in _read("classes13.txt").splitlines() if line.strip())


def class_id40(name: str) -> int:
    """File id (1..40) of a 40-class name, e.g. ``class_id40("table") == 7``."""
    try:
        return classes40().index(name) + 1
    except ValueError:
        raise KeyError(f"unknown NYU-40 class {name!r}") from None


@lru_cache(maxsize=None)
def lut894to40() -> np.ndarray:
    """uint8 lookup table of length 895: raw id (0..894) → 40-class id (0 = void)."""
    lut = np.zeros(NUM_RAW_CLASSES + 1, dtype=np.uint8)
    for row in _table("map894to40.tsv"):
        lut[int(row[0])] = int(row[2])
    if not lut[1:].all():
        raise ValueError("map894to40.tsv: some raw ids have no 40-class id")
    lut.flags.writeable = False
    return lut


@lru_cache(maxsize=None)
def lut40to13() -> np.ndarray:
    """uint8 lookup table of length 41: 40-class id → 13-class id (0 = void)."""
    lut = np.zeros(NUM_CLASSES + 1, dtype=np.uint8)
    for row in _table("map40to13.tsv"):
        lut[int(row[0])] = int(row[2])
    lut.flags.writeable = False
    return lut


@lru_cache(maxsize=None)
def raw_ids_of40() -> dict[int, tuple[int, ...]]:
    """40-class id → the raw 894 ids that map to it (used by the synthetic writer)."""
    out: dict[int, list[int]] = {}
    for raw, id40 in enumerate(lut894to40()):
        if raw:
            out.setdefault(int(id40), []).append(raw)
    return {k: tuple(v) for k, v in out.items()}


def labels40_to_train(labels40: np.ndarray) -> np.ndarray:
    """40-class ids (0 = void, 1..40) → train ids (0..39, :data:`VOID` for void), uint8.

    Ids above 40 must have been rejected before (the quarantine does that).
    """
    lut = np.arange(-1, NUM_CLASSES, dtype=np.int16).astype(np.uint8)  # 0 → 255 wraps to VOID
    return lut[labels40]


def labels894_to_train(labels894: np.ndarray) -> np.ndarray:
    """Raw 894 ids (0 = unlabeled) → train ids (0..39, :data:`VOID`), uint8."""
    return labels40_to_train(lut894to40()[labels894])


def _indices(name: str) -> np.ndarray:
    idx = np.array([int(x) for x in _read(name).split()], dtype=np.int64)
    idx.flags.writeable = False
    return idx


@lru_cache(maxsize=None)
def standard_split() -> dict[str, np.ndarray]:
    """The standard 795/654 split of the 1449 labeled frames, 1-based indices."""
    return {"train": _indices("train_indices_1based.txt"), "test": _indices("test_indices_1based.txt")}
