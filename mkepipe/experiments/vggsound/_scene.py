"""Video of the synthetic VGGSound clips: the sound's source in a scene, moving with its
sound, filmed by a hand-held camera.

Every property has a physical reason (docs/vggsound_data.md, "The synthetic default"):

* **Objects.** Each class is a recognisable object drawn with anti-aliased OpenCV
  primitives: a violin (varnished figure-eight body, black fingerboard, held diagonally
  under the chin) and a cello (the same shape and varnish, larger in the frame, upright on
  its endpin), each with a bow crossing the strings and the player's hands; a trumpet
  (horizontal brass tube, flared bell, three valves) and a saxophone (upright conical body,
  U-bend and upturned bell, pearl keys), gold, silver or black lacquer; rain (streaks
  slanted by the wind, splashes, an overcast sky, wet ground); a waterfall (a band of
  white water over dark rock, a foaming pool); a helicopter (fuselage, tail boom, spinning
  tail rotor, skids, main-rotor blades over a blurred rotor disk); a lawn mower (deck,
  engine, wheels, handle, sometimes a grass bag) on a lawn.
* **Motion with the sound.** The bow travels along its length during each note and turns
  at the note change; the left hand moves up the neck with the pitch; a trumpet's valves
  and a saxophone's keys follow the notes' fingerings; streak and splash counts grow with
  the rain rate; the waterfall's texture flows down; the rotor turns at the sound's
  rotation rate (at 8 fps a 4–7 rev/s rotor is sampled below its blade rate, so the blades
  jump between frames, as on real cameras); the mower shakes at its firing rate and rolls
  forward. The source stays in view for the whole clip, also when its sound is faint.
* **Nuisances.** A random background (sky over grass, dirt or pavement with trees or
  buildings; a room with a window or picture; a dark stage with a spotlight), the object's
  position, size (distance) and angle, hand-held camera shake, exposure and white balance
  differing between clips and drifting within one, defocus (a third of the clips),
  a foreground occluder (a spectator's head or a post, a third of the clips), sensor noise
  (σ 2–9 DN) and, in the file, H.264 compression: video alone is good, not perfect.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from mkepipe.experiments.vggsound._objects import AA, DRAW, POSES, Pen, Pose, jitter, object_style
from mkepipe.experiments.vggsound._sound import Source

PAD = 4  # canvas margin in pixels for camera shake
GROUNDS = ((60, 120, 45), (130, 100, 70), (120, 120, 118))  # grass, dirt, pavement


def _streaks(img: np.ndarray, rng: np.random.Generator, count: int, length: float, wind: float,
             colour: tuple, alpha: float) -> None:
    """Blend ``count`` motion-blurred drops (lines) and their splashes on the lower third."""
    s = img.shape[0]
    x0, y0 = rng.uniform(-0.2 * s, 1.2 * s, count), rng.uniform(-0.1 * s, s, count)
    ang = math.radians(wind) + rng.normal(0, 0.05, count)
    x1, y1 = x0 + length * s * np.sin(ang), y0 + length * s * np.cos(ang)
    mask = np.zeros(img.shape[:2], np.uint8)
    lines = np.stack([np.stack([x0, y0], 1), np.stack([x1, y1], 1)], 1) * 16
    cv2.polylines(mask, list(lines.astype(np.int32)), False, 255, 1, AA, 4)
    for x, y in zip(rng.uniform(0, s, count // 3), rng.uniform(0.7 * s, s, count // 3)):
        cv2.ellipse(mask, (int(x * 16), int(y * 16)), (40, 12), 0, 180, 360, 200, 1, AA, 4)
    m = mask.astype(np.float32)[..., None] * (alpha / 255)
    img[:] = (img * (1 - m) + np.asarray(colour, np.float32) * m).astype(np.uint8)


def _backdrop(kind: str, s: int, rng: np.random.Generator, overcast: bool, lawn: bool) -> tuple[np.ndarray, float]:
    """A static scene, (s, s, 3) uint8 RGB, and its horizon (or floor line) in pixels."""
    img = np.empty((s, s, 3), np.float32)
    if kind == "outdoor":
        horizon = rng.uniform(0.35, 0.7) * s
        sky = np.array((125, 130, 138) if overcast else (110 + rng.uniform(-20, 30), 165, 230), np.float32)
        ground = np.array(GROUNDS[0 if lawn else int(rng.integers(len(GROUNDS)))], np.float32)
        rows = np.arange(s, dtype=np.float32)[:, None, None]
        wet = 0.7 if overcast else 1.0  # wet ground is darker
        img[:] = np.where(rows < horizon, sky + 40 * (rows / horizon), ground * wet)
        if lawn:  # mown stripes
            band = (np.arange(s)[None, :] // max(s // 8, 1)) % 2 == 1
            img[int(horizon):] *= np.where(band[..., None], 1.1, 0.92)
        for _ in range(int(rng.integers(0, 5))):
            x, w = rng.uniform(0, s), rng.uniform(0.05, 0.2) * s
            if rng.random() < 0.5:
                cv2.ellipse(img, (int(x), int(horizon - w)), (int(w * 0.6), int(w)), 0, 0, 360,
                            jitter(rng, (40, 80, 40)), -1)
            else:
                cv2.rectangle(img, (int(x), int(horizon - 2 * w)), (int(x + w), int(horizon)),
                              jitter(rng, (150, 145, 140), 40), -1)
    elif kind == "indoor":
        horizon = rng.uniform(0.6, 0.85) * s
        img[:] = jitter(rng, (200, 190, 170), 40)
        img[int(horizon):] = jitter(rng, (120, 85, 55), 30)
        if rng.random() < 0.6:
            x, y, w = rng.uniform(0, 0.8) * s, rng.uniform(0.05, 0.3) * s, rng.uniform(0.15, 0.35) * s
            colour = (170, 200, 230) if rng.random() < 0.5 else jitter(rng, (120, 110, 100), 90)
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + 0.8 * w)), colour, -1)
    else:  # stage
        horizon = rng.uniform(0.7, 0.9) * s
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
        spot = np.exp(-((xx - rng.uniform(0.3, 0.7) * s) ** 2 + (yy - 0.4 * s) ** 2) / (2 * (0.3 * s) ** 2))
        img[:] = (np.float32(25) + 90 * spot)[..., None] * np.array((1.0, 0.9, 0.75), np.float32)
        img[int(horizon):] *= 0.6
    shade = cv2.resize(rng.normal(0, 12, (5, 5)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC)
    return np.clip(img + shade[..., None], 0, 255).astype(np.uint8), horizon


OUTDOOR = ("rain", "waterfall", "helicopter", "lawn_mower")


def _falls(bg: np.ndarray, rng: np.random.Generator) -> dict:
    """Rock, pool and the geometry of the falling water, drawn into the backdrop; returns
    the water band and its texture (vertical streaks, flowing down)."""
    s = bg.shape[0]
    w = int(rng.uniform(0.15, 0.45) * s)
    x0 = int(rng.uniform(0.2, 0.8) * s - w / 2)
    top, pool = int(max(rng.uniform(-0.1, 0.3), 0) * s), int(rng.uniform(0.6, 0.92) * s)
    ys = np.linspace(top, pool, 6)
    left = [(x0 - rng.uniform(0.3, 1.2) * w, y) for y in ys]
    right = [(x0 + w + rng.uniform(0.3, 1.2) * w, y) for y in ys[::-1]]
    cv2.fillPoly(bg, [(np.array(left + right) * 16).astype(np.int32)], jitter(rng, (80, 72, 65), 20), AA, 4)
    cv2.ellipse(bg, (int((x0 + w / 2) * 16), pool * 16), (int(1.3 * w * 16), int(0.35 * w * 16)), 0, 0, 360,
                jitter(rng, (40, 80, 85), 15), -1, AA, 4)
    h = 2 * s
    streaks = cv2.resize(rng.normal(0, 1, (h // 8, max(w // 2, 1))).astype(np.float32), (max(w, 1), h),
                         interpolation=cv2.INTER_LINEAR)
    tex = (215 + 30 * np.tanh(streaks))[..., None] * np.array((0.93, 0.97, 1.0), np.float32)
    return {"x0": max(x0, 0), "x1": min(x0 + w, s), "dx": max(-x0, 0), "top": top, "pool": pool, "w": w,
            "tex": np.clip(tex, 0, 255).astype(np.uint8), "flow": rng.uniform(0.5, 2.0) * s}


def _pour(img: np.ndarray, t: float, fall: dict, rng: np.random.Generator) -> None:
    x0, x1, top, pool = fall["x0"], fall["x1"], fall["top"], fall["pool"]
    if x1 <= x0:
        return
    tex = fall["tex"]
    rows = (np.arange(top, pool) - int(fall["flow"] * t)) % len(tex)
    img[top:pool, x0:x1] = tex[rows, fall["dx"]:fall["dx"] + x1 - x0]
    cx, w = int((x0 + x1) / 2 * 16), fall["w"]
    foam = (int(0.8 * w * 16 * rng.uniform(0.9, 1.1)), int(0.22 * w * 16 * rng.uniform(0.8, 1.2)))
    cv2.ellipse(img, (cx, pool * 16), foam, 0, 0, 360, (235, 240, 245), -1, AA, 4)


def _occluder(s: int, rng: np.random.Generator) -> Callable[[np.ndarray], None] | None:
    """A third of the clips: a spectator's head and shoulders, or a post, in front of the camera."""
    if rng.random() >= 1 / 3:
        return None
    colour = jitter(rng, (40, 35, 30), 20)
    x, r = rng.uniform(0.1, 0.9) * s, rng.uniform(0.12, 0.22) * s
    if rng.random() < 0.6:
        def draw(img: np.ndarray) -> None:
            cv2.ellipse(img, (int(x), int(s - 0.3 * r)), (int(r), int(1.2 * r)), 0, 0, 360, colour, -1, AA)
            cv2.ellipse(img, (int(x), s), (int(2.5 * r), int(0.8 * r)), 0, 0, 360, colour, -1, AA)
    else:
        def draw(img: np.ndarray) -> None:
            cv2.rectangle(img, (int(x), 0), (int(x + 0.4 * r), s), jitter(rng, (110, 95, 80), 30), -1)
    return draw


