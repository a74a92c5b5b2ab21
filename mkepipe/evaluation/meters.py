"""Metric accumulators, one per task kind: ``update`` batch by batch, ``compute`` at the end.

Every meter reports its headline metric in percent and a per-class dict ``{class name:
percent}`` (classes that cannot be scored are left out), so reports, ``mke show`` and
the promotion rule's class-collapse check read every experiment alike.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np
import torch

from mkepipe.evaluation.segmentation import SegMetrics


def _numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _per_class(names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {names[k]: round(float(v) * 100, 2) for k, v in enumerate(values) if np.isfinite(v)}


class Meter(ABC):
    @abstractmethod
    def update(self, predictions: Any, y: Any) -> None:
        """Add a batch: task predictions (class ids, or probabilities for multi-label) and labels."""

    @abstractmethod
    def compute(self) -> dict[str, Any]:
        """Headline metric and per-class scores, in percent."""


class AccuracyMeter(Meter):
    """Classification accuracy and recall per class (void labels, −100, are skipped)."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.names = list(class_names)
        k = len(self.names)
        self.correct = 0
        self.total = 0
        self.hits = np.zeros(k, np.int64)
        self.support = np.zeros(k, np.int64)

    def update(self, predictions: Any, y: Any) -> None:
        pred, y = _numpy(predictions).ravel(), _numpy(y).ravel()
        keep = y >= 0
        pred, y = pred[keep], y[keep]
        right = pred == y
        self.correct += int(right.sum())
        self.total += int(y.size)
        k = len(self.names)
        self.hits += np.bincount(y[right], minlength=k)[:k]
        self.support += np.bincount(y, minlength=k)[:k]

    def compute(self) -> dict[str, Any]:
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(self.support > 0, self.hits / np.maximum(self.support, 1), np.nan)
        return {"accuracy": self.correct / self.total * 100 if self.total else float("nan"),
                "recall_per_class": _per_class(self.names, recall)}


class SegmentationMeter(Meter):
    """mIoU and pixel accuracy (percent), IoU of every class that occurs."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.names = list(class_names)
        self.acc = SegMetrics(len(self.names))

    def update(self, predictions: Any, y: Any) -> None:
        self.acc.update(predictions, y)

    @property
    def confusion(self) -> np.ndarray:
        return self.acc.confusion

    def compute(self) -> dict[str, Any]:
        result = self.acc.compute()
        return {"miou": float(result["miou"]), "pixel_accuracy": float(result["pixel_accuracy"]),
                "iou_per_class": _per_class(self.names, result["iou_per_class"])}


class MultilabelMeter(Meter):
    """mAP: the mean over classes of sklearn's average precision of the scores (AudioSet's
    metric). A class with no positive in the labels has no AP; it is left out of the mean
    and named under ``classes_without_positives``. Beside it, as the VGGSound reference
    reports: ``mauc``, the mean ROC AUC over classes with positives and negatives, and
    ``top1``, the share of samples whose highest-scoring class is one of their labels.
    ``recall_per_class`` is taken at ``threshold``: 0 means the class is never predicted,
    the promotion rule's collapse sign."""

    def __init__(self, class_names: Sequence[str], threshold: float = 0.5) -> None:
        self.names = list(class_names)
        self.threshold = threshold
        self.scores: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def update(self, predictions: Any, y: Any) -> None:
        k = len(self.names)
        self.scores.append(_numpy(predictions).astype(np.float64).reshape(-1, k))
        self.labels.append(_numpy(y).reshape(-1, k) >= 0.5)

    def compute(self) -> dict[str, Any]:
        from sklearn.metrics import average_precision_score, roc_auc_score

        k = len(self.names)
        scores = np.concatenate(self.scores) if self.scores else np.zeros((0, k))
        labels = np.concatenate(self.labels) if self.labels else np.zeros((0, k), bool)
        positives = labels.sum(axis=0)
        ap, auc = np.full(k, np.nan), np.full(k, np.nan)
        for c in np.flatnonzero(positives):
            ap[c] = average_precision_score(labels[:, c], scores[:, c])
            if positives[c] < len(labels):
                auc[c] = roc_auc_score(labels[:, c], scores[:, c])
        labeled = labels.any(axis=1)
        top = scores.argmax(axis=1) if len(scores) else np.zeros(0, np.int64)
        top1 = labels[np.flatnonzero(labeled), top[labeled]].mean() * 100 if labeled.any() else float("nan")
        with np.errstate(invalid="ignore", divide="ignore"):
            hits = ((scores >= self.threshold) & labels).sum(axis=0)
            recall = np.where(positives > 0, hits / np.maximum(positives, 1), np.nan)
        return {"map": float(np.nanmean(ap) * 100) if np.isfinite(ap).any() else float("nan"),
                "mauc": float(np.nanmean(auc) * 100) if np.isfinite(auc).any() else float("nan"),
                "top1": float(top1), "ap_per_class": _per_class(self.names, ap),
                "recall_per_class": _per_class(self.names, recall),
                "classes_without_positives": [self.names[c] for c in np.flatnonzero(positives == 0)]}
