"""NYU Depth V2, RGB → RGB-D semantic segmentation (paper Table 3).

Teacher and UM student: DeepLabV3+ on RGB. MM student: two-stream RGB + HHA/depth with
gated fusion. Metric: mIoU over the 40 NYU classes, void ignored.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mkepipe.config import Perturbation, TrainConfig
from mkepipe.experiments.nyu.config import NyuEvaluate, NyuPrepareConfig
from mkepipe.experiments.nyu import dataset
from mkepipe.experiments.nyu.classes import NUM_CLASSES, classes40
from mkepipe.experiments.nyu.prepare import prepare_nyu
from mkepipe.data.split import Split
from mkepipe.evaluation.seg_figures import confusion_png, qualitative_panels
from mkepipe.evaluation.segmentation import SegMetrics

from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.models.segmentation import preset_kwargs
from mkepipe.training.runs import PREDICT_BATCH



@dataclass
class Nyu(Experiment):
    name: str = "nyu"
    num_classes: int = NUM_CLASSES
    metric: str = "miou"
    unimodal: tuple[str, ...] = ("rgb",)
    multimodal: tuple[str, ...] = ("rgb", "depth")

    def prepare(self, cfg: NyuPrepareConfig, out_dir: Path) -> dict:
        return prepare_nyu(cfg, out_dir)

    def load(self, data_dir: Path, split: str) -> Split:
        return dataset.load_split(data_dir, split)

    def load_unlabeled_truth(self, data_dir: Path) -> np.ndarray:
        return dataset.load_unlabeled_truth(data_dir)

    def model_spec(self, role: str, cfg: TrainConfig, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        if perturbation.hidden_noise:
            raise ValueError("hidden_noise (T2) is not available for segmentation models; use dropout or flip_scale")
        overrides: dict[str, Any] = {"num_classes": self.num_classes, "dropout": perturbation.dropout}
        if cfg.encoder:
            overrides["encoder"] = cfg.encoder
        if cfg.encoder_weights_path:
            overrides["encoder_weights_path"] = cfg.encoder_weights_path
        if role == "mm_student":
            kwargs = preset_kwargs(cfg.preset, rgb_channels=channels["rgb"], depth_channels=channels["depth"],
                                   fusion=cfg.fusion, **overrides)
            return ModelSpec("fusion_student", kwargs, self.multimodal)
        kwargs = preset_kwargs(cfg.preset, in_channels=channels["rgb"], **overrides)
        return ModelSpec("deeplabv3plus", kwargs, self.unimodal)

    def _confusion(self, logits: torch.Tensor, y: np.ndarray) -> SegMetrics:
        acc = SegMetrics(self.num_classes)
        target = torch.from_numpy(y)
        for i in range(0, len(logits), PREDICT_BATCH):
            acc.update(logits[i:i + PREDICT_BATCH], target[i:i + PREDICT_BATCH])
        return acc

    def score(self, logits: torch.Tensor, y: np.ndarray) -> float:
        return float(self._confusion(logits, y).compute()["miou"])

    def metrics(self, logits: torch.Tensor, y: np.ndarray) -> dict[str, Any]:
        """mIoU and pixel accuracy (percent) and the IoU of every class that occurs."""
        result = self._confusion(logits, y).compute()
        names = classes40()
        per_class = {names[k]: round(float(v) * 100, 2) for k, v in enumerate(result["iou_per_class"]) if np.isfinite(v)}
        return {"miou": float(result["miou"]), "pixel_accuracy": float(result["pixel_accuracy"]),
                "iou_per_class": per_class}

    def figures(self, out_dir: Path, test: Split, models: dict, params: Any) -> list[Path]:
        """Confusion matrix of the MM student and paper-Fig.-5 panels on the first test images."""
        from mkepipe.training.runs import predict_logits

        cfg: NyuEvaluate = params.active("evaluate")
        out_dir = Path(out_dir)
        preds = {name: predict_logits(m, s, test).argmax(1).numpy() for name, (m, s) in models.items()
                 if name in ("teacher", "um_student", "mm_student")}
        paths = []
        if "mm_student" in preds:
            acc = SegMetrics(self.num_classes)
            acc.update(torch.from_numpy(preds["mm_student"]), torch.from_numpy(test.y))
            present = np.flatnonzero(acc.confusion.sum(1) + acc.confusion.sum(0))
            cm = acc.confusion[np.ix_(present, present)]
            paths.append(confusion_png(out_dir / "confusion_mm_student.png", cm, [classes40()[k] for k in present]))
        n = min(cfg.panels, len(test))
        if n:
            rows = []
            for i in range(n):
                depth = test.modalities["depth"][i].transpose(1, 2, 0)
                row = {"title": test.ids[i], "rgb": test.modalities["rgb"][i].transpose(1, 2, 0),
                       "depth": depth[..., 0] if depth.shape[-1] == 1 else depth}
                row.update({k: v[i] for k, v in preds.items()})
                row["ground_truth"] = test.y[i]
                rows.append(row)
            paths.append(qualitative_panels(out_dir / "qualitative.png", rows, classes40()))
        return paths
