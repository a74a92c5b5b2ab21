"""HHA: analytic scenes, a per-pixel least-squares reference for the normals, the cache."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mkepipe.experiments.nyu.hha import (
    NYU_RGB,
    HHACache,
    Intrinsics,
    compute_hha,
    encode_depth,
    gravity_direction,
    surface_normals,
)


def _rot(pitch: float, roll: float) -> np.ndarray:
    """Camera-from-world rotation of a camera pitched down by ``pitch`` and rolled by ``roll``."""
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx


def room_depth(k: Intrinsics, h: int, w: int, pitch=0.3, roll=0.05, cam_height=1.3, wall=4.0):
    """Depth of a floor 1.3 m below the camera and a wall 4 m ahead, seen by a tilted camera;
    returns depth (m), the gravity direction in camera coordinates and a floor mask."""
    rot = _rot(pitch, roll)
    g = rot @ np.array([0.0, 1.0, 0.0])  # world "down" (camera y is down when level)
    n_wall = rot @ np.array([0.0, 0.0, 1.0])
    u, v = np.meshgrid(np.arange(1, w + 1), np.arange(1, h + 1))
    r = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u, float)], axis=2)
    with np.errstate(divide="ignore"):
        z_floor = cam_height / (r @ g)
        z_wall = wall / (r @ n_wall)
    z_floor[z_floor <= 0] = np.inf
    z_wall[z_wall <= 0] = np.inf
    return np.minimum(z_floor, z_wall), g, z_floor < z_wall


@pytest.mark.parametrize("h,w", [(480, 640), (96, 128)])
def test_hha_of_a_tilted_room(h, w):
    k = NYU_RGB.scaled(h, w)
    depth, g, floor = room_depth(k, h, w)
    hha = compute_hha(depth.astype(np.float32)).astype(float)
    assert hha.shape == (h, w, 3)
    inner = np.zeros_like(floor)
    inner[h // 8:-h // 8, w // 8:-w // 8] = True  # away from the floor/wall crease and the borders
    away = np.ones((2 * max(3, w // 64) + 3,) * 2, np.uint8)  # beyond the normal windows' reach of the crease
    fl = inner & (cv2.erode(floor.astype(np.uint8), away) > 0)
    wl = inner & (cv2.erode((~floor).astype(np.uint8), away) > 0)
    assert fl.sum() > 50 and wl.sum() > 50
    assert np.median(hha[fl, 2]) == pytest.approx(38, abs=2)  # normal ∥ gravity: 0° + 38
    assert np.median(hha[wl, 2]) == pytest.approx(128, abs=2)  # vertical wall: 90° + 38
    assert np.median(hha[fl, 1]) <= 3  # the floor is the lowest surface: height ≈ 0 cm
    wall_height = hha[wl, 1]
    assert wall_height.max() > 100  # wall points rise above the floor
    z_cm = depth[fl] * 100
    assert np.abs(hha[fl, 0] - np.minimum(np.rint(31000 / np.maximum(z_cm, 100)), 255)).max() <= 1
    est = gravity_direction(surface_normals(depth * 100, np.ones_like(floor), k, max(1, round(10 * w / 640))))
    assert np.degrees(np.arccos(np.clip(est @ g, -1, 1))) < 1.0


def _reference_normal(z, valid, k, r, i, j):
    """Straightforward per-pixel window fit: n·(x, y, 1) = 1/Z by least squares."""
    h, w = z.shape
    rows, cols = np.mgrid[max(0, i - r):min(h, i + r + 1), max(0, j - r):min(w, j + r + 1)]
    m = valid[rows, cols]
    x = (cols[m] + 1 - k.cx) / k.fx
    y = (rows[m] + 1 - k.cy) / k.fy
    a = np.stack([x, y, np.ones_like(x)], axis=1)
    n = np.linalg.lstsq(a, 1.0 / z[rows, cols][m], rcond=None)[0]
    n /= np.linalg.norm(n)
    p = np.array([(j + 1 - k.cx) / k.fx, (i + 1 - k.cy) / k.fy, 1.0]) * z[i, j]
    return n * (np.sign(n @ p) or 1.0)


def test_vectorised_normals_match_a_per_pixel_fit():
    rng = np.random.default_rng(0)
    h, w = 60, 80
    k = NYU_RGB.scaled(h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    z = 200 + 40 * np.sin(xx / 9.0) + 25 * np.cos(yy / 7.0) + rng.normal(0, 0.5, (h, w))  # cm, curved
    valid = rng.random((h, w)) > 0.15
    for r in (1, 3):
        n = surface_normals(z, valid, k, r)
        for i, j in zip(rng.integers(0, h, 60), rng.integers(0, w, 60)):
            ref = _reference_normal(z, valid, k, r, i, j)
            assert np.degrees(np.arccos(np.clip(n[i, j] @ ref, -1, 1))) < 0.05


def test_missing_depth_and_intrinsics_scaling():
    k = NYU_RGB.scaled(240, 320)
    assert k.fx == pytest.approx(518.8579 / 2) and k.cx == pytest.approx((325.5824 - 0.5) / 2 + 0.5)
    assert (k.width, k.height) == (320, 240)
    depth, _, _ = room_depth(NYU_RGB.scaled(48, 64), 48, 64)
    depth = depth.astype(np.float32)
    depth[10:20, 10:20] = 0
    hha = compute_hha(depth)
    assert (hha[12:18, 12:18, :2] == 0).all() and (hha[30:, :, 0] > 0).all()


def test_cache_and_encodings(tmp_path):
    depth, _, _ = room_depth(NYU_RGB.scaled(48, 64), 48, 64)
    depth = depth.astype(np.float32)
    cache = HHACache(tmp_path)
    a = cache.get(depth)
    b = cache.get(depth.copy())
    assert (cache.misses, cache.hits) == (1, 1) and (a == b).all()
    files = list(tmp_path.rglob("*.npy"))
    assert len(files) == 1 and files[0].stem == HHACache.key(depth, NYU_RGB.scaled(48, 64))
    files[0].write_bytes(b"garbage")  # a damaged entry is recomputed
    assert (cache.get(depth) == a).all() and cache.misses == 2
    other = depth.copy()
    other[0, 0] += 0.01
    assert HHACache.key(other, NYU_RGB.scaled(48, 64)) != files[0].stem
    enc = encode_depth(depth, "hha", cache=cache)
    assert enc.shape == (3, 48, 64) and enc.dtype == np.uint8 and (enc == a.transpose(2, 0, 1)).all()
    plain = encode_depth(depth, "depth", max_depth_m=10.0)
    assert plain.shape == (1, 48, 64) and plain.dtype == np.float32
    assert plain.max() <= 1.0 and plain[0, 0, 0] == pytest.approx(min(depth[0, 0] / 10, 1.0))
    with pytest.raises(ValueError, match="encoding"):
        encode_depth(depth, "disparity")
