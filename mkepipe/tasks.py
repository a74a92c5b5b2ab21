"""The task layer: what single-label and multi-label outputs mean, in one place.

A :class:`Task` turns logits into probabilities and predictions, gives the loss for hard,
soft and confidence-weighted targets, confidence and entropy per unit, class counts for
class balancing and priors, the metric meter (headline plus a per-class vector) and the
label family the store writes. Nothing outside this module calls softmax, sigmoid or
argmax on a model's output. Class scores are always on dim 1, so classification
``(N, K)`` and dense prediction ``(N, K, H, W)`` go through the same code.

======================  ===========  ==========  ==============================
task                    probs        metric      label family (store)
======================  ===========  ==========  ==============================
``multiclass``          softmax      accuracy    simplex rows
``segmentation``        softmax      mIoU        simplex rows per pixel
``multilabel``          sigmoid      mAP         independent Bernoulli per class
======================  ===========  ==========  ==============================
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mkepipe.evaluation.expansion import ExpansionMeter
from mkepipe.evaluation.meters import AccuracyMeter, Meter, MultilabelMeter, SegmentationMeter
from mkepipe.losses import IGNORE_INDEX, bce, pseudo_label_loss


class ClassBalance:
    """Per-unit loss weights ``freq(c)^-power`` of each unit's class, from class counts over
    a whole training set, scaled to mean 1 over the units that have a label; classes
    absent from the set get no weight. Applied batch by batch, it gives each unit the
    weight it would get if the whole set were weighted at once."""

    def __init__(self, task: "SingleLabelTask", counts: torch.Tensor, power: float) -> None:
        self.task = task
        counts = counts.double()
        self.total = counts.sum()
        self.per_class = torch.where(counts > 0, (counts / self.total).pow(-power), torch.zeros_like(counts))
        self.weight_sum = (counts * self.per_class).sum()

    def __call__(self, target: torch.Tensor) -> torch.Tensor:
        labeled, ids = self.task.label_units(target)
        if self.total == 0:
            return labeled.float()
        return (self.per_class[ids] * labeled * self.total / self.weight_sum).float()


class Task(ABC):
    """One kind of prediction problem over ``num_classes`` classes."""

    name: ClassVar[str]
    family: ClassVar[str]  # label-store family of the pseudo labels
    metric: ClassVar[str]  # headline metric, in percent
    class_scores: ClassVar[str]  # the per-class vector whose score > 0 means "recognised"

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None) -> None:
        if num_classes < 2:
            raise ValueError(f"a task needs at least 2 classes, got {num_classes}")
        self.num_classes = num_classes
        self.class_names = tuple(class_names) if class_names else tuple(f"class {k}" for k in range(num_classes))
        if len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes")

    @abstractmethod
    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities (dim 1) from logits."""

    @abstractmethod
    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """What the meter scores: class ids (single-label) or probabilities (multi-label)."""

    @abstractmethod
    def label_predictions(self, hard: np.ndarray, probs: np.ndarray | None) -> torch.Tensor:
        """The same from a stored label generation's arrays."""

    @abstractmethod
    def hard_targets(self, hard: np.ndarray) -> torch.Tensor:
        """A stored generation's hard labels as training targets."""

    @abstractmethod
    def entropy(self, probs: torch.Tensor) -> torch.Tensor:
        """Per-unit entropy normalised to [0, 1] (1: uniform / coin flips)."""

    @abstractmethod
    def confidence(self, probs: torch.Tensor) -> torch.Tensor:
        """Per-unit confidence in [0, 1]."""

    def confidence_weight(self, probs: torch.Tensor) -> torch.Tensor:
        """``w = 1 − H(p)/H_max`` (DESIGN §2.4): 1 for a certain label, 0 for a uniform one."""
        return (1.0 - self.entropy(probs)).clamp(0.0, 1.0)

    @abstractmethod
    def loss(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
             valid: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
        """``l_cls`` for hard, soft or weighted targets; returns the loss and its log name.
        ``valid`` masks units with no target (padding of a geometric augmentation)."""

    @abstractmethod
    def label_targets(self, y: torch.Tensor, soft: bool) -> torch.Tensor:
        """True labels as training targets of the same form as soft (``soft``) or hard
        pseudo labels, so D_l and D̃_u can share a batch (the NOISY student)."""

    @abstractmethod
    def class_counts(self, target: torch.Tensor) -> torch.Tensor:
        """(K,) int64: labeled units per class (single-label), positives per class (multi-label)."""

    @abstractmethod
    def class_prior(self, counts: np.ndarray, samples: int) -> np.ndarray:
        """The prior the label store compares a generation's class histogram with."""

    @abstractmethod
    def class_balance(self, counts: torch.Tensor, power: float) -> ClassBalance:
        """Loss weights ``freq^-power`` from ``class_counts`` over a training set."""

    @abstractmethod
    def meter(self) -> Meter:
        """A fresh metric accumulator: ``update(predictions, y)``, then ``compute()``."""

    @abstractmethod
    def decisions(self, predictions: torch.Tensor) -> np.ndarray:
        """Hard decisions per unit from :meth:`predictions`: class ids, or 0/1 per class."""

    @abstractmethod
    def label_decisions(self, hard: np.ndarray) -> np.ndarray:
        """The same from a stored generation's hard labels."""

    @abstractmethod
    def truth_decisions(self, y: np.ndarray) -> np.ndarray:
        """The same from true labels (void stays :data:`IGNORE_INDEX`)."""

    @abstractmethod
    def decision_confidence(self, probs: np.ndarray) -> np.ndarray:
        """The teacher's confidence in each of its decisions (same shape as the decisions)."""

    def expansion_meter(self) -> ExpansionMeter:
        """Correction/corruption/disagreement of a student against its pseudo labels."""
        return ExpansionMeter(self.class_names, multilabel=self.family == "bernoulli")


class SingleLabelTask(Task):
    """One class per unit: softmax probabilities, argmax labels, CE/KL losses."""

    family = "simplex"

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=1)

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=1)

    def label_predictions(self, hard: np.ndarray, probs: np.ndarray | None) -> torch.Tensor:
        return torch.from_numpy(hard.astype(np.int64))

    def hard_targets(self, hard: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(hard.astype(np.int64))

    def decisions(self, predictions: torch.Tensor) -> np.ndarray:
        return predictions.numpy().astype(np.int64)

    def label_decisions(self, hard: np.ndarray) -> np.ndarray:
        return hard.astype(np.int64)

    def truth_decisions(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y).astype(np.int64)

    def decision_confidence(self, probs: np.ndarray) -> np.ndarray:
        return probs.max(axis=1)

    def entropy(self, probs: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
        return -(probs * torch.log(probs.clamp_min(eps))).sum(dim=1) / math.log(self.num_classes)

    def confidence(self, probs: torch.Tensor) -> torch.Tensor:
        return probs.max(dim=1).values

    def loss(self, logits, target, weight=None, valid=None):
        return pseudo_label_loss(logits, target, weight, valid)

    def label_targets(self, y: torch.Tensor, soft: bool) -> torch.Tensor:
        if not soft:
            return y
        valid = y >= 0
        return F.one_hot(y.clamp_min(0), self.num_classes).movedim(-1, 1).float() * valid.unsqueeze(1)

    def label_units(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(has a label, class id) per unit of class ids or probability targets (an
        all-zero probability row has no label)."""
        if target.is_floating_point():
            return target.sum(dim=1) > 0, target.argmax(dim=1)
        return target != IGNORE_INDEX, target.clamp_min(0)

    def class_counts(self, target: torch.Tensor) -> torch.Tensor:
        labeled, ids = self.label_units(target)
        return torch.bincount(ids[labeled], minlength=self.num_classes)

    def class_prior(self, counts: np.ndarray, samples: int) -> np.ndarray:
        counts = np.asarray(counts, np.float64)
        return counts / max(counts.sum(), 1.0)

    def class_balance(self, counts: torch.Tensor, power: float) -> ClassBalance:
        return ClassBalance(self, counts, power)


class MulticlassTask(SingleLabelTask):
    """One label per sample; accuracy, and recall per class."""

    name = "multiclass"
    metric = "accuracy"
    class_scores = "recall_per_class"

    def meter(self) -> Meter:
        return AccuracyMeter(self.class_names)


class SegmentationTask(SingleLabelTask):
    """One label per pixel, void ignored; mIoU, pixel accuracy, IoU per class."""

    name = "segmentation"
    metric = "miou"
    class_scores = "iou_per_class"

    def meter(self) -> Meter:
        return SegmentationMeter(self.class_names)


class MultilabelTask(Task):
    """Any number of classes per sample: sigmoid probabilities, BCE, mAP."""

    name = "multilabel"
    family = "bernoulli"
    metric = "map"
    class_scores = "recall_per_class"

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None, threshold: float = 0.5) -> None:
        super().__init__(num_classes, class_names)
        self.threshold = threshold

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def label_predictions(self, hard: np.ndarray, probs: np.ndarray | None) -> torch.Tensor:
        return torch.from_numpy((hard if probs is None else probs).astype(np.float32))

    def hard_targets(self, hard: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(hard.astype(np.float32))

    def decisions(self, predictions: torch.Tensor) -> np.ndarray:
        return (predictions.numpy() >= self.threshold).astype(np.int64)

    def label_decisions(self, hard: np.ndarray) -> np.ndarray:
        return hard.astype(np.int64)

    def truth_decisions(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y) >= 0.5).astype(np.int64)

    def decision_confidence(self, probs: np.ndarray) -> np.ndarray:
        return np.maximum(probs, 1 - probs)

    def entropy(self, probs: torch.Tensor) -> torch.Tensor:
        xlogy = torch.special.xlogy  # 0 · log 0 = 0
        return (-(xlogy(probs, probs) + xlogy(1 - probs, 1 - probs)) / math.log(2)).mean(dim=1)

    def confidence(self, probs: torch.Tensor) -> torch.Tensor:
        return torch.maximum(probs, 1 - probs).mean(dim=1)

    def loss(self, logits, target, weight=None, valid=None):
        return bce(logits, target.float(), weight, valid), "bce"

    def label_targets(self, y: torch.Tensor, soft: bool) -> torch.Tensor:
        return y.float()

    def class_counts(self, target: torch.Tensor) -> torch.Tensor:
        positive = target >= self.threshold
        return positive.movedim(1, -1).reshape(-1, self.num_classes).sum(dim=0)

    def class_prior(self, counts: np.ndarray, samples: int) -> np.ndarray:
        return np.asarray(counts, np.float64) / max(samples, 1)

    def class_balance(self, counts: torch.Tensor, power: float) -> ClassBalance:
        raise ValueError("class_balance weights classes of single-label targets; set it to 0 for a multilabel task")

    def meter(self) -> Meter:
        return MultilabelMeter(self.class_names, self.threshold)


TASKS: dict[str, type[Task]] = {t.name: t for t in (MulticlassTask, SegmentationTask, MultilabelTask)}


def create_task(name: str, num_classes: int, class_names: Sequence[str] | None = None, **kwargs: Any) -> Task:
    """The task ``name`` (``multiclass``, ``segmentation``, ``multilabel``)."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name](num_classes, class_names, **kwargs)
