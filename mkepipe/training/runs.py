"""Train a teacher, label with it, train a student: the library calls behind the stages
and the paper-table reproductions. No file paths here; stages own the I/O."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from mkepipe.config import Params, TrainConfig
from mkepipe.data.split import Split
from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.losses import class_balance_weight, confidence_weight
from mkepipe.training.loop import fit
from mkepipe.training.methods import METHODS, Batch

PREDICT_BATCH = 32


@dataclass
class PseudoLabels:
    """Pseudo labels aligned with D_u's ids: hard ids, probabilities, confidence weights."""

    ids: list[str]
    hard: np.ndarray
    probs: np.ndarray | None = None
    weight: np.ndarray | None = None

    def targets(self, kind: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Training targets for ``kind``: class ids (hard) or probabilities, plus weights."""
        if kind == "hard":
            return torch.from_numpy(self.hard.astype(np.int64)), None
        if self.probs is None:
            raise ValueError(f"{kind} targets need probabilities, but this generation stores hard labels only")
        target = torch.from_numpy(self.probs.astype(np.float32))
        if kind != "weighted":
            return target, None
        weight = confidence_weight(target) if self.weight is None else torch.from_numpy(self.weight.astype(np.float32))
        return target, weight

    def aligned(self, ids: list[str]) -> "PseudoLabels":
        """Reorder to ``ids``; every id must have a label."""
        pos = {sid: i for i, sid in enumerate(self.ids)}
        missing = [sid for sid in ids if sid not in pos]
        if missing:
            raise KeyError(f"{len(missing)} samples have no pseudo label, e.g. {missing[:3]}")
        idx = np.array([pos[sid] for sid in ids], dtype=np.int64)

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return PseudoLabels(list(ids), self.hard[idx], pick(self.probs), pick(self.weight))


class Batches:
    """Shuffled minibatches of in-memory tensors, reshuffled on every pass (one pass per epoch).

    ``batch_size=None`` yields the whole set as one batch, in order (full-batch training).
    """

    def __init__(self, x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                 batch_size: int | None, seed: int) -> None:
        self.x, self.target, self.weight = x, target, weight
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.x)
        return 1 if self.batch_size is None or self.batch_size >= n else n // self.batch_size

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.x)
        if self.batch_size is None or self.batch_size >= n:
            yield Batch(self.x, self.target, self.weight)
            return
        order = torch.randperm(n, generator=self.generator)
        for start in range(0, n - self.batch_size + 1, self.batch_size):  # drop the ragged tail
            idx = order[start:start + self.batch_size]
            yield Batch(self.x[idx], self.target[idx], None if self.weight is None else self.weight[idx])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def predict_logits(model: nn.Module, spec: ModelSpec, split: Split) -> torch.Tensor:
    """Logits of the frozen model on ``split``, computed in chunks."""
    model.eval()
    x = split.inputs(spec.modalities)
    return torch.cat([model(x[i:i + PREDICT_BATCH]) for i in range(0, len(x), PREDICT_BATCH)])


def predict_probs(model: nn.Module, spec: ModelSpec, split: Split) -> np.ndarray:
    """Class probabilities on dim 1 of the frozen model on ``split``."""
    return torch.softmax(predict_logits(model, spec, split), dim=1).numpy().astype(np.float32)


def _fit(model: nn.Module, train_step, x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
         cfg: TrainConfig, perturbation, seed: int, num_classes: int,
         on_epoch: Callable[[int], None] | None) -> list[dict]:
    if cfg.class_balance:
        balance = class_balance_weight(target, cfg.class_balance, num_classes)
        weight = balance if weight is None else weight * balance
    return fit(model, train_step, Batches(x, target, weight, cfg.batch_size, seed), epochs=cfg.epochs, lr=cfg.lr,
               momentum=cfg.momentum, weight_decay=cfg.weight_decay, optimizer=cfg.optimizer,
               lr_schedule=cfg.lr_schedule, perturbation=perturbation, on_epoch=on_epoch)


def train_teacher(exp: Experiment, params: Params, labeled: Split, seed: int | None = None,
                  on_epoch: Callable[[int], None] | None = None) -> tuple[nn.Module, ModelSpec, list[dict]]:
    """The unimodal teacher on D_l."""
    cfg = params.active("teacher")
    seed = params.seed if seed is None else seed
    seed_everything(seed)
    spec = exp.model_spec("teacher", cfg, cfg.perturbation, labeled.channels())
    model = spec.build()
    target = torch.from_numpy(labeled.y.astype(np.int64))
    history = _fit(model, METHODS.get("teacher").train_step, labeled.inputs(spec.modalities), target, None,
                   cfg, cfg.perturbation, seed, exp.num_classes, on_epoch)
    return model, spec, history


def train_student(exp: Experiment, params: Params, method_name: str, *, unlabeled: Split,
                  labels: PseudoLabels | None, kind: str = "hard", labeled: Split | None = None,
                  truth: np.ndarray | None = None, seed: int | None = None,
                  on_epoch: Callable[[int], None] | None = None) -> tuple[nn.Module, ModelSpec, list[dict]]:
    """Train one student method on labels of ``kind``; ``truth`` is read only by MM (sup)."""
    cfg = params.active("student")
    method = METHODS.get(method_name)
    if method.targets == "labeled":
        raise ValueError(f"{method_name!r} is not a student method")
    perturbation = method.perturbation(cfg.perturbation)
    seed = params.seed if seed is None else seed
    seed_everything(seed)
    spec = exp.model_spec("mm_student" if method.multimodal else "um_student", cfg, perturbation,
                          unlabeled.channels())
    model = spec.build()

    x = unlabeled.inputs(spec.modalities)
    weight = None
    if method.targets == "truth":
        if truth is None:
            raise ValueError("mm_student_sup needs the true labels of D_u")
        target = torch.from_numpy(truth.astype(np.int64))
    else:
        if labels is None:
            raise ValueError(f"{method_name} needs pseudo labels")
        target, weight = labels.aligned(unlabeled.ids).targets(kind)
        if method.targets == "labeled+pseudo":
            if labeled is None:
                raise ValueError("noisy_student needs the labeled set")
            x, target, weight = _with_labeled(x, target, weight, labeled, spec.modalities, exp.num_classes)
    history = _fit(model, method.train_step, x, target, weight, cfg, perturbation, seed, exp.num_classes, on_epoch)
    return model, spec, history


def _with_labeled(x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, labeled: Split,
                  modalities: tuple[str, ...], k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """D_l ∪ D̃_u for the NOISY student; true labels become one-hot for soft targets."""
    x_l = labeled.inputs(modalities)
    y_l = torch.from_numpy(labeled.y.astype(np.int64))
    if target.dtype != torch.int64:
        valid = y_l >= 0
        y_l = torch.nn.functional.one_hot(y_l.clamp_min(0), k).movedim(-1, 1).float() * valid.unsqueeze(1)
    if weight is not None:
        weight = torch.cat([weight, torch.ones(len(x_l), *weight.shape[1:])])
    return torch.cat([x, x_l]), torch.cat([target, y_l]), weight
