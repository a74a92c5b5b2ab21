"""AudioSet → VGGSound, sound → sound + video, multi-label (paper Table 4).

Teacher, UM student and NOISY student: ResNet-18 on the clip's log spectrogram. MM
student: that and a 3-D ResNet on the clip's frames, features concatenated, one linear
layer. Task: independent sigmoids per class, BCE (soft pseudo labels: a Bernoulli per
class); metric mAP, with mAUC and top-1 beside it.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mkepipe.config import Perturbation
from mkepipe.data.split import SplitReader
from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.experiments.vggsound.config import VggsoundPrepareConfig, VggsoundTraining
from mkepipe.experiments.vggsound.figures import SHOWN, ap_bars, average_precision
from mkepipe.experiments.vggsound.models import SoundNet  # noqa: F401  (registers sound_net)
from mkepipe.experiments.vggsound.prepare import class_map_for, prepare_vggsound
from mkepipe.tasks import MultilabelTask, Task

CROP = {"cpu": (200, 4), "paper": (500, 8)}  # preset → (spectrogram frames, video frames) per crop


class Vggsound(Experiment):
    name = "vggsound"
    unimodal = ("spec",)
    multimodal = ("spec", "video")

    def __init__(self) -> None:
        self.prepare_cfg = VggsoundPrepareConfig()

    def configure(self, params: Any) -> None:
        """The class set follows ``prepare.vggsound`` (its class map, or the synthetic classes)."""
        self.prepare_cfg = params.active("prepare")
        self.__dict__.pop("task", None)

    @cached_property
    def task(self) -> Task:
        names = class_map_for(self.prepare_cfg).names
        return MultilabelTask(len(names), names)

    def prepare(self, cfg: VggsoundPrepareConfig, out_dir: Path) -> dict:
        return prepare_vggsound(cfg, out_dir)

    @cached_property
    def inbox(self):
        from mkepipe.experiments.vggsound.inbox import ClipInbox

        return ClipInbox()

    def model_spec(self, role: str, cfg: VggsoundTraining, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        if perturbation.flip_scale:
            raise ValueError("flip_scale is a dense-prediction perturbation; VGGSound uses random_crop, dropout, "
                             "hidden and input noise")
        mods = self.multimodal if role == "mm_student" else self.unimodal
        crop, frames = CROP[cfg.preset]
        kwargs = {"num_classes": self.task.num_classes, "channels": {m: channels[m] for m in mods},
                  "preset": cfg.preset, "crop_frames": cfg.crop_frames or crop,
                  "video_frames": cfg.video_frames or frames, "random_crop": perturbation.random_crop,
                  "dropout": perturbation.dropout, "hidden_noise": perturbation.hidden_noise}
        return ModelSpec("sound_net", kwargs, mods)

    def figures(self, out_dir: Path, test: SplitReader, models: dict, params: Any) -> list[Path]:
        """Test AP per class of teacher, NOISY and MM student (``ap_per_class.png``)."""
        from mkepipe.training.runs import predict_probs

        y = np.asarray(test.labels(range(len(test))))
        ap = {name: average_precision(predict_probs(self, m, s, test), y)
              for name, (m, s) in models.items() if name in SHOWN}
        if not ap:
            return []
        return [ap_bars(Path(out_dir) / "ap_per_class.png", ap, self.task.class_names)]
