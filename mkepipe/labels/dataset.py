"""Torch view of a generation for student training."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class LabelDataset(Dataset):
    """Yields ``{"id", "target", "weight"}`` per sample id.

    ``target`` is the hard label for the hard kind and for weighted generations stored
    with the ``hard`` encoding (simplex: int64 class ids, ``()`` or ``(H,W)``; Bernoulli:
    float32 multi-hot, ``(K,)`` or ``(K,H,W)``), else the probabilities (float32,
    ``(K,)`` or ``(K,H,W)``). ``weight`` (``()`` or ``(H,W)``) is the confidence weight of
    weighted generations and ones otherwise, so ``mean(weight * loss)`` works for every kind.
    Safe with DataLoader workers (file handles are re-opened per process).
    """

    def __init__(self, generation, ids: list[str] | None = None):
        self.generation = generation
        self.ids = list(generation.ids if ids is None else ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        rec = self.generation.get(self.ids[index])
        if self.generation.kind != "hard" and rec.probs is not None:
            target = torch.from_numpy(rec.probs)
        elif self.generation.family == "bernoulli":
            target = torch.from_numpy(rec.hard.astype(np.float32))
        else:
            target = torch.from_numpy(rec.hard.astype(np.int64))
        if rec.weight is None:
            weight = torch.ones(self.generation.shape, dtype=torch.float32)
        else:
            weight = torch.from_numpy(np.asarray(rec.weight, np.float32))
        return {"id": rec.id, "target": target, "weight": weight}