def _camera(frames: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Exposure and white balance (per clip, drifting), defocus, sensor noise."""
    n = len(frames)
    out = frames.astype(np.float32)
    if rng.random() < 1 / 3:
        sigma = rng.uniform(0.6, 1.4)
        for f in out:
            cv2.GaussianBlur(f, (0, 0), sigma, dst=f)
    t = np.arange(n) / fps
    gain = rng.uniform(0.55, 1.25) * (1 + rng.uniform(0, 0.1) * np.sin(2 * np.pi * t / rng.uniform(2, 6)
                                                                         + rng.uniform(0, 2 * np.pi)))
    out *= (gain[:, None] * rng.lognormal(0, 0.07, 3)).astype(np.float32)[:, None, None, :]
    out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(rng.uniform(2, 9))
    return np.clip(out, 0, 255).astype(np.uint8)


def scene_kind(name: str, rng: np.random.Generator) -> str:
    """Where the source is filmed: outdoors (rain, water, aircraft, mowers), or for an
    instrument a room, a stage or outdoors."""
    return "outdoor" if name in OUTDOOR else str(rng.choice(("indoor", "stage", "outdoor")))


def render_video(name: str, src: Source, kind: str, n_frames: int, fps: float, size: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """Frames (n_frames, size, size, 3) uint8 RGB of the source ``name``, whose sound is
    ``src``, in a scene of ``kind`` (:func:`scene_kind`)."""
    s = size + 2 * PAD
    bg, horizon = _backdrop(kind, s, rng, overcast=name == "rain", lawn=name == "lawn_mower")
    st = object_style(name, src, rng)
    fall = _falls(bg, rng) if name == "waterfall" else None
    pose = None
    if name in DRAW:
        size_share, angle, height = POSES[name]
        scale = rng.uniform(*size_share) * s
        pose = Pose(rng.uniform(0.25, 0.75) * s, rng.uniform(*height) * s, scale, rng.uniform(*angle),
                    1 if rng.random() < 0.5 else -1)
        if name == "lawn_mower":  # pushed forward: start behind the centre
            pose.cx -= pose.flip * st["speed"] * scale * n_frames / fps / 2
    occlude = _occluder(s, rng)
    walk = np.cumsum(rng.normal(0, 1, (n_frames, 2)), 0)
    walk -= walk.mean(0)
    shake = np.round(walk / (np.abs(walk).max() + 1e-9) * rng.uniform(0, PAD)).astype(int)
    frames = np.empty((n_frames, size, size, 3), np.uint8)
    for i in range(n_frames):
        t = i / fps
        img = bg.copy()
        if name == "rain":
            _streaks(img, rng, st["count"], st["length"], st["wind"], st["colour"], st["alpha"])
        elif fall is not None:
            _pour(img, t, fall, rng)
        elif pose is not None:
            at = Pose(pose.cx, pose.cy, pose.scale, pose.angle, pose.flip)
            if name == "lawn_mower":  # rolling forward, shaking at the firing rate (aliased by the shutter)
                at.cx += pose.flip * st["speed"] * pose.scale * t
                at.cy += 0.006 * pose.scale * math.sin(2 * math.pi * src.rate * t)
            DRAW[name](Pen(img, at), t, src, st)
        if occlude is not None:
            occlude(img)
        dx, dy = shake[i]
        frames[i] = img[PAD + dy:PAD + dy + size, PAD + dx:PAD + dx + size]
    return _camera(frames, fps, rng)
