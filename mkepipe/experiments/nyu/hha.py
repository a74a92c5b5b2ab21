"""Depth encodings for the depth branch: HHA (Gupta et al., ECCV 2014) and plain depth.

HHA stacks three uint8 channels per pixel, as the common Python port of Gupta's MATLAB
code writes them: horizontal **disparity** 31000 / max(Z_cm, 100); **height** above the
lowest visible point in cm (taken as the floor; 130 cm below the camera if nothing lies
more than 90 cm below it); the **angle** in degrees between the surface normal and the
gravity direction, + 38. Normals are least-squares plane fits over square windows
(radius 3 px for the normals, 10 px for the gravity estimate, at 640 px width);
gravity starts at the camera's down axis and is refined iteratively (5 rounds with a
45° and 5 with a 15° threshold) to the direction most parallel to floor-like normals and
most orthogonal to wall-like ones.

Vectorised: written in window-centred pixel offsets, every entry of a window's 3×3
normal equations is a separable filter of the validity mask or of 1/Z, so nine
``sepFilter2D`` calls give every window's system at once (well conditioned in float32),
and their closed-form solution (adjugate) replaces per-pixel solves.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mkepipe.fileio import atomic_write

ENCODINGS = ("hha", "depth")
HHA_VERSION = 2  # bump when the computation changes: it is part of the cache key


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in 1-based pixel coordinates (NYU toolbox convention)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 640
    height: int = 480

    def scaled(self, height: int, width: int) -> "Intrinsics":
        """The intrinsics of the same camera after resizing the image to (height, width)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx - 0.5) * sx + 0.5, (self.cy - 0.5) * sy + 0.5,
                          width, height)


NYU_RGB = Intrinsics(518.8579, 519.4696, 325.5824, 253.7362)


