"""Consistency perturbations T (pure tensor functions).

Strength semantics follow the authors' TwoMoon notebook: Gaussian noise whose standard
deviation is ``strength × mean |x|`` of the tensor it is added to, redrawn on every call.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_noise(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """T1/T2: ``x + ε``, ``ε ~ N(0, (strength · mean|x|)²)``; the scale carries no gradient."""
    if strength == 0:
        return x
    scale = strength * x.detach().abs().mean()
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + noise * scale


def dropout(x: torch.Tensor, rate: float, training: bool = True) -> torch.Tensor:
    """T3: inverted dropout with drop probability ``rate``."""
    return F.dropout(x, p=rate, training=training) if rate > 0 else x

