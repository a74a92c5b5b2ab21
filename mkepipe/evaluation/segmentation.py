"""Segmentation metrics (pure): confusion matrix, per-class IoU, mIoU, pixel accuracy.

Rows of the confusion matrix are true classes, columns predicted ones (sklearn's
convention). Void pixels (``ignore_index``) count nowhere. A class absent from both the
prediction and the ground truth has IoU NaN and is left out of the mean; a class that is
predicted but absent from the ground truth has IoU 0 and counts.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mkepipe.losses import IGNORE_INDEX


def _as_numpy(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def confusion_matrix(pred: Any, target: Any, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """(K, K) int64 counts of (true, predicted) pairs over the non-void pixels.

    ``pred`` and ``target`` are integer maps of equal shape (torch or numpy). Labels
    outside ``[0, K)`` other than ``ignore_index`` raise a ``ValueError``.
    """
    pred, target = _as_numpy(pred).ravel().astype(np.int64), _as_numpy(target).ravel().astype(np.int64)
    if pred.shape != target.shape:
        raise ValueError(f"pred has {pred.size} pixels, target {target.size}")
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    for name, a in (("target", target), ("pred", pred)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} holds labels outside [0, {num_classes}) other than {ignore_index}: "
                             f"min {a.min()}, max {a.max()}")
    counts = np.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + FN) per class; NaN where the class is in neither map."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(cm: np.ndarray) -> float:
    """Mean IoU in percent over the classes present in the prediction or the ground truth."""
    iou = iou_per_class(cm)
    return float(np.nanmean(iou) * 100) if np.isfinite(iou).any() else float("nan")


def pixel_accuracy(cm: np.ndarray) -> float:
    """Correct non-void pixels in percent."""
    cm = np.asarray(cm)
    total = cm.sum()
    return float(np.trace(cm) / total * 100) if total else float("nan")


class SegMetrics:
    """Streaming accumulator: ``update`` per batch, ``compute`` at the end."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)

    def reset(self) -> None:
        self.confusion[:] = 0

    def update(self, logits_or_pred: Any, target: Any) -> None:
        """Add a batch: logits (N, K, H, W) are arg-maxed over dim 1; label maps are used as is."""
        pred = logits_or_pred
        if pred.ndim == _as_numpy(target).ndim + 1:
            pred = pred.argmax(1)
        self.confusion += confusion_matrix(pred, target, self.num_classes, self.ignore_index)

    def compute(self) -> dict[str, Any]:
        """``miou`` and ``pixel_accuracy`` in percent, ``iou_per_class`` (K,) in [0, 1] with NaN."""
        return {"miou": mean_iou(self.confusion), "pixel_accuracy": pixel_accuracy(self.confusion),
                "iou_per_class": iou_per_class(self.confusion)}