def _rays(shape: tuple[int, int], k: Intrinsics, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """x = X/Z and y = Y/Z of every pixel's ray, as (1, W) and (H, 1) arrays."""
    h, w = shape
    x = (np.arange(1, w + 1, dtype=np.float64) - k.cx) / k.fx
    y = (np.arange(1, h + 1, dtype=np.float64) - k.cy) / k.fy
    return x[None, :].astype(dtype), y[:, None].astype(dtype)


def surface_normals(z: np.ndarray, valid: np.ndarray, k: Intrinsics, radius: int) -> np.ndarray:
    """Unit normals (H, W, 3) of planes fitted over (2r+1)² windows; NaN where undetermined.

    Fits n·(x, y, 1) = 1/Z with x = X/Z, y = Y/Z over the window's valid pixels (zero
    padding outside the image, like MATLAB's ``filter2``) and orients every normal to
    point away from the camera, as Gupta's code does. The fit is done in window-centred
    pixel offsets (a, b): every sum is a separable filter of the validity mask or of 1/Z,
    well conditioned in float32, and the centre's ray then maps the plane back.
    """
    m = valid.astype(np.float32)
    inv_z = np.divide(1.0, z, out=np.zeros(z.shape, np.float32), where=valid).astype(np.float32)
    ones = np.ones(2 * radius + 1, np.float32)
    a = np.arange(-radius, radius + 1, dtype=np.float32)

    def box(img: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(img, -1, kx, ky, borderType=cv2.BORDER_CONSTANT)

    s_aa, s_ab, s_a = box(m, a * a, ones), box(m, a, a), box(m, a, ones)
    s_bb, s_b, s_1 = box(m, ones, a * a), box(m, ones, a), box(m, ones, ones)
    t_a, t_b, t_1 = box(inv_z, a, ones), box(inv_z, ones, a), box(inv_z, ones, ones)
    # adjugate of [[s_aa, s_ab, s_a], [s_ab, s_bb, s_b], [s_a, s_b, s_1]] times (t_a, t_b, t_1)
    n_a = (s_bb * s_1 - s_b * s_b) * t_a + (s_a * s_b - s_ab * s_1) * t_b + (s_ab * s_b - s_a * s_bb) * t_1
    n_b = (s_a * s_b - s_ab * s_1) * t_a + (s_aa * s_1 - s_a * s_a) * t_b + (s_ab * s_a - s_aa * s_b) * t_1
    n_c = (s_ab * s_b - s_a * s_bb) * t_a + (s_ab * s_a - s_aa * s_b) * t_b + (s_aa * s_bb - s_ab * s_ab) * t_1
    x, y = _rays(z.shape, k)
    n = np.empty((*z.shape, 3), np.float32)
    n[:, :, 0] = n_a * np.float32(k.fx)  # offsets a = fx·(x − x_centre): back to ray coordinates
    n[:, :, 1] = n_b * np.float32(k.fy)
    n[:, :, 2] = n_c - n[:, :, 0] * x - n[:, :, 1] * y
    norm = np.sqrt(np.einsum("hwc,hwc->hw", n, n))
    bad = (s_1 < 3) | (norm == 0)
    norm[bad] = np.nan
    flip = np.where(n[:, :, 2] < 0, -1.0, 1.0).astype(np.float32)  # Gupta's first flip: matters only where N·P = 0
    n *= (flip / norm)[:, :, None]
    toward = np.sign((n[:, :, 0] * x + n[:, :, 1] * y + n[:, :, 2]) * z)
    toward[(toward == 0) | np.isnan(toward)] = 1.0
    return n * toward[:, :, None].astype(np.float32)


def gravity_direction(normals: np.ndarray, thresholds: tuple[float, ...] = (45.0, 15.0),
                      iterations: tuple[int, ...] = (5, 5)) -> np.ndarray:
    """Gravity (the camera's "down", +y) refined from normals: the axis most parallel to
    the normals within the threshold of it and most orthogonal to those near 90° off it."""
    nn = normals.reshape(-1, 3)
    nt = np.ascontiguousarray(nn[~np.isnan(nn[:, 0])].T)  # (3, M): row-wise products are fastest
    outer = np.stack([nt[0] * nt[0], nt[0] * nt[1], nt[0] * nt[2], nt[1] * nt[1], nt[1] * nt[2], nt[2] * nt[2]])
    g = np.array([0.0, 1.0, 0.0])
    for thresh, rounds in zip(thresholds, iterations):
        cos_t, sin_t = np.cos(np.radians(thresh)), np.sin(np.radians(thresh))
        for _ in range(rounds):
            sim = np.abs(g[0] * nt[0] + g[1] * nt[1] + g[2] * nt[2])  # not BLAS: it stalls on busy cores
            weight = (sim < sin_t).astype(nt.dtype) - (sim > cos_t)  # walls +1, floors −1
            s = np.einsum("km,m->k", outer, weight)
            a = np.array([[s[0], s[1], s[2]], [s[1], s[3], s[4]], [s[2], s[4], s[5]]])
            new = np.linalg.eigh(a)[1][:, 0]
            g = new * (1.0 if new @ g >= 0 else -1.0)
    return g


def _radius(base: int, width: int) -> int:
    return max(1, int(round(base * width / 640)))


def compute_hha(depth_m: np.ndarray, k: Intrinsics | None = None, missing: np.ndarray | None = None) -> np.ndarray:
    """HHA of a depth map in metres (0 = missing): uint8 (H, W, 3) = (disparity, height, angle).

    ``k`` defaults to the NYU RGB camera scaled to the map's size; window radii scale
    with the width too. Missing pixels get disparity and height 0, as in the port.
    """
    h, w = depth_m.shape
    k = k or NYU_RGB.scaled(h, w)
    z = depth_m.astype(np.float64) * 100.0
    valid = z > 0
    if missing is not None:
        valid &= ~missing
    normals = surface_normals(z, valid, k, _radius(3, w))
    # every second row and column: the 21 px windows overlap that much anyway, at ¼ the cost
    g = gravity_direction(surface_normals(z, valid, k, _radius(10, w))[::2, ::2])
    x, y = _rays(z.shape, k, np.float64)
    height = -(g[0] * x * z + g[1] * y * z + g[2] * z)  # cm along "up"
    height[~valid] = np.nan
    lowest = np.nanmin(height) if valid.any() else 0.0
    height -= lowest if lowest <= -90 else -130.0
    cos_angle = normals[:, :, 0] * g[0] + normals[:, :, 1] * g[1] + normals[:, :, 2] * g[2]
    angle = np.degrees(np.arccos(np.clip(cos_angle, -1.0, 1.0)))
    angle[np.isnan(angle)] = 180.0
    disparity = np.where(valid, 31000.0 / np.maximum(z, 100.0), np.nan)
    hha = np.stack([disparity, height, angle + 38.0], axis=2)
    return np.clip(np.nan_to_num(np.rint(hha), nan=0.0), 0, 255).astype(np.uint8)


class HHACache:
    """HHA maps on disk, keyed by the depth content (and the intrinsics and code version)."""

    def __init__(self, cache_dir: str | Path | None) -> None:
        self.dir = Path(cache_dir) if cache_dir else None
        self.hits = self.misses = 0

    @staticmethod
    def key(depth_m: np.ndarray, k: Intrinsics) -> str:
        d = np.ascontiguousarray(depth_m, dtype=np.float32)
        head = f"hha{HHA_VERSION}|{d.shape}|{k}".encode()
        return hashlib.sha256(head + d.tobytes()).hexdigest()

    def get(self, depth_m: np.ndarray, k: Intrinsics | None = None) -> np.ndarray:
        k = k or NYU_RGB.scaled(*depth_m.shape)
        if self.dir is None:
            self.misses += 1
            return compute_hha(depth_m, k)
        key = self.key(depth_m, k)
        path = self.dir / key[:2] / f"{key}.npy"
        if path.exists():
            try:
                hha = np.load(path, allow_pickle=False)
                if hha.shape == (*depth_m.shape, 3) and hha.dtype == np.uint8:
                    self.hits += 1
                    return hha
            except (OSError, ValueError):
                pass  # a damaged entry is recomputed and overwritten
        self.misses += 1
        hha = compute_hha(depth_m, k)
        atomic_write(path, lambda tmp: _save_npy(tmp, hha))
        return hha


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a temp name
        np.save(f, arr, allow_pickle=False)


def encode_depth(depth_m: np.ndarray, encoding: str, *, k: Intrinsics | None = None, cache: HHACache | None = None,
                 max_depth_m: float = 10.0) -> np.ndarray:
    """(C, H, W) input of the depth branch: ``hha`` → uint8 C=3; ``depth`` → float32 C=1,
    metres / ``max_depth_m`` clipped to [0, 1] (0 = missing)."""
    if encoding == "hha":
        return (cache or HHACache(None)).get(depth_m, k).transpose(2, 0, 1)
    if encoding == "depth":
        return np.clip(depth_m / max_depth_m, 0.0, 1.0).astype(np.float32)[None]
    raise ValueError(f"unknown depth encoding {encoding!r}; expected one of {ENCODINGS}")
