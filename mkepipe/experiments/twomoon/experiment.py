"""TwoMoon: the toy experiment of paper Table 1 (α = x-coordinate, β = y-coordinate)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mkepipe.config import Perturbation, TrainConfig
from mkepipe.experiments.twomoon.config import TwoMoonPrepare
from mkepipe.experiments.twomoon import data
from mkepipe.data.split import Split
from mkepipe.evaluation.plots import decision_boundaries

from mkepipe.experiments.base import Experiment, ModelSpec



@dataclass
class TwoMoon(Experiment):
    name: str = "twomoon"
    num_classes: int = 2
    num_threads: int | None = 1

    def prepare(self, cfg: TwoMoonPrepare, out_dir: Path) -> dict:
        return data.write_dataset(data.make_splits(cfg), out_dir)

    def load(self, data_dir: Path, split: str) -> Split:
        return data.load_split(data_dir, split)

    def load_unlabeled_truth(self, data_dir: Path) -> np.ndarray:
        return data.load_unlabeled_truth(data_dir)

    def model_spec(self, role: str, cfg: TrainConfig, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        modalities = self.multimodal if role == "mm_student" else self.unimodal
        hidden = cfg.um_hidden if role == "um_student" else cfg.hidden
        kwargs = {"in_features": sum(channels[m] for m in modalities), "hidden": hidden, "num_classes": self.num_classes,
                  "dropout": perturbation.dropout, "hidden_noise": perturbation.hidden_noise}
        return ModelSpec("mlp", kwargs, tuple(modalities))

    def figures(self, out_dir: Path, test: Split, models: dict, params) -> list[Path]:
        """Decision boundaries of the teacher, UM and MM students (paper Fig. 3)."""
        titles = {"teacher": "UM teacher", "um_student": "UM student", "mm_student": "MM student"}
        panels = [(titles[k], m, s.modalities) for k, (m, s) in models.items() if k in titles]
        points = np.concatenate([test.modalities["alpha"], test.modalities["beta"]], 1)
        path = Path(out_dir) / "boundaries.png"
        decision_boundaries(path, panels, points, test.y, params.active("evaluate").grid_resolution)
        return [path]
