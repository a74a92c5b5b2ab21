"""TwoMoon: the toy experiment of paper Table 1 (α = x-coordinate, β = y-coordinate)."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from mkepipe.config import Perturbation, TrainConfig
from mkepipe.data.split import SplitReader
from mkepipe.evaluation.plots import decision_boundaries
from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.experiments.twomoon import data
from mkepipe.experiments.twomoon.config import TwoMoonPrepare
from mkepipe.tasks import MulticlassTask, Task


class TwoMoon(Experiment):
    name = "twomoon"
    unimodal = ("alpha",)
    multimodal = ("alpha", "beta")
    num_threads = 1

    @cached_property
    def task(self) -> Task:
        return MulticlassTask(2, ("lower moon", "upper moon"))

    def prepare(self, cfg: TwoMoonPrepare, out_dir: Path) -> dict:
        return data.write_dataset(data.make_splits(cfg), out_dir)

    def model_spec(self, role: str, cfg: TrainConfig, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        if perturbation.flip_scale or perturbation.random_crop:
            raise ValueError("flip_scale and random_crop need images or clips; TwoMoon uses input noise, hidden "
                             "noise and dropout")
        modalities = self.multimodal if role == "mm_student" else self.unimodal
        hidden = cfg.um_hidden if role == "um_student" else cfg.hidden
        kwargs = {"in_features": sum(channels[m] for m in modalities), "hidden": hidden,
                  "num_classes": self.task.num_classes, "dropout": perturbation.dropout,
                  "hidden_noise": perturbation.hidden_noise}
        return ModelSpec("mlp", kwargs, tuple(modalities))

    def figures(self, out_dir: Path, test: SplitReader, models: dict, params) -> list[Path]:
        """Decision boundaries of the teacher, UM and MM students (paper Fig. 3)."""
        titles = {"teacher": "UM teacher", "um_student": "UM student", "mm_student": "MM student"}
        panels = [(titles[k], m, s.modalities) for k, (m, s) in models.items() if k in titles]
        rows = test.read(range(len(test)), self.multimodal)
        points = np.concatenate([rows["alpha"], rows["beta"]], 1)
        path = Path(out_dir) / "boundaries.png"
        decision_boundaries(path, panels, points, test.labels(range(len(test))), self.task,
                            params.active("evaluate").grid_resolution, axes=self.multimodal)
        return [path]
