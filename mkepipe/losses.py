"""Pseudo-label losses and confidence weights (pure tensor functions).

Class scores are always on dim 1, so every function works for classification
``(N, K)`` and dense prediction ``(N, K, H, W)`` alike.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def confidence_weight(probs: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``w = 1 − H(p) / log K`` (DESIGN §2.4): 1 for a one-hot label, 0 for a uniform one.

    The paper prints the sign of the entropy term wrongly; this is the corrected form.
    """
    k = probs.shape[1]
    entropy = -(probs * torch.log(probs.clamp_min(eps))).sum(dim=1)
    return (1.0 - entropy / math.log(k)).clamp(0.0, 1.0)


def class_balance_weight(target: torch.Tensor, power: float, num_classes: int) -> torch.Tensor:
    """Per-element weights ``freq(c)^-power`` of each element's class, from the class
    frequencies in ``target`` itself, scaled to mean 1 over the elements that have a label.

    ``target``: class ids (``IGNORE_INDEX`` for none) or probabilities on dim 1 (the argmax
    counts; an all-zero row has no label). Classes absent from ``target`` get no weight.
    ``power`` 0 weights every element 1; 1 gives each class the same total weight.
    """
    if target.is_floating_point():
        labeled = target.sum(dim=1) > 0
        ids = target.argmax(dim=1)
    else:
        labeled = target != IGNORE_INDEX
        ids = target.clamp_min(0)
    counts = torch.bincount(ids[labeled], minlength=num_classes).double()
    if counts.sum() == 0:
        return labeled.float()
    per_class = torch.where(counts > 0, (counts / counts.sum()).pow(-power), torch.zeros_like(counts))
    weight = per_class[ids] * labeled
    return (weight * labeled.sum() / weight.sum()).float()


def _weighted_mean(per_element: torch.Tensor, weight: torch.Tensor | None, valid: torch.Tensor | None) -> torch.Tensor:
    w = torch.ones_like(per_element) if weight is None else weight.to(per_element.dtype)
    if valid is not None:
        w = w * valid.to(per_element.dtype)
    denom = (torch.ones_like(per_element) if valid is None else valid.to(per_element.dtype)).sum()
    return (per_element * w).sum() / denom.clamp_min(1.0)


def hard_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
            ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Cross-entropy with hard labels, optionally weighted per element; ``ignore_index``
    elements (void pixels) count neither in the sum nor in the mean."""
    per = F.cross_entropy(logits, target, reduction="none", ignore_index=ignore_index)
    return _weighted_mean(per, weight, target != ignore_index)


def soft_kl(logits: torch.Tensor, probs: torch.Tensor, weight: torch.Tensor | None = None,
            valid: torch.Tensor | None = None) -> torch.Tensor:
    """``KL(p ‖ softmax(logits))`` summed over classes, (weighted) mean over elements."""
    log_q = F.log_softmax(logits, dim=1)
    per = F.kl_div(log_q, probs, reduction="none").sum(dim=1)
    return _weighted_mean(per, weight, valid)


def pseudo_label_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                      valid: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
    """``l_cls`` of the paper: CE for integer targets, KL for probability targets.

    ``valid`` masks out elements with no target (void or padding) of soft targets; hard
    targets mark them with ``IGNORE_INDEX``. Returns the loss and its name for the logs.
    """
    if target.dtype in (torch.int64, torch.int32, torch.uint8, torch.int16):
        return hard_ce(logits, target.long(), weight), "ce"
    return soft_kl(logits, target, weight, valid), "kl"
