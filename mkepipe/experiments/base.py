"""The interface every experiment implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mkepipe.config import Perturbation, TrainConfig
from mkepipe.data.split import Split
from mkepipe.models import create_model


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model from a checkpoint."""

    name: str
    kwargs: dict[str, Any]
    modalities: tuple[str, ...]

    def build(self) -> nn.Module:
        return create_model(self.name, **self.kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": self.kwargs, "modalities": list(self.modalities)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        return cls(d["name"], dict(d["kwargs"]), tuple(d["modalities"]))


@dataclass
class Experiment(ABC):
    """A dataset adapter, model factories and a metric bound under one name."""

    name: str = ""
    num_classes: int = 2
    metric: str = "accuracy"
    unimodal: tuple[str, ...] = ("alpha",)
    multimodal: tuple[str, ...] = ("alpha", "beta")
    splits: tuple[str, ...] = field(default=("labeled", "unlabeled", "test"))
    num_threads: int | None = None  # torch intra-op threads; 1 for tiny models, where more only spin

    @abstractmethod
    def prepare(self, cfg: Any, out_dir: Path) -> dict:
        """Materialise the dataset and its manifest into ``out_dir``; return the manifest."""

    @abstractmethod
    def load(self, data_dir: Path, split: str) -> Split:
        """Read one split (``labeled``, ``unlabeled``, ``test``); D_u comes without labels."""

    @abstractmethod
    def load_unlabeled_truth(self, data_dir: Path) -> np.ndarray:
        """True labels of D_u: only for the MM (sup) bound and label-quality reports."""

    @abstractmethod
    def model_spec(self, role: str, cfg: TrainConfig, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        """The model for ``role`` (``teacher``, ``um_student``, ``mm_student``) with T2/T3
        built in; unimodal roles see ``self.unimodal``, ``mm_student`` ``self.multimodal``.
        ``channels`` gives each modality's channel count in the data."""

    def metrics(self, logits: torch.Tensor, y: np.ndarray) -> dict[str, Any]:
        """Every metric the experiment reports; ``self.metric`` is the headline one."""
        return {self.metric: self.score(logits, y)}

    def figures(self, out_dir: Path, test: Split, models: dict[str, tuple[nn.Module, ModelSpec]],
                params: Any) -> list[Path]:
        """PNG figures of the evaluated models (none by default)."""
        return []

    def score(self, logits: torch.Tensor, y: np.ndarray) -> float:
        """The experiment's metric in percent (accuracy by default)."""
        pred = logits.argmax(dim=1).cpu().numpy()
        return float((pred == y).mean() * 100.0)
