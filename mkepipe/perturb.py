"""Consistency perturbations T (pure tensor functions).

Strength semantics follow the authors' TwoMoon notebook: Gaussian noise whose standard
deviation is ``strength × mean |x|`` of the tensor it is added to, redrawn on every call.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F


def gaussian_noise(x: torch.Tensor, strength: float, generator: torch.Generator | None = None,
                   scale_grad: bool = False) -> torch.Tensor:
    """T1/T2: ``x + ε``, ``ε ~ N(0, (strength · mean|x|)²)``. The scale carries no
    gradient unless ``scale_grad`` (the authors' notebook lets its T2 noise scale take
    part in backpropagation, so training can shrink the hidden activations it scales)."""
    if strength == 0:
        return x
    scale = strength * (x if scale_grad else x.detach()).abs().mean()
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + noise * scale


def input_noise(inputs: Mapping[str, torch.Tensor], strength: float, scale: str = "modality",
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """T1 on a mapping of modalities (channels on dim 1).

    ``scale="modality"``: each modality gets noise of std ``strength × its own mean |x|``,
    so an image in [0, 1] and MFCCs in the hundreds are perturbed alike. ``"joint"``: one
    ``mean |x|`` over all modalities of the batch and one draw over their channels taken
    together, as if they were one input tensor (the authors' TwoMoon notebook).
    """
    if strength == 0:
        return dict(inputs)
    if scale == "modality":
        return {m: gaussian_noise(x, strength, generator) for m, x in inputs.items()}
    if scale != "joint":
        raise ValueError(f"noise scale must be 'modality' or 'joint', got {scale!r}")
    names = list(inputs)
    noisy = gaussian_noise(torch.cat([inputs[m] for m in names], dim=1), strength, generator)
    parts = noisy.split([inputs[m].shape[1] for m in names], dim=1)
    return dict(zip(names, parts))


def dropout(x: torch.Tensor, rate: float, training: bool = True) -> torch.Tensor:
    """T3: inverted dropout with drop probability ``rate``."""
    return F.dropout(x, p=rate, training=training) if rate > 0 else x

