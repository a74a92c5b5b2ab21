"""Train a teacher, label with it, train a student: the library calls behind the stages
and the Table-1 reproduction. No file paths here; stages own the I/O."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mkepipe.config import Params
from mkepipe.data.split import Split
from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.training.loop import fit
from mkepipe.training.methods import METHODS, Batch


@dataclass
class PseudoLabels:
    """Pseudo labels aligned with D_u's ids: hard ids, probabilities, confidence weights."""

    ids: list[str]
    hard: np.ndarray
    probs: np.ndarray | None = None
    weight: np.ndarray | None = None

    def targets(self, kind: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if kind == "hard" or self.probs is None:
            target = torch.from_numpy(self.hard.astype(np.int64))
        else:
            target = torch.from_numpy(self.probs.astype(np.float32))
        weight = None if kind != "weighted" or self.weight is None else torch.from_numpy(self.weight.astype(np.float32))
        return target, weight

    def aligned(self, ids: list[str]) -> "PseudoLabels":
        """Reorder to ``ids``; every id must have a label."""
        pos = {sid: i for i, sid in enumerate(self.ids)}
        missing = [sid for sid in ids if sid not in pos]
        if missing:
            raise KeyError(f"{len(missing)} samples have no pseudo label, e.g. {missing[:3]}")
        idx = np.array([pos[sid] for sid in ids], dtype=np.int64)
        pick = (lambda a: None if a is None else a[idx])
        return PseudoLabels(list(ids), self.hard[idx], pick(self.probs), pick(self.weight))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def predict_logits(model: nn.Module, spec: ModelSpec, split: Split) -> torch.Tensor:
    model.eval()
    return model(split.inputs(spec.modalities))


def predict_probs(model: nn.Module, spec: ModelSpec, split: Split) -> np.ndarray:
    """Class probabilities (N, K) of the frozen model on ``split``."""
    return torch.softmax(predict_logits(model, spec, split), dim=1).numpy().astype(np.float32)


def train_teacher(exp: Experiment, params: Params, labeled: Split, seed: int | None = None,
                  on_epoch=None) -> tuple[nn.Module, ModelSpec, list[dict]]:
    """The unimodal teacher on D_l."""
    cfg = params.teacher
    seed_everything(params.seed if seed is None else seed)
    spec = exp.model_spec(exp.unimodal, cfg.hidden, cfg.perturbation)
    model = spec.build()
    batch = Batch(labeled.inputs(spec.modalities), torch.from_numpy(labeled.y.astype(np.int64)))
    history = fit(model, METHODS.get("teacher").train_step, [batch], epochs=cfg.epochs, lr=cfg.lr,
                  perturbation=cfg.perturbation, on_epoch=on_epoch)
    return model, spec, history


def train_student(exp: Experiment, params: Params, method_name: str, *, unlabeled: Split,
                  labels: PseudoLabels | None, labeled: Split | None = None, truth: np.ndarray | None = None,
                  seed: int | None = None, on_epoch=None) -> tuple[nn.Module, ModelSpec, list[dict]]:
    """Train one student method; ``truth`` is read only by the MM (sup) bound."""
    cfg = params.student
    method = METHODS.get(method_name)
    if method.targets == "labeled":
        raise ValueError(f"{method_name!r} is not a student method")
    perturbation = method.perturbation(cfg.perturbation)
    modalities = exp.multimodal if method.multimodal else exp.unimodal
    hidden = cfg.hidden if method.multimodal else cfg.um_hidden
    seed_everything(params.seed if seed is None else seed)
    spec = exp.model_spec(modalities, hidden, perturbation)
    model = spec.build()

    x = unlabeled.inputs(modalities)
    if method.targets == "truth":
        if truth is None:
            raise ValueError("mm_student_sup needs the true labels of D_u")
        batch = Batch(x, torch.from_numpy(truth.astype(np.int64)))
    else:
        if labels is None:
            raise ValueError(f"{method_name} needs pseudo labels")
        target, weight = labels.aligned(unlabeled.ids).targets(params.pseudolabel.kind)
        batch = Batch(x, target, weight)
        if method.targets == "labeled+pseudo":
            if labeled is None:
                raise ValueError("noisy_student needs the labeled set")
            batch = _concat(batch, labeled, modalities, params.pseudolabel.kind, exp.num_classes)
    history = fit(model, method.train_step, [batch], epochs=cfg.epochs, lr=cfg.lr,
                  perturbation=perturbation, on_epoch=on_epoch)
    return model, spec, history


def _concat(batch: Batch, labeled: Split, modalities: tuple[str, ...], kind: str, k: int) -> Batch:
    """D_l ∪ D̃_u for the NOISY student; true labels become one-hot for soft targets."""
    x_l = labeled.inputs(modalities)
    y_l = torch.from_numpy(labeled.y.astype(np.int64))
    if batch.target.dtype != torch.int64:
        y_l = torch.nn.functional.one_hot(y_l, k).float()
    weight = None
    if batch.weight is not None:
        weight = torch.cat([batch.weight, torch.ones(len(x_l))])
    return Batch(torch.cat([batch.x, x_l]), torch.cat([batch.target, y_l]), weight)
