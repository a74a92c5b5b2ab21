"""Face rendering for the synthetic RAVDESS: a frontal cartoon face whose expression is a
set of facial action units (FACS AUs) that move over the clip, filmed under changing
light with a noisy camera.

Every property has a physical reason (docs/ravdess_data.md):

* **Actor.** Skin tone, face width, hair colour and style, eye spacing, mouth width, a
  resting brow height and mouth-corner curve, and an expressivity (0.45–1.15) are drawn
  once per actor; odd (male) actors get a jaw shadow of stubble of random strength. The
  resting face is part of the truth: a down-turned resting mouth reads as sad, a low
  brow as angry, and a weakly expressive actor's strong emotions look like another
  actor's normal ones — systematic confusions a per-frame classifier makes on every
  frame of that actor, which expansion cannot correct (DESIGN §2.6).
* **Expression as AUs** (:data:`PROTOTYPES`, after EMFACS): happy = lip-corner pull +
  cheek raise; sad = inner-brow raise + corner depressor + lowered lids; angry = brow
  lowerer + lid tightener + lip press; fearful = brows raised and drawn together + upper
  lid raise + lip stretch + open mouth; surprised = brows raised + upper lid raise + jaw
  drop (close to fearful); disgust = nose wrinkle + upper-lip raise + brow lowerer; calm
  = slightly lowered lids and a faint smile (close to neutral); neutral = none. Strong
  intensity reaches the prototype's apex, normal about half of it (× the actor's
  expressivity × ±15 % per clip).
* **Time course.** Actors start from a neutral face: the expression begins 0.3–0.8 s into
  the clip, rises over 0.3–0.8 s to its apex and decays by 10–30 % to the end. A frame at
  the onset shows a neutral or partial face: per-frame labels of one clip disagree.
* **Speech.** The jaw opens and the lips spread or round with the clip's own vowels
  (:meth:`Utterance.mouth`, same timing as the audio, articulators leading the sound by
  ~40 ms): mid-syllable frames hide lip-press and mimic the open mouth of surprise or
  fear; /ɪ/ spreads the lips like a faint smile.
* **Nuisances that change from frame to frame:** eye blinks (0.25–0.45 Hz, 100–200 ms),
  head pose (slow yaw, roll ±4°, translation), light direction and brightness drifting
  slowly within a clip and differing between clips (Lambertian shading of the head
  ellipsoid plus ambient), white-balance tint, sensor noise (σ 1.5–5 DN), and, in the
  file, H.264 compression.

A frame is drawn with anti-aliased OpenCV primitives at sub-pixel precision directly at
the frame size (about 30 primitives), then lit and noised with numpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

AUS = ("inner_brow_raise", "outer_brow_raise", "brow_lower", "upper_lid_raise", "lid_tighten", "lid_drop",
       "cheek_raise", "corner_pull", "corner_depress", "lip_press", "lip_stretch", "jaw_drop", "nose_wrinkle",
       "upper_lip_raise")
_I = {name: i for i, name in enumerate(AUS)}
PROTOTYPES = {  # AU activation at a strong apex
    "neutral": {},
    "calm": {"lid_drop": 0.3, "corner_pull": 0.15},
    "happy": {"corner_pull": 1.0, "cheek_raise": 0.8, "jaw_drop": 0.2},
    "sad": {"inner_brow_raise": 0.9, "brow_lower": 0.3, "corner_depress": 0.8, "lid_drop": 0.5},
    "angry": {"brow_lower": 1.0, "lid_tighten": 0.8, "lip_press": 0.8, "upper_lid_raise": 0.3},
    "fearful": {"inner_brow_raise": 0.8, "outer_brow_raise": 0.7, "brow_lower": 0.4, "upper_lid_raise": 0.9,
                "lip_stretch": 0.8, "jaw_drop": 0.5},
    "disgust": {"nose_wrinkle": 0.9, "upper_lip_raise": 0.8, "brow_lower": 0.4, "corner_depress": 0.3,
                "lid_tighten": 0.3},
    "surprised": {"inner_brow_raise": 0.8, "outer_brow_raise": 0.9, "upper_lid_raise": 0.8, "jaw_drop": 0.9},
}
INTENSITY_SCALE = {1: 0.55, 2: 1.0}
HAIR = np.array([[25, 20, 18], [60, 40, 25], [110, 75, 40], [170, 140, 90], [140, 60, 30], [150, 150, 150]], float)
SKIN = np.array([[240, 200, 175], [225, 180, 150], [200, 150, 115], [160, 110, 80], [110, 75, 55]], float)
SHIRT = (28, 28, 32)  # RAVDESS actors wear black t-shirts before a white wall


@dataclass(frozen=True)
class FaceActor:
    skin: tuple
    hair: tuple
    background: tuple
    face_w: float  # half-width / half-height of the face ellipse
    long_hair: bool
    eye_dx: float
    eye_y: float
    eye_h: float
    mouth_w: float
    brow_rest: float  # + = lower (sterner) resting brow
    mouth_rest: float  # + = down-turned resting corners
    beard: float
    expressivity: float


def sample_face_actor(rng: np.random.Generator, male: bool) -> FaceActor:
    mix = rng.uniform(0, len(SKIN) - 1)
    lo = int(mix)
    skin = SKIN[lo] + (mix - lo) * (SKIN[min(lo + 1, len(SKIN) - 1)] - SKIN[lo])
    hair = HAIR[rng.integers(len(HAIR))] * rng.uniform(0.85, 1.15)
    wall = rng.uniform(200, 235)
    return FaceActor(skin=tuple(skin), hair=tuple(np.clip(hair, 0, 255)), background=(wall, wall, wall - 4),
                     face_w=float(rng.uniform(0.72, 0.84) * (1.03 if male else 1.0)),
                     long_hair=bool(rng.random() < (0.15 if male else 0.8)),
                     eye_dx=float(rng.uniform(0.30, 0.38)), eye_y=float(rng.uniform(-0.18, -0.08)),
                     eye_h=float(rng.uniform(0.85, 1.1)), mouth_w=float(rng.uniform(0.26, 0.34)),
                     brow_rest=float(rng.uniform(-0.04, 0.04)), mouth_rest=float(rng.uniform(-0.035, 0.035)),
                     beard=float(rng.uniform(0.0, 0.35)) if male else 0.0,
                     expressivity=float(rng.uniform(0.45, 1.15)))


def _smooth_walk(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Two slow sinusoids (0.1–0.6 Hz) with random phases: head sway, light drift."""
    out = np.zeros_like(t)
    for _ in range(2):
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / 1.5


