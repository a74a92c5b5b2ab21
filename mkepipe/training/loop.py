"""The one training loop every method shares."""
from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import nn

from mkepipe.config import Perturbation
from mkepipe.training.data import Batch
from mkepipe.training.methods import TrainStep


def make_optimizer(name: str, params, *, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    """``sgd`` (with ``momentum``) or ``adam`` (decoupled ``weight_decay``: AdamW)."""
    if name == "adam":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


POLY_POWER = 0.9


class NonFiniteLoss(ArithmeticError):
    """Training produced a NaN or infinite loss; the message names the epoch and step."""


def make_schedule(name: str, optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """``constant``, or ``poly``: lr × (1 − step/steps)^0.9 after every step, so the last
    step trains at a small rate and the final weights do not depend on where a noisy
    constant-rate trajectory happened to stop."""
    if name == "poly":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(1 - step / steps, 0.0) ** POLY_POWER)
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ValueError(f"unknown lr_schedule {name!r}: use constant or poly")


def fit(model: nn.Module, train_step: TrainStep, batches: Iterable[Batch], *, epochs: int, lr: float,
        perturbation: Perturbation, momentum: float = 0.0, weight_decay: float = 0.0, optimizer: str = "sgd",
        lr_schedule: str = "constant", on_epoch: Callable[[dict], None] | None = None) -> list[dict[str, float]]:
    """Train over ``batches`` for ``epochs``; returns one row of mean logged values per epoch
    (``on_epoch`` gets each row as it is made).

    ``batches`` is re-iterated every epoch (one full batch for full-batch training, as in
    the TwoMoon protocol); ``poly`` needs ``len(batches)``. A NaN or infinite loss stops
    training with :class:`NonFiniteLoss` before it reaches the weights.
    """
    optimizer = make_optimizer(optimizer, model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps = epochs * len(batches) if lr_schedule == "poly" else 1
    schedule = make_schedule(lr_schedule, optimizer, steps)
    history: list[dict[str, float]] = []
    model.train()
    for epoch in range(epochs):
        sums: dict[str, float] = {}
        n = 0
        for batch in batches:
            out = train_step(model, batch, perturbation)
            loss = float(out["loss"].detach())
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"training diverged: loss is {loss} at epoch {epoch + 1}, step {n + 1} "
                                    "(check the learning rate and the inputs for NaN/inf)")
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
            schedule.step()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n += 1
        history.append({"epoch": epoch + 1, **{k: v / max(n, 1) for k, v in sums.items()}})
        if on_epoch is not None:
            on_epoch(history[-1])
    model.eval()
    return history

