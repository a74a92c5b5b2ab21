"""Consistency perturbations T for dense prediction (pure tensor functions).

The geometric augmentation of the paper's segmentation setup (random horizontal flip and
scale in [0.5, 1.75]) must move every modality, the labels and per-pixel weights
together, so it takes them all and returns them all; pixels that come from padding are
marked invalid.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import torch
import torch.nn.functional as F

from mkepipe.losses import IGNORE_INDEX


class DenseBatch(NamedTuple):
    """A transformed batch; ``valid`` (N, H, W) is False where the pixel is padding."""

    x: dict[str, torch.Tensor]
    target: torch.Tensor | None
    weight: torch.Tensor | None
    valid: torch.Tensor


def _resize(t: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(t.shape[-2:]) == size:
        return t
    if mode == "bilinear":
        return F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return F.interpolate(t, size=size, mode="nearest-exact")  # pixel-centre aligned like bilinear


def _place(t: torch.Tensor, size: tuple[int, int], offset: tuple[int, int], fill: float) -> torch.Tensor:
    """Crop (positive offset) or pad (negative offset) ``t`` (..., h, w) into ``size``."""
    out = torch.full((*t.shape[:-2], *size), fill, dtype=t.dtype, device=t.device)
    (oy, ox), (h, w) = offset, t.shape[-2:]
    sy, sx = max(oy, 0), max(ox, 0)  # source start
    dy, dx = max(-oy, 0), max(-ox, 0)  # destination start
    ch, cw = min(h - sy, size[0] - dy), min(w - sx, size[1] - dx)
    out[..., dy:dy + ch, dx:dx + cw] = t[..., sy:sy + ch, sx:sx + cw]
    return out


def _offset(new: int, out: int, u: float) -> int:
    """Random crop start (new > out) or negative pad start (new < out), uniform over positions."""
    span = abs(new - out)
    shift = min(int(u * (span + 1)), span)
    return shift if new >= out else -shift


def random_flip_scale(inputs: Mapping[str, torch.Tensor], target: torch.Tensor | None = None,
                      weight: torch.Tensor | None = None, *,
                      scale_range: tuple[float, float] = (0.5, 1.75), flip_p: float = 0.5,
                      generator: torch.Generator | None = None, out_size: tuple[int, int] | None = None,
                      pad_value: float = 0.0) -> DenseBatch:
    """Per-sample random horizontal flip and isotropic scale, applied jointly.

    Every modality of ``inputs`` (N, C, H, W) is resized bilinearly with the same flip,
    scale and position; ``target`` is either hard labels (N, H, W)
    int64 with :data:`IGNORE_INDEX` void (nearest, so ids never mix) or soft labels
    (N, K, H, W) (bilinear, renormalised); ``weight`` (N, H, W) is resized bilinearly.
    Each sample is then cropped at a random position (scale > 1) or padded at a random
    position (scale < 1) to ``out_size`` (default: the input size). Padding is
    ``pad_value`` in ``x``, ``IGNORE_INDEX`` in hard labels, all-zero probabilities in soft
    labels and 0 in weights; ``valid`` marks the pixels that are not padding.
    """
    names = list(inputs)
    n, _, h, w = inputs[names[0]].shape
    if any(inputs[m].shape[0] != n or inputs[m].shape[-2:] != (h, w) for m in names):
        raise ValueError(f"modalities differ in batch or image size: {[tuple(inputs[m].shape) for m in names]}")
    device = inputs[names[0]].device
    size = tuple(out_size) if out_size is not None else (h, w)
    soft = target is not None and target.dim() == 4
    if target is not None and not soft and target.dtype.is_floating_point:
        raise TypeError("hard targets must be integer label maps (N, H, W)")
    u = torch.rand(n, 4, generator=generator)  # flip, scale, crop-y, crop-x
    lo, hi = scale_range
    xs: dict[str, list[torch.Tensor]] = {m: [] for m in names}
    ts, ws, vs = [], [], []
    for i in range(n):
        flip = bool(u[i, 0] < flip_p)
        scale = lo + (hi - lo) * float(u[i, 1])
        new = (max(1, round(h * scale)), max(1, round(w * scale)))
        offset = (_offset(new[0], size[0], float(u[i, 2])), _offset(new[1], size[1], float(u[i, 3])))

        def warp(t: torch.Tensor, mode: str, fill: float) -> torch.Tensor:
            t = t.flip(-1) if flip else t
            return _place(_resize(t, new, mode), size, offset, fill)

        for m in names:
            xs[m].append(warp(inputs[m][i:i + 1], "bilinear", pad_value))
        vs.append(warp(torch.ones(1, 1, h, w, device=device), "nearest", 0.0)[:, 0] > 0.5)
        if target is not None and soft:
            p = warp(target[i:i + 1].float(), "bilinear", 0.0)
            if new != (h, w):  # interpolation keeps sums only up to rounding
                p = p / p.sum(1, keepdim=True).clamp_min(1e-12)
            ts.append(p.to(target.dtype))
        elif target is not None:
            ts.append(warp(target[i:i + 1, None].float(), "nearest", IGNORE_INDEX)[:, 0].to(target.dtype))
        if weight is not None:
            ws.append(warp(weight[i:i + 1, None].float(), "bilinear", 0.0)[:, 0].to(weight.dtype))
    return DenseBatch({m: torch.cat(xs[m]) for m in names}, torch.cat(ts) if ts else None,
                      torch.cat(ws) if ws else None, torch.cat(vs))