@dataclass
class ClipMotion:
    """Per-frame state of one clip: AU activations (F, n_AU), blink closure, pose, light."""

    aus: np.ndarray
    blink: np.ndarray
    yaw: np.ndarray
    roll: np.ndarray
    shift: np.ndarray  # (F, 2) in face units
    light: np.ndarray  # (F, 3) unit direction
    exposure: np.ndarray
    ambient: float
    tint: np.ndarray
    noise_dn: float


def clip_motion(actor: FaceActor, emotion: str, intensity: int, t: np.ndarray, rng: np.random.Generator,
                speech: tuple[np.ndarray, np.ndarray] | None = None) -> ClipMotion:
    """Sample the clip's time course at the frame times ``t`` (s); ``speech`` = (jaw
    opening, lip spreading) at those times."""
    proto = np.zeros(len(AUS))
    for name, value in PROTOTYPES[emotion].items():
        proto[_I[name]] = value * rng.uniform(0.8, 1.2)
    apex = proto * INTENSITY_SCALE[intensity] * actor.expressivity * rng.uniform(0.85, 1.15)
    t_on, rise, decay = rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8), rng.uniform(0.1, 0.3)
    x = np.clip((t - t_on) / rise, 0.0, 1.0)
    t_apex, t_end = t_on + rise, max(t[-1], t_on + rise + 1e-3)
    profile = x * x * (3 - 2 * x) * (1 - decay * np.clip((t - t_apex) / (t_end - t_apex), 0, 1))
    aus = profile[:, None] * apex[None, :]
    aus += np.abs(_smooth_walk(rng, t, 0.04))[:, None] * (apex > 0)  # micro-movements around the held face
    if speech is not None:
        opening, spread = speech
        aus[:, _I["jaw_drop"]] = np.maximum(aus[:, _I["jaw_drop"]], 0.55 * opening)
        aus[:, _I["lip_stretch"]] += 0.25 * np.clip(spread, 0, None)
        aus[:, _I["lip_press"]] *= 1 - np.clip(opening, 0, 1)  # lips cannot press while they part
    blink = np.zeros_like(t)
    tb = rng.uniform(-0.2, 0.5)
    while tb < t[-1] + 0.2:
        dur = rng.uniform(0.1, 0.2)
        w = np.clip((t - tb) / dur, 0, 1)
        blink = np.maximum(blink, np.sin(np.pi * w) ** 2)
        tb += dur + rng.exponential(1 / rng.uniform(0.25, 0.45))
    az = np.radians(rng.uniform(-50, 50)) + np.radians(_smooth_walk(rng, t, 8.0))
    el = np.radians(rng.uniform(10, 45)) + np.radians(_smooth_walk(rng, t, 5.0))
    light = np.stack([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)], axis=1)
    return ClipMotion(aus=aus, blink=blink, yaw=_smooth_walk(rng, t, 0.10), roll=_smooth_walk(rng, t, 0.07),
                      shift=np.stack([_smooth_walk(rng, t, 0.06), _smooth_walk(rng, t, 0.04)], axis=1),
                      light=light, exposure=rng.uniform(0.8, 1.15) * (1 + _smooth_walk(rng, t, 0.04)),
                      ambient=float(rng.uniform(0.35, 0.6)), tint=rng.uniform(0.94, 1.06, 3).astype(np.float32),
                      noise_dn=float(rng.uniform(1.5, 5.0)))


