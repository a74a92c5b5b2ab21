"""The objects of the synthetic VGGSound video, drawn with anti-aliased OpenCV primitives
in object units and moving with their sound (why: :mod:`._scene` and docs/vggsound_data.md)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from mkepipe.experiments.vggsound._sound import INSTRUMENTS, Source

AA = cv2.LINE_AA
WOOD = ((150, 75, 30), (120, 55, 25), (170, 95, 40), (100, 45, 20))
FINISH = {"gold": (205, 165, 65), "silver": (195, 195, 200), "black": (35, 35, 38)}
PAINT = ((200, 30, 30), (230, 230, 230), (240, 200, 40), (50, 80, 50), (60, 60, 70), (30, 60, 150),
         (230, 120, 20), (40, 140, 50))
SKIN = ((230, 190, 160), (200, 150, 110), (150, 100, 70), (100, 70, 50))
FINGERINGS = ((), (2,), (1,), (1, 2), (2, 3), (1, 3), (1, 2, 3))  # valves pressed, by semitones below the open note


def jitter(rng: np.random.Generator, colour: tuple, k: float = 18.0) -> tuple:
    return tuple(float(np.clip(c + rng.uniform(-k, k), 0, 255)) for c in colour)


@dataclass
class Pose:
    """Object units → canvas pixels: scale (pixels per unit), rotation, mirror, centre."""

    cx: float
    cy: float
    scale: float
    angle: float  # degrees, clockwise on screen
    flip: int = 1


class Pen:
    """Draws in object units (u right, v down) at ``pose`` onto ``img`` (sub-pixel, shift 4)."""

    def __init__(self, img: np.ndarray, pose: Pose):
        self.img, self.p = img, pose
        a = math.radians(pose.angle)
        self.c, self.s = math.cos(a) * pose.scale, math.sin(a) * pose.scale

    def pts(self, uv) -> np.ndarray:
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        u, v = uv[:, 0] * self.p.flip, uv[:, 1]
        return (np.stack([self.p.cx + self.c * u - self.s * v, self.p.cy + self.s * u + self.c * v], 1) * 16
                ).astype(np.int32)

    def poly(self, uv, colour: tuple) -> None:
        cv2.fillPoly(self.img, [self.pts(uv)], colour, AA, 4)

    def line(self, a, b, colour: tuple, width: float) -> None:
        p = self.pts([a, b])
        cv2.line(self.img, tuple(p[0]), tuple(p[1]), colour, max(1, round(width * self.p.scale)), AA, 4)

    def ellipse(self, centre, axes, colour: tuple, angle: float = 0.0, alpha: float = 1.0) -> None:
        ax = (max(int(axes[0] * self.p.scale * 16), 8), max(int(axes[1] * self.p.scale * 16), 8))
        target = self.img if alpha >= 1 else self.img.copy()
        cv2.ellipse(target, tuple(self.pts(centre)[0]), ax, self.p.angle + self.p.flip * angle, 0, 360, colour, -1,
                    AA, 4)
        if alpha < 1:  # translucent: a spinning rotor's blur
            cv2.addWeighted(target, alpha, self.img, 1 - alpha, 0.0, dst=self.img)


def _note_at(notes: np.ndarray, t: float) -> int:
    """Index of the note sounding (or last begun) at ``t``; -1 before the first."""
    return int(np.searchsorted(notes[:, 0], t, side="right")) - 1 if len(notes) else -1


def _bow(notes: np.ndarray, t: float) -> float:
    """Bow position along its length (-1 … 1): one stroke per note, direction alternating."""
    i = _note_at(notes, t)
    if i < 0:
        return -1.0
    t0, t1 = notes[i, 0], notes[i, 1]
    p = min(max((t - t0) / max(t1 - t0, 1e-3), 0.0), 1.0)
    return (2 * p - 1) * (1 if i % 2 == 0 else -1)


def _semitone(notes: np.ndarray, t: float, floor_hz: float) -> float:
    i = _note_at(notes, t)
    return 12 * math.log2(notes[max(i, 0), 2] / floor_hz) if len(notes) else 0.0


def _strings(pen: Pen, t: float, src: Source, st: dict, cello: bool) -> None:
    wood, dark = st["wood"], tuple(0.55 * c for c in st["wood"])
    if cello:
        pen.line((0, 0.3), (0, 0.55), (150, 150, 155), 0.012)  # endpin
    pen.ellipse((0, 0.2), (0.21, 0.17), wood)
    pen.ellipse((0, -0.08), (0.17, 0.14), wood)
    pen.poly([(-0.15, -0.02), (0.15, -0.02), (0.15, 0.12), (-0.15, 0.12)], wood)
    pen.poly([(-0.13, 0.05), (-0.1, 0.02), (-0.1, 0.1), (-0.13, 0.12)], tuple(0.8 * c for c in wood))  # waist
    pen.poly([(0.13, 0.05), (0.1, 0.02), (0.1, 0.1), (0.13, 0.12)], tuple(0.8 * c for c in wood))
    for s in (-1, 1):
        pen.line((s * 0.07, 0.04), (s * 0.07, 0.17), (25, 15, 10), 0.012)  # f-holes
    pen.poly([(-0.025, -0.46), (0.025, -0.46), (0.04, 0.1), (-0.04, 0.1)], (22, 20, 20))  # fingerboard
    pen.poly([(-0.04, 0.22), (0.04, 0.22), (0.03, 0.36), (-0.03, 0.36)], (22, 20, 20))  # tailpiece
    pen.line((0, -0.46), (0, 0.3), (200, 200, 190), 0.006)
    pen.ellipse((0, -0.49), (0.035, 0.045), dark)  # scroll
    hand = 0.06 + 0.28 * min(_semitone(src.notes, t, st["floor"]) / 24, 1.0)  # shifting up the neck
    pen.ellipse((0.04, -0.42 + hand), (0.05, 0.035), st["skin"])
    b = 0.35 * _bow(src.notes, t)
    tilt = st["bow_tilt"]
    a, z = (b - 0.55, 0.14 - 0.55 * tilt), (b + 0.55, 0.14 + 0.55 * tilt)
    pen.line(a, z, (235, 230, 210), 0.01)  # hair
    pen.line((a[0], a[1] - 0.02), (z[0], z[1] - 0.02), (70, 40, 20), 0.012)  # stick
    pen.ellipse((a[0] + 0.03, a[1] - 0.01), (0.05, 0.04), st["skin"])


def _trumpet(pen: Pen, t: float, src: Source, st: dict) -> None:
    brass, dark = st["finish"], tuple(0.7 * c for c in st["finish"])
    pen.poly([(-0.5, -0.02), (0.25, -0.02), (0.25, 0.02), (-0.5, 0.02)], brass)
    pen.poly([(0.25, -0.025), (0.42, -0.07), (0.5, -0.15), (0.5, 0.15), (0.42, 0.07), (0.25, 0.025)], brass)
    pen.ellipse((0.5, 0), (0.018, 0.15), dark)
    pen.poly([(-0.3, 0.08), (0.2, 0.08), (0.2, 0.11), (-0.3, 0.11)], brass)
    for u in (-0.3, 0.2):
        pen.line((u, 0.02), (u, 0.1), brass, 0.03)
    pen.poly([(-0.56, -0.012), (-0.5, -0.02), (-0.5, 0.02), (-0.56, 0.012)], (200, 200, 205))
    i = _note_at(src.notes, t)
    pressed = FINGERINGS[int(round(_semitone(src.notes, t, 165.0))) % 7] if i >= 0 else ()
    for k, u in enumerate((-0.08, 0.0, 0.08), 1):
        pen.poly([(u - 0.022, -0.11), (u + 0.022, -0.11), (u + 0.022, 0.1), (u - 0.022, 0.1)], dark)
        top = -0.12 if k in pressed else -0.15
        pen.line((u, top), (u, -0.11), (200, 200, 205), 0.012)
        pen.ellipse((u, top), (0.02, 0.008), (235, 230, 220))
    pen.ellipse((0.0, -0.17), (0.09, 0.04), st["skin"])


def _saxophone(pen: Pen, t: float, src: Source, st: dict) -> None:
    brass, dark = st["finish"], tuple(0.7 * c for c in st["finish"])
    pen.line((0.0, -0.5), (0.02, -0.43), (20, 20, 20), 0.03)  # mouthpiece
    pen.line((0.02, -0.43), (0.07, -0.37), brass, 0.03)  # neck
    pen.poly([(0.05, -0.38), (0.09, -0.38), (0.16, 0.3), (0.04, 0.3)], brass)
    pen.ellipse((0.15, 0.3), (0.12, 0.09), brass)  # U-bend
    pen.poly([(0.17, 0.33), (0.27, 0.3), (0.38, 0.0), (0.18, 0.06)], brass)  # bell
    pen.ellipse((0.28, 0.02), (0.1, 0.03), dark, -15)
    semis = int(round(_semitone(src.notes, t, 104.0)))
    for k in range(7):  # more keys closed for lower notes
        closed = _note_at(src.notes, t) >= 0 and k >= semis % 8
        pen.ellipse((0.07 + 0.012 * k, -0.28 + 0.075 * k), (0.022, 0.022), dark if closed else (235, 230, 215))
    for v in (-0.2, 0.1):
        pen.ellipse((0.02, v), (0.05, 0.04), st["skin"])


def _helicopter(pen: Pen, t: float, src: Source, st: dict) -> None:
    paint = st["paint"]
    pen.poly([(-0.12, -0.035), (-0.5, -0.012), (-0.5, 0.012), (-0.12, 0.035)], paint)
    pen.poly([(-0.5, -0.01), (-0.46, -0.01), (-0.49, -0.1), (-0.52, -0.1)], paint)
    pen.ellipse((0.05, 0.0), (0.22, 0.11), paint)
    pen.ellipse((0.16, -0.02), (0.08, 0.06), (60, 80, 100))  # cockpit glass
    for u in (-0.1, 0.14):
        pen.line((u, 0.08), (u, 0.16), (50, 50, 50), 0.012)
    pen.line((-0.18, 0.16), (0.24, 0.16), (50, 50, 50), 0.018)
    pen.line((0.03, -0.11), (0.03, -0.15), (50, 50, 50), 0.02)
    pen.ellipse((-0.5, -0.03), (0.06, 0.06), (90, 90, 90), alpha=0.35)
    pen.ellipse((0.03, -0.15), (0.5, 0.5 * st["tilt"]), (70, 70, 70), alpha=0.2)
    phase = 2 * math.pi * src.rate * t + st["phase"]
    for k in range(src.blades):
        a = phase + 2 * math.pi * k / src.blades
        pen.line((0.03, -0.15), (0.03 + 0.5 * math.cos(a), -0.15 + 0.5 * st["tilt"] * math.sin(a)), (35, 35, 35),
                 0.012)


def _mower(pen: Pen, t: float, src: Source, st: dict) -> None:
    paint = st["paint"]
    if st["bag"]:
        pen.poly([(-0.24, 0.0), (-0.45, -0.12), (-0.52, 0.14), (-0.27, 0.2)], (50, 60, 45))
    pen.line((-0.22, 0.05), (-0.55, -0.4), (40, 40, 40), 0.025)
    pen.line((-0.58, -0.42), (-0.5, -0.45), (20, 20, 20), 0.03)
    pen.poly([(-0.25, 0.05), (0.3, 0.05), (0.34, 0.12), (0.3, 0.2), (-0.25, 0.2)], paint)
    pen.poly([(-0.1, -0.1), (0.15, -0.1), (0.15, 0.05), (-0.1, 0.05)], (45, 45, 48))
    pen.ellipse((0.02, -0.11), (0.05, 0.02), (200, 30, 30))
    roll = st["speed"] * t / 0.07
    for u in (-0.2, 0.25):
        pen.ellipse((u, 0.22), (0.07, 0.07), (25, 25, 25))
        pen.line((u, 0.22), (u + 0.04 * math.cos(roll), 0.22 + 0.04 * math.sin(roll)), (160, 160, 160), 0.015)


DRAW: dict[str, Callable[[Pen, float, Source, dict], None]] = {
    "violin": lambda pen, t, src, st: _strings(pen, t, src, st, cello=False),
    "cello": lambda pen, t, src, st: _strings(pen, t, src, st, cello=True),
    "trumpet": _trumpet, "saxophone": _saxophone, "helicopter": _helicopter, "lawn_mower": _mower,
}
POSES = {  # the object's unit length as a share of the frame, angle in degrees, centre height as a share
    "violin": ((0.45, 0.8), (50, 80), (0.3, 0.7)), "cello": ((0.55, 0.95), (-15, 15), (0.3, 0.7)),
    "trumpet": ((0.45, 0.8), (-25, 10), (0.3, 0.7)), "saxophone": ((0.45, 0.85), (-30, 10), (0.3, 0.7)),
    "helicopter": ((0.4, 0.85), (-10, 10), (0.2, 0.6)), "lawn_mower": ((0.45, 0.85), (-5, 5), (0.55, 0.8)),
}


def object_style(name: str, src: Source, rng: np.random.Generator) -> dict:
    """What one clip's object looks like."""
    finish = ("gold", "silver", "black")
    st: dict = {"skin": jitter(rng, SKIN[int(rng.integers(len(SKIN)))], 10)}
    if name in ("violin", "cello"):
        st.update(wood=jitter(rng, WOOD[int(rng.integers(len(WOOD)))], 12), floor=INSTRUMENTS[name].floor_hz,
                  bow_tilt=rng.uniform(-0.15, 0.15))
    elif name in ("trumpet", "saxophone"):
        p = (0.75, 0.25, 0.0) if name == "trumpet" else (0.7, 0.15, 0.15)
        st["finish"] = jitter(rng, FINISH[str(rng.choice(finish, p=p))], 12)
    elif name in ("helicopter", "lawn_mower"):
        st.update(paint=jitter(rng, PAINT[int(rng.integers(len(PAINT)))]), tilt=rng.uniform(0.08, 0.25),
                  phase=rng.uniform(0, 2 * np.pi), bag=rng.random() < 0.5, speed=rng.uniform(0.05, 0.3))
    elif name == "rain":  # heavier rain: more drops in each exposure
        st.update(count=int(np.clip(25 * np.log2(src.rate / 150), 15, 150)), length=rng.uniform(0.05, 0.12),
                  wind=rng.uniform(-25, 25), colour=jitter(rng, (215, 222, 232), 10), alpha=rng.uniform(0.4, 0.7))
    return st
