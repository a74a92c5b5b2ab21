"""RAVDESS, face images → face images + voice, emotion recognition (paper Table 2).

Teacher, UM student and NOISY student: image CNN + MLP on a face image. MM student: image
CNN and audio CNN on the clip's MFCC map, features concatenated, MLP. Task: 8 emotions,
one label per sample; metric accuracy (per frame; per clip in ``clip_accuracy.json``).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mkepipe.config import Perturbation, TrainConfig
from mkepipe.data.split import SplitReader
from mkepipe.evaluation.reports import write_json
from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.experiments.ravdess.config import RavdessPrepareConfig
from mkepipe.experiments.ravdess.figures import SIDE_BY_SIDE, confusion, confusion_panels, per_clip_accuracy
from mkepipe.experiments.ravdess.identifiers import EMOTIONS
from mkepipe.experiments.ravdess.models import EmotionNet  # noqa: F401  (registers emotion_net)
from mkepipe.experiments.ravdess.prepare import prepare_ravdess
from mkepipe.tasks import MulticlassTask, Task

CLIP_REPORT = "clip_accuracy.json"


class Ravdess(Experiment):
    name = "ravdess"
    unimodal = ("face",)
    multimodal = ("face", "mfcc")

    @cached_property
    def task(self) -> Task:
        return MulticlassTask(len(EMOTIONS), EMOTIONS)

    def prepare(self, cfg: RavdessPrepareConfig, out_dir: Path) -> dict:
        return prepare_ravdess(cfg, out_dir)

    @cached_property
    def inbox(self):
        from mkepipe.experiments.ravdess.inbox import ClipInbox

        return ClipInbox()

    def model_spec(self, role: str, cfg: TrainConfig, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        if perturbation.flip_scale or perturbation.random_crop:
            raise ValueError("flip_scale (dense prediction) and random_crop (clips) are not RAVDESS perturbations; "
                             "it uses dropout, hidden and input noise")
        mods = self.multimodal if role == "mm_student" else self.unimodal
        kwargs = {"num_classes": self.task.num_classes, "channels": {m: channels[m] for m in mods},
                  "preset": cfg.preset, "dropout": perturbation.dropout, "hidden_noise": perturbation.hidden_noise}
        return ModelSpec("emotion_net", kwargs, mods)

    def figures(self, out_dir: Path, test: SplitReader, models: dict, params: Any) -> list[Path]:
        """Per-clip beside per-frame accuracy of every model (``clip_accuracy.json``) and the
        confusion matrices of teacher, NOISY and MM student side by side."""
        from mkepipe.training.runs import predict_probs

        out_dir = Path(out_dir)
        y = np.asarray(test.labels(range(len(test))))
        probs = {name: predict_probs(self, m, s, test) for name, (m, s) in models.items()}
        report = {name: per_clip_accuracy(test.ids, p, y) for name, p in probs.items()}
        paths = [write_json(out_dir / CLIP_REPORT, report)]
        shown = {name: (confusion(probs[name].argmax(1), y, len(EMOTIONS)), report[name]["frame_accuracy"])
                 for name in SIDE_BY_SIDE if name in probs}
        if shown:
            paths.append(confusion_panels(out_dir / "confusion.png", shown, EMOTIONS))
        return paths
