"""An in-memory split of a dataset: sample ids, one array per modality, optional labels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Split:
    """``modalities`` maps a modality name (``alpha``, ``beta``) to an (N, …) array."""

    ids: list[str]
    modalities: dict[str, np.ndarray]
    y: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, indices: list[int]) -> "Split":
        """The samples at ``indices``, in that order."""
        y = None if self.y is None else self.y[indices]
        return Split([self.ids[i] for i in indices], {m: a[indices] for m, a in self.modalities.items()}, y, self.meta)

    def channels(self) -> dict[str, int]:
        """Channel (feature) count of each modality: axis 1 of its array."""
        return {m: int(a.shape[1]) for m, a in self.modalities.items()}

    def inputs(self, modalities: tuple[str, ...]) -> torch.Tensor:
        """Concatenate the requested modalities along the feature axis."""
        missing = [m for m in modalities if m not in self.modalities]
        if missing:
            raise KeyError(f"split lacks modalities {missing}; has {sorted(self.modalities)}")
        return torch.from_numpy(np.concatenate([self.modalities[m] for m in modalities], axis=1)).float()
