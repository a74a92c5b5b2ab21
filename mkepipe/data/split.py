"""A split of a dataset: sample ids, one array per modality, optional labels.

:class:`DiskSplit` reads a prepared split row by row from disk (``<data>/<split>/``: one
``.npy`` per modality, ``y.npy``, ``ids.txt``, ``split.json``), so memory does not grow
with the split; :class:`Split` holds one in memory (tests, paper-table runs, small
slices). Both give model inputs as a mapping ``modality → float32 array`` — modalities
are never concatenated here — and labels decoded for training (void as
:data:`IGNORE_INDEX`).
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from mkepipe.data.arrays import NpyFile, NpyWriter
from mkepipe.fileio import atomic_write_text, read_json
from mkepipe.losses import IGNORE_INDEX

SPLIT_META = "split.json"
IDS = "ids.txt"
LABELS = "y"


class SplitReader(ABC):
    """What every split offers: ids, per-modality float32 inputs and labels by row."""

    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    @abstractmethod
    def modality_names(self) -> tuple[str, ...]:
        """The modalities this split holds."""

    @abstractmethod
    def channels(self) -> dict[str, int]:
        """Channel (feature) count of each modality: axis 1 of its rows."""

    @abstractmethod
    def read(self, indices: Sequence[int], modalities: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """float32 rows of ``modalities`` (default: all) at ``indices``."""

    @abstractmethod
    def labels(self, indices: Sequence[int]) -> np.ndarray | None:
        """Labels at ``indices`` (int64 class ids with IGNORE_INDEX void, or float32
        multi-hot), or None for a split without labels."""

    @property
    def has_labels(self) -> bool:
        return self.labels([]) is not None

    def inputs(self, modalities: Sequence[str], indices: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
        """Model inputs as tensors: ``{modality: (n, …) float32}``."""
        missing = [m for m in modalities if m not in self.modality_names]
        if missing:
            raise KeyError(f"split lacks modalities {missing}; has {sorted(self.modality_names)}")
        rows = self.read(range(len(self)) if indices is None else indices, modalities)
        return {m: torch.from_numpy(rows[m]) for m in modalities}

    def take(self, indices: Sequence[int]) -> "Split":
        """The samples at ``indices``, in that order, in memory."""
        indices = list(indices)
        return Split([self.ids[i] for i in indices], self.read(indices), self.labels(indices))

    def rows_of(self, ids: Sequence[str]) -> list[int | None]:
        """Row of each id (None where the split does not have it)."""
        pos = {sid: i for i, sid in enumerate(self.ids)}
        return [pos.get(sid) for sid in ids]


@dataclass
class Split(SplitReader):
    """An in-memory split; ``modalities`` maps a modality name to a float32 (N, …) array."""

    ids: list[str]
    modalities: dict[str, np.ndarray]
    y: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modality_names(self) -> tuple[str, ...]:
        return tuple(self.modalities)

    def channels(self) -> dict[str, int]:
        return {m: int(a.shape[1]) for m, a in self.modalities.items()}

    def read(self, indices: Sequence[int], modalities: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        idx = np.asarray(list(indices), dtype=np.int64)
        return {m: np.asarray(self.modalities[m][idx], np.float32) for m in (modalities or self.modalities)}

    def labels(self, indices: Sequence[int]) -> np.ndarray | None:
        return None if self.y is None else self.y[np.asarray(list(indices), dtype=np.int64)]


class DiskSplit(SplitReader):
    """A prepared split read from ``<data_dir>/<name>/`` row by row (see the module docstring)."""

    def __init__(self, data_dir: str | Path, name: str) -> None:
        self.root = Path(data_dir) / name
        meta_path = self.root / SPLIT_META
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.root}: split {name!r} missing; run the prepare stage first")
        self.meta: dict[str, Any] = read_json(meta_path)
        if not isinstance(self.meta, dict) or not isinstance(self.meta.get("modalities"), dict):
            raise ValueError(f"{meta_path}: not a split description; run the prepare stage again")
        self.ids = (self.root / IDS).read_text().splitlines()
        self._files = {m: NpyFile(self.root / f"{m}.npy") for m in self.meta["modalities"]}
        self._y = NpyFile(self.root / f"{LABELS}.npy") if self.meta.get("labels") is not None else None
        for label, f in [*self._files.items(), (LABELS, self._y)]:
            if f is not None and len(f) != len(self.ids):
                raise ValueError(f"{self.root}: {label}.npy has {len(f)} rows for {len(self.ids)} ids")

    @property
    def modality_names(self) -> tuple[str, ...]:
        return tuple(self._files)

    def channels(self) -> dict[str, int]:
        return {m: int(f.row_shape[0]) for m, f in self._files.items()}

    def read(self, indices: Sequence[int], modalities: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        indices = list(indices)
        out = {}
        for m in modalities or self._files:
            rows = self._files[m].rows(indices)
            divide = self.meta["modalities"][m].get("divide")
            out[m] = rows.astype(np.float32) / divide if divide else rows.astype(np.float32)
        return out

    def labels(self, indices: Sequence[int]) -> np.ndarray | None:
        if self._y is None:
            return None
        return decode_labels(self._y.rows(list(indices)), self.meta["labels"])


def decode_labels(stored: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Stored labels → training labels: ``void`` → IGNORE_INDEX int64, or float32 multi-hot."""
    if spec.get("multi_hot"):
        return stored.astype(np.float32)
    out = stored.astype(np.int64)
    if spec.get("void") is not None:
        out[stored == spec["void"]] = IGNORE_INDEX
    return out


