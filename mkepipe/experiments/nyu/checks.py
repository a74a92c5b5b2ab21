"""Validation of RGB-D frames: what makes an NYU sample unusable (see :mod:`mkepipe.data.quarantine`)."""
from __future__ import annotations

import numpy as np

from mkepipe.data.quarantine import BadSample, register_reason

for _name, _text in (("nan_depth", "depth has NaN or infinite values"),
                     ("negative_depth", "depth has negative values"),
                     ("empty_depth", "too few pixels with a valid depth"),
                     ("no_rgb_in_sync_tolerance", "no RGB frame within the sync tolerance of the depth frame")):
    register_reason(_name, _text)


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise BadSample("unreadable", f"RGB must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    return rgb


def check_depth(depth_m: np.ndarray, min_valid_fraction: float = 0.0) -> np.ndarray:
    """Depth in metres: finite, non-negative; 0 marks a missing measurement."""
    if depth_m.ndim != 2 or depth_m.size == 0:
        raise BadSample("unreadable", f"depth must be (H, W), got {depth_m.shape}")
    finite = np.isfinite(depth_m)
    if not finite.all():
        raise BadSample("nan_depth", f"{int((~finite).sum())} non-finite depth values")
    if (depth_m < 0).any():
        n_neg = int((depth_m < 0).sum())
        raise BadSample("negative_depth", f"{n_neg} negative depth values, min {float(depth_m.min()):.3g}")
    valid = float((depth_m > 0).mean())
    if valid == 0.0 or valid < min_valid_fraction:
        raise BadSample("empty_depth", f"{valid:.1%} of pixels have a depth (need {min_valid_fraction:.0%})")
    return depth_m
