"""NYU Depth V2, RGB → RGB-D semantic segmentation (paper Table 3).

Teacher and UM student: DeepLabV3+ on RGB. MM student: two-stream RGB + HHA/depth with
gated fusion. Task: segmentation over the 40 NYU classes, void ignored; metric mIoU.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mkepipe.config import Perturbation, TrainConfig
from mkepipe.data.split import SplitReader
from mkepipe.evaluation.seg_figures import confusion_png, qualitative_panels
from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.experiments.nyu.classes import NUM_CLASSES, classes40
from mkepipe.experiments.nyu.config import NyuEvaluate, NyuPrepareConfig
from mkepipe.experiments.nyu.prepare import prepare_nyu
from mkepipe.models.segmentation import preset_kwargs
from mkepipe.tasks import SegmentationTask, Task


class Nyu(Experiment):
    name = "nyu"
    unimodal = ("rgb",)
    multimodal = ("rgb", "depth")

    @cached_property
    def task(self) -> Task:
        return SegmentationTask(NUM_CLASSES, classes40())

    def prepare(self, cfg: NyuPrepareConfig, out_dir: Path) -> dict:
        return prepare_nyu(cfg, out_dir)

    @cached_property
    def inbox(self):
        from mkepipe.experiments.nyu.inbox import RgbdInbox

        return RgbdInbox()

    def model_spec(self, role: str, cfg: TrainConfig, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        if perturbation.hidden_noise:
            raise ValueError("hidden_noise (T2) is not available for segmentation models; use dropout or flip_scale")
        if perturbation.random_crop:
            raise ValueError("random_crop is a clip perturbation; segmentation uses flip_scale")
        overrides: dict[str, Any] = {"num_classes": self.task.num_classes, "dropout": perturbation.dropout}
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

    def figures(self, out_dir: Path, test: SplitReader, models: dict, params: Any) -> list[Path]:
        """Confusion matrix of the MM student and paper-Fig.-5 panels on the first test images."""
        from mkepipe.training.runs import predict_logits

        cfg: NyuEvaluate = params.active("evaluate")
        out_dir = Path(out_dir)
        preds = {name: self.task.predictions(predict_logits(m, s, test)).numpy() for name, (m, s) in models.items()
                 if name in ("teacher", "um_student", "mm_student")}
        y = test.labels(range(len(test)))
        paths = []
        if "mm_student" in preds:
            meter = self.task.meter()
            meter.update(preds["mm_student"], y)
            confusion = meter.confusion
            present = np.flatnonzero(confusion.sum(1) + confusion.sum(0))
            cm = confusion[np.ix_(present, present)]
            paths.append(confusion_png(out_dir / "confusion_mm_student.png", cm, [classes40()[k] for k in present]))
        n = min(cfg.panels, len(test))
        if n:
            first = test.read(range(n), self.multimodal)
            rows = []
            for i in range(n):
                depth = first["depth"][i].transpose(1, 2, 0)
                row = {"title": test.ids[i], "rgb": first["rgb"][i].transpose(1, 2, 0),
                       "depth": depth[..., 0] if depth.shape[-1] == 1 else depth}
                row.update({k: v[i] for k, v in preds.items()})
                row["ground_truth"] = y[i]
                rows.append(row)
            paths.append(qualitative_panels(out_dir / "qualitative.png", rows, classes40()))
        return paths
