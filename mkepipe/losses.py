"""Pseudo-label losses (pure tensor functions); :mod:`mkepipe.tasks` picks one per task.

Class scores are always on dim 1, so every function works for classification
``(N, K)`` and dense prediction ``(N, K, H, W)`` alike.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


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


def bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
        valid: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of independent per-class probabilities (multi-label): the mean
    over classes per unit, then the (weighted) mean over units. ``target`` is multi-hot
    (hard labels) or probabilities (soft labels)."""
    per = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=1)
    return _weighted_mean(per, weight, valid)