class SplitWriter:
    """Write a split row by row into ``<data_dir>/<name>/``.

    ``divide`` per modality: stored integers are divided by it on reading (uint8 images →
    [0, 1]); ``labels``: ``{"void": 255}`` for class ids with a void value,
    ``{"multi_hot": True}`` for multi-label targets, None for a split without labels.
    Files appear only on :meth:`close`.
    """

    def __init__(self, data_dir: str | Path, name: str, divide: dict[str, float] | None = None,
                 labels: dict[str, Any] | None = None) -> None:
        self.root = Path(data_dir) / name
        self.divide = divide or {}
        self.labels_spec = labels
        self.ids: list[str] = []
        self._writers: dict[str, NpyWriter] = {}

    def append(self, ids: Sequence[str], modalities: dict[str, np.ndarray], y: np.ndarray | None = None) -> None:
        ids = [str(i) for i in ids]
        if any("\n" in i or not i for i in ids):
            raise ValueError("sample ids must be non-empty single lines")
        if (y is None) != (self.labels_spec is None):
            raise ValueError(f"{self.root}: labels given {'without' if y is not None else 'but not'} a label spec")
        arrays = dict(modalities, **({LABELS: y} if y is not None else {}))
        for name, rows in arrays.items():
            if len(rows) != len(ids):
                raise ValueError(f"{self.root}: {len(rows)} rows of {name} for {len(ids)} ids")
            if name not in self._writers:
                if self.ids:
                    raise ValueError(f"{self.root}: {name} appears after the first rows")
                self._writers[name] = NpyWriter(self.root / f"{name}.npy", rows.shape[1:], rows.dtype)
            self._writers[name].append(rows)
        self.ids += ids

    def abort(self) -> None:
        """Drop what was written so far (nothing of the split appears)."""
        for w in self._writers.values():
            w.abort()
        self._writers.clear()

    def close(self, empty: dict[str, tuple[tuple[int, ...], Any]] | None = None) -> None:
        """Commit the files; ``empty`` gives ``{name: (row_shape, dtype)}`` for a split that got no rows.

        ``split.json`` marks a complete split: an older one goes before the first file is
        replaced and the new one comes last, so a reader never opens a half-replaced split."""
        (self.root / SPLIT_META).unlink(missing_ok=True)
        for name, (shape, dtype) in (empty or {}).items():
            if name not in self._writers:
                self._writers[name] = NpyWriter(self.root / f"{name}.npy", shape, dtype)
        for w in self._writers.values():
            w.close()
        atomic_write_text(self.root / IDS, "".join(f"{i}\n" for i in self.ids))
        modalities = {m: ({"divide": self.divide[m]} if self.divide.get(m) else {})
                      for m in self._writers if m != LABELS}
        meta = {"format": 1, "count": len(self.ids), "modalities": modalities, "labels": self.labels_spec}
        atomic_write_text(self.root / SPLIT_META, json.dumps(meta, indent=1, sort_keys=True))


def write_split(data_dir: str | Path, name: str, ids: Sequence[str], modalities: dict[str, np.ndarray],
                y: np.ndarray | None = None, divide: dict[str, float] | None = None,
                labels: dict[str, Any] | None = None) -> None:
    """Write a whole split at once (see :class:`SplitWriter`)."""
    w = SplitWriter(data_dir, name, divide, labels if y is not None else None)
    w.append(ids, modalities, y)
    w.close()