def _scale(colour: tuple, k: float) -> tuple:
    return tuple(min(c * k, 255.0) for c in colour)


class FaceRenderer:
    """Draws one actor's frames at (height, width)."""

    def __init__(self, actor: FaceActor, height: int, width: int):
        self.a, self.h, self.w = actor, height, width
        self.r = 0.40 * height  # face half-height in pixels: a close-up, as the RAVDESS camera frames the head
        self.c = np.array([width / 2, height / 2 + 0.03 * height])
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        nx = (xs - self.c[0]) / (self.r * actor.face_w * 1.1)
        ny = (ys - self.c[1]) / (self.r * 1.15)
        inside = nx ** 2 + ny ** 2 < 1
        nz = np.sqrt(np.clip(1 - nx ** 2 - ny ** 2, 0, 1))
        flat = np.array([0, 0, 1], np.float32)[:, None, None]
        self.normals = np.where(inside[None], np.stack([nx, ny, nz]), flat).astype(np.float32)
        self.surface = inside.astype(np.float32)
        self.wall = (1 - self.surface) * np.float32(0.9)
        skin = np.array(actor.skin)
        lips = skin * [0.78, 0.5, 0.52]
        self.colours = {name: tuple(float(c) for c in np.clip(v, 0, 255)) for name, v in {
            "neck": 0.8 * skin, "stubble": (1 - actor.beard) * skin + actor.beard * np.array(actor.hair),
            "cheek": skin + [12, 0, 0], "lid": 0.45 * skin, "brow": 0.6 * np.array(actor.hair), "nose": 0.55 * skin,
            "nostril": 0.4 * skin, "lips": lips, "lip_line": 0.45 * lips}.items()}
        bg = np.empty((height, width, 3), np.uint8)
        bg[:] = np.array(actor.background, np.uint8)
        self.background = bg

    def frame(self, m: ClipMotion, i: int, noise: np.ndarray) -> np.ndarray:
        a, r = self.a, self.r
        au = dict(zip(AUS, m.aus[i].tolist()))
        yaw, roll = float(m.yaw[i]), float(m.roll[i])
        sx, sy = float(m.shift[i, 0]), float(m.shift[i, 1])
        deg = math.degrees(roll)
        cr, sr = math.cos(roll) * r * 16, math.sin(roll) * r * 16  # fixed point: cv2 shift 4
        cx, cy = self.c[0] * 16, self.c[1] * 16
        img = self.background.copy()
        aa = cv2.LINE_AA
        skin, col = a.skin, self.colours

        def ell(center, axes, color, depth=0.0, start=0, end=360, thick=-1):
            """Face units → pixels: yaw moves a feature by its depth, then roll and shift."""
            u, v = center[0] + yaw * depth + sx, center[1] + sy
            p = (int(cx + cr * u - sr * v), int(cy + sr * u + cr * v))
            ax = (max(int(axes[0] * r * 16), 1), max(int(axes[1] * r * 16), 1))
            cv2.ellipse(img, p, ax, deg, start, end, color, thick, aa, 4)

        def poly(uv, color, depth=0.0, closed=True, thick=-1):
            uv = np.asarray(uv, np.float64)
            u, v = uv[:, 0] + (yaw * depth + sx), uv[:, 1] + sy
            p = np.empty(uv.shape, np.int32)
            p[:, 0] = cx + cr * u - sr * v
            p[:, 1] = cy + sr * u + cr * v
            if thick < 0:
                cv2.fillPoly(img, [p], color, aa, 4)
            else:
                cv2.polylines(img, [p], closed, color, thick, aa, 4)

        fw = a.face_w
        jaw = au["jaw_drop"]
        poly([[-1.9, 1.9], [-1.5, 1.25], [-0.4, 1.05], [0.4, 1.05], [1.5, 1.25], [1.9, 1.9]], SHIRT)
        poly([[-0.33, 0.6], [0.33, 0.6], [0.38, 1.15], [-0.38, 1.15]], col["neck"])
        if a.long_hair:
            ell((0, -0.05), (fw + 0.2, 1.12), a.hair, -0.1)
            poly([[-fw - 0.2, -0.05], [fw + 0.2, -0.05], [fw + 0.25, 1.2], [-fw - 0.25, 1.2]], a.hair, -0.1)
        else:
            ell((0, -0.2), (fw + 0.07, 0.9), a.hair, -0.1)
        ell((0, 0), (fw, 1.0), skin, 0.0, 180, 360)  # upper half of the face
        ell((0, 0), (fw, 1.0 + 0.12 * jaw), skin, 0.0, 0, 180)  # lower half: the chin drops with the jaw
        if a.beard > 0:
            ell((0, 0.2), (fw * 0.92, 0.8 + 0.12 * jaw), col["stubble"], 0.1, 0, 180)
        ell((0, -0.62), (fw * 0.98, 0.42), a.hair, 0.05, 180, 360)  # fringe
        # cheeks: the raise bunches them up and catches the light
        cheek = _scale(col["cheek"], 1.0 + 0.12 * au["cheek_raise"])
        for s in (-1, 1):
            ell((s * 0.4, 0.18 - 0.06 * au["cheek_raise"]), (0.15, 0.09 + 0.03 * au["cheek_raise"]), cheek, 0.25)
        # eyes
        open_ = a.eye_h * (1 + 0.7 * au["upper_lid_raise"] - 0.45 * au["lid_tighten"] - 0.45 * au["lid_drop"]
                           - 0.25 * au["cheek_raise"] - 0.2 * au["nose_wrinkle"])
        open_ = max(open_, 0.0) * (1 - m.blink[i])
        for s in (-1, 1):
            c = (s * a.eye_dx, a.eye_y)
            if open_ > 0.05:
                ell(c, (0.11, 0.06 * open_), (240, 238, 232), 0.3)
                ell(c, (0.045, min(0.045, 0.06 * open_)), (45, 35, 30), 0.33)
            ell(c, (0.115, 0.06 * max(open_, 0.15)), col["lid"], 0.3, 180, 360, 1)
        # brows: inner raise lifts the inner ends, outer raise the rest, lowerer pulls them down and together
        for s in (-1, 1):
            xi, xm, xo = a.eye_dx - 0.13 + 0.05 * au["brow_lower"], a.eye_dx, a.eye_dx + 0.14
            base = a.eye_y - 0.19 + a.brow_rest
            yi = base - 0.10 * au["inner_brow_raise"] + 0.08 * au["brow_lower"] - 0.03 * au["outer_brow_raise"]
            ym = base - 0.04 - 0.04 * au["inner_brow_raise"] - 0.09 * au["outer_brow_raise"] + 0.05 * au["brow_lower"]
            yo = base - 0.01 - 0.09 * au["outer_brow_raise"] + 0.02 * au["brow_lower"]
            poly([[s * xi, yi], [s * xm, ym], [s * xo, yo], [s * xo, yo + 0.04], [s * xm, ym + 0.06],
                  [s * xi, yi + 0.06]], col["brow"], 0.28)
        if au["brow_lower"] > 0.1:  # vertical furrows between the brows
            shade = _scale(skin, 1 - 0.35 * min(au["brow_lower"], 1))
            for s in (-1, 1):
                poly([[s * 0.05, a.eye_y - 0.2], [s * 0.04, a.eye_y - 0.07]], shade, 0.3, False, 1)
        # nose: wrinkle lines on the bridge, nostrils lifted and flared
        nw = au["nose_wrinkle"]
        poly([[0.0, a.eye_y + 0.05], [0.04, 0.2], [0.0, 0.24]], col["nose"], 0.5, False, 1)
        for s in (-1, 1):
            ell((s * 0.065, 0.26 - 0.03 * nw), (0.04 + 0.015 * nw, 0.02), col["nostril"], 0.45)
        if nw > 0.1:
            shade = _scale(skin, 1 - 0.4 * min(nw, 1))
            for k in range(2):
                y = a.eye_y + 0.09 + 0.06 * k
                poly([[-0.07, y], [0.07, y]], shade, 0.45, False, 1)
        # nasolabial folds deepen with smiling and upper-lip raising
        fold = min(0.15 + 0.6 * au["corner_pull"] + 0.6 * au["upper_lip_raise"], 1.0)
        shade = _scale(skin, 1 - 0.3 * fold)
        mw = a.mouth_w * (1 + 0.25 * au["corner_pull"] + 0.3 * au["lip_stretch"] - 0.15 * au["lip_press"])
        for s in (-1, 1):
            poly([[s * 0.14, 0.22], [s * (mw + 0.06), 0.5]], shade, 0.3, False, 1)
        # mouth: corners, upper-lip raise, lip press (thin lips), jaw opening
        y0 = 0.52
        yc = y0 - 0.10 * au["corner_pull"] + 0.09 * au["corner_depress"] + a.mouth_rest + 0.02 * au["lip_stretch"]
        lip = 0.045 * (1 - 0.7 * min(au["lip_press"], 1))
        gap = 0.24 * jaw
        top = y0 - 0.065 * au["upper_lip_raise"]
        xs = np.linspace(-mw, mw, 9)
        bend = 1 - (xs / mw) ** 2  # 0 at the corners, 1 in the middle
        inner_top = yc + (top - yc) * bend
        inner_bot = yc + (y0 + gap - yc) * bend
        outer_top = inner_top - lip * bend - 0.01
        outer_bot = inner_bot + 1.2 * lip * bend + 0.01
        lips = col["lips"]
        poly(np.concatenate([np.stack([xs, outer_top], 1), np.stack([xs, outer_bot], 1)[::-1]]), lips, 0.35)
        if gap > 0.012 or au["upper_lip_raise"] > 0.15:
            poly(np.concatenate([np.stack([xs, inner_top], 1), np.stack([xs, inner_bot + 0.008], 1)[::-1]]),
                 (60, 20, 25), 0.35)
            teeth = np.minimum(inner_top + 0.05 * bend, inner_bot)
            poly(np.concatenate([np.stack([xs, inner_top], 1), np.stack([xs, teeth], 1)[::-1]]), (235, 230, 215),
                 0.35)
        else:
            poly(np.stack([xs, 0.5 * (inner_top + inner_bot)], 1), col["lip_line"], 0.35, False, 1)

        lx, ly, lz = m.light[i].tolist()
        nx, ny, nz = self.normals
        diffuse = cv2.max(cv2.addWeighted(nx, lx, ny, ly, 0.0) + lz * nz, 0.0)
        gain = (m.ambient + (1 - m.ambient) * diffuse) * self.surface + self.wall  # the wall: mostly ambient
        k = m.exposure[i] * m.tint
        out = cv2.multiply(img, cv2.merge([gain * k[0], gain * k[1], gain * k[2]]), dtype=cv2.CV_32F)
        out += noise  # already scaled to the clip's noise level
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)


def render_clip(actor: FaceActor, motion: ClipMotion, height: int, width: int, rng: np.random.Generator,
                renderer: FaceRenderer | None = None) -> np.ndarray:
    """All frames of a clip, (F, H, W, 3) uint8 RGB. Sensor noise comes from 8 noise
    fields per clip, each frame a random crop of one: independent-looking, 10x cheaper."""
    renderer = renderer or FaceRenderer(actor, height, width)
    pad = 16
    bank = rng.standard_normal((8, height + pad, width + pad, 3), dtype=np.float32)
    bank *= np.float32(motion.noise_dn)
    n = len(motion.blink)
    picks, offs = rng.integers(0, 8, n), rng.integers(0, pad, (n, 2))
    return np.stack([renderer.frame(motion, i, bank[picks[i], offs[i, 0]:offs[i, 0] + height,
                                                    offs[i, 1]:offs[i, 1] + width]) for i in range(n)])
