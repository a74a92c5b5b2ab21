"""The synthetic embedded default: an indoor RGB-D dataset written in NYU's own formats.

:func:`write_synthetic_nyu` renders random furnished rooms (``_layout``, ``_render``)
and writes

* ``nyu_depth_v2_labeled.mat`` — MATLAB v7.3 with reversed axes, filled ``depths`` and
  uint16 ``labels`` in the 894-id space, plus ``scenes``/``sceneTypes`` cell arrays;
* ``splits/{train,test,val}_indices_1based.txt`` — D_l, test and validation frames of that file
  (the ``n_val`` validation frames come last, so D_l and test do not depend on them);
* ``raw/<scene>/`` — raw-style video for D_u: ``r-*.ppm``, byte-swapped ``d-*.pgm``
  Kinect disparity with holes, ``a-*.dump``, ``INDEX.txt`` (left out in some scenes),
  RGB/depth timestamps a few ms apart and a few dropped RGB frames;
* ``raw_truth/<scene>/<depth stem>.png`` — D_u's 40-class truth (0 = void), set aside
  for the MM (sup) bound and label-quality reports only;
* ``synth.json`` — the parameters, written last (a complete dataset has it).

Two appearances (``docs/nyu_data.md``): ``material`` lights each room once, so a
surface looks the same in every frame; ``illumination`` (the default) relights every
frame — daylight strength and direction, cast shadows, highlights on glossy finishes —
and films it with a camera that meters, white-balances, vignettes, adds sensor noise and
sometimes smears a pan. Geometry, depth, its holes and the labels are the same in both.

Every frame draws from its own generators seeded by (seed, part, index): the output is
a function of the parameters alone.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from mkepipe.data.synthetic import begin_synthetic_dir, finish_synthetic_dir
from mkepipe.experiments.nyu._layout import (
    MATERIALS,
    camera_path,
    sample_camera,
    sample_frame_light,
    sample_room,
    sample_room_lights,
)
from mkepipe.experiments.nyu._render import (
    Camera,
    FrameLight,
    Lighting,
    Room,
    cast,
    cct_rgb,
    shade,
    shade_lit,
    smooth_noise,
    surface_table,
)
from mkepipe.experiments.nyu.hha import NYU_RGB, Intrinsics
from mkepipe.experiments.nyu.labeled_mat import LabeledMatWriter, write_split_indices
from mkepipe.experiments.nyu.png_layout import encode_png
from mkepipe.experiments.nyu.raw_scenes import encode_depth, encode_pnm, frame_name, metres_to_raw, raw_to_metres

MAT_NAME = "nyu_depth_v2_labeled.mat"
SYNTH_VERSION = 2
T0 = 1294439283.0  # the epoch of the real raw dumps (January 2011)
_PART = {"labeled": 1, "raw": 2, "noise": 3, "labeled_light": 4, "raw_light": 5, "val": 6, "val_light": 7}
APPEARANCES = ("illumination", "material")


def _rng(seed: int, part: str, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, _PART[part], index])


AE_TARGET_DN = 70.0  # mean luminance the auto exposure aims at: the material appearance's average
DN_PER_ELECTRON = 255.0 / 6000.0  # 8-bit full scale at a small-pixel sensor's ~6000 e- full well, unity gain
READ_NOISE_DN = 2.0  # at unity gain; the material appearance's flat noise
FRAME_TIME_S = 1.0 / 30.0  # the longest exposure at 30 fps
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709 luminance of linear RGB
_AWB_KELVIN = np.arange(2500.0, 7501.0, 100.0)  # the illuminants the white balance can correct
_AWB_LOG_RATIOS = np.log(np.stack([cct_rgb(t) for t in _AWB_KELVIN]))


def _white_balance(radiance: np.ndarray) -> np.ndarray:
    """Auto white balance on a coarse grid of the frame, as camera pipelines gather it:
    grey-world over the near-grey pixels (colour within 25 % of the current illuminant
    estimate, refined twice from the mean of all), read as the nearest 2500–7500 K
    Planckian light, whose gains it applies (luminance kept)."""
    px = radiance[::4, ::4].reshape(-1, 3)
    estimate = px.mean(axis=0)
    for _ in range(2):
        r, g, b = (px / np.maximum(estimate, 1e-6)).T
        grey = np.maximum(np.maximum(r, g), b) < 1.25 * np.minimum(np.minimum(r, g), b)
        if grey.mean() > 0.01:
            estimate = px[grey].mean(axis=0)
    ratios = np.log(np.maximum(estimate, 1e-6)) - np.log(max(float(estimate @ _LUMA), 1e-6))
    best = np.argmin(((_AWB_LOG_RATIOS - ratios) ** 2).sum(axis=1))
    gains = 1.0 / cct_rgb(_AWB_KELVIN[best])
    return (gains / (gains @ _LUMA)).astype(np.float32)


def develop(lin: np.ndarray, k: Intrinsics, light: Lighting, pan: float, z: np.ndarray) -> np.ndarray:
    """The RGB camera of the ``illumination`` appearance: linear radiance → uint8 RGB.

    Natural vignetting (cos⁴ of the angle off the optical axis: ~40 % in the corners at
    NYU's field of view); average-metering auto exposure towards ``AE_TARGET_DN`` with
    the room's metering bias (``light.exposure``), shortening the exposure in bright
    frames and adding analog gain in dim ones; horizontal motion blur over the exposure
    time when the camera pans (``pan`` degrees/s); Poisson-Gaussian sensor noise from the
    standard normals ``z`` (shot noise grows with the gain, so dark frames and corners
    are noisier); white balance (:func:`_white_balance`), which errs with what is in view.
    """
    h, w = lin.shape[:2]
    tan2 = ((np.arange(1, w + 1) - k.cx) / k.fx)[None, :] ** 2 + ((np.arange(1, h + 1) - k.cy) / k.fy)[:, None] ** 2
    radiance = lin * (1.0 / (1.0 + tan2) ** 2).astype(np.float32)[:, :, None] * np.float32(220.0)  # cos⁴
    gain = light.exposure * AE_TARGET_DN / max(float((radiance @ _LUMA).mean()), 1e-6)
    exposure_s, analog = FRAME_TIME_S * min(gain, 1.0), max(gain, 1.0)
    streak = int(round(np.radians(pan) * exposure_s * k.fx))  # pixels swept while the shutter is open
    if streak > 1:
        radiance = cv2.blur(radiance, (streak, 1))
    signal = radiance * np.float32(gain)
    sigma = np.sqrt(analog * DN_PER_ELECTRON * signal + (analog * READ_NOISE_DN) ** 2)
    balanced = (signal + sigma * z) * _white_balance(radiance)
    return np.clip(np.rint(balanced), 0, 255).astype(np.uint8)


def _void_boundaries(label: np.ndarray) -> np.ndarray:
    """Pixels within ~1 px of a label boundary: annotators leave these unlabeled."""
    edge = np.zeros(label.shape, bool)
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    edge[1:, :] |= label[1:, :] != label[:-1, :]
    return cv2.dilate(edge.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def render_frame(room: Room, light: Lighting, cam: Camera, shape: tuple[int, int], rng: np.random.Generator,
                 noise_tex: np.ndarray, frame_light: FrameLight | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8, depth float32 metres, labels40 uint8 0 = void, labels894 uint16 0 = unlabeled).

    Without ``frame_light`` the ``material`` appearance (the room's ``light``, a fixed
    vignette and flat noise); with it the ``illumination`` appearance (:func:`shade_lit`
    and :func:`develop`). Both draw the same numbers from ``rng``, so depth and labels
    do not depend on the appearance. Depth carries Kinect-like noise (σ = 1.5 mm·Z²) and
    the quantisation of its raw disparity, in the labeled frames too: NYU's filled depths
    come from the same sensor, which projects its own infrared pattern and so does not
    see the room's lighting.
    """
    h, w = shape
    k = NYU_RGB.scaled(h, w)
    hits = cast(room, cam, k, shape)
    gains = 1.0 + rng.uniform(-0.06, 0.06, size=6 + len(room.boxes)).astype(np.float32)
    if frame_light is None:
        lin = shade(hits, room, MATERIALS, light, noise_tex, gains)
        yy, xx = np.mgrid[0:h, 0:w]
        vignette = 1.0 - 0.25 * (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2) / 2
        rgb = lin * vignette[:, :, None] * 220.0 + rng.normal(0.0, 2.0, size=lin.shape)
        rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    else:
        lin = shade_lit(hits, room, MATERIALS, frame_light, noise_tex, gains, cam.position)
        rgb = develop(lin, k, light, frame_light.pan, rng.normal(0.0, 1.0, size=lin.shape).astype(np.float32))
    depth = hits.depth + 0.0015 * hits.depth ** 2 * rng.normal(size=hits.depth.shape).astype(np.float32)
    depth = raw_to_metres(metres_to_raw(depth))  # the Kinect's disparity quantisation
    labels40 = surface_table(room, "label40")[hits.surface].astype(np.uint8)
    labels894 = surface_table(room, "raw_id")[hits.surface].astype(np.uint16)
    void = _void_boundaries(labels40)
    labels40[void] = 0
    labels894[void] = 0
    return rgb, depth.astype(np.float32), labels40, labels894


def frame_lights(appearance: str, rng: np.random.Generator, light: Lighting) -> Iterator[FrameLight | None]:
    """Endless per-frame lighting of one room: None (``material``: the room's ``light``
    throughout) or a fresh :class:`FrameLight` per frame, drawn from ``rng`` alone."""
    room = sample_room_lights(rng, light) if appearance == "illumination" else None
    while True:
        yield None if room is None else sample_frame_light(rng, room)


def kinect_holes(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Missing-measurement mask like a Kinect's: projector shadows right of depth edges,
    a few blobs (dark or shiny surfaces), nothing beyond 8 m."""
    h, w = depth.shape
    jump = np.zeros(depth.shape, bool)
    jump[:, 1:] = (depth[:, 1:] - depth[:, :-1]) > 0.25
    shadow = cv2.dilate(jump.astype(np.uint8), np.ones((1, max(1, w // 160)), np.uint8), anchor=(0, 0)) > 0
    blobs = np.zeros(depth.shape, np.uint8)
    for _ in range(rng.integers(0, 5)):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (int(rng.integers(2, max(3, w // 25))), int(rng.integers(2, max(3, h // 25))))
        cv2.ellipse(blobs, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return shadow | (blobs > 0) | (depth > 8.0)


def write_synthetic_nyu(out_dir: str | Path, *, n_labeled: int = 120, n_test: int = 60, n_val: int = 0,
                        n_scenes: int = 20,
                        frames_per_scene: int = 20, height: int = 480, width: int = 640, seed: int = 0,
                        palette_size: int = 3, class_affinity: float = 0.8, fps: float = 10.0,
                        rgb_drop: float = 0.03, appearance: str = "illumination",
                        compression: int | None = 3) -> dict:
    """Write the synthetic dataset into ``out_dir`` (see the module docstring); returns
    ``synth.json``'s content. Deterministic for its arguments; ``appearance`` changes
    the RGB images only."""
    params = {"version": SYNTH_VERSION, "n_labeled": n_labeled, "n_test": n_test, "n_val": n_val,
              "n_scenes": n_scenes,
              "frames_per_scene": frames_per_scene, "height": height, "width": width, "seed": seed,
              "palette_size": palette_size, "class_affinity": class_affinity, "fps": fps, "rgb_drop": rgb_drop,
              "appearance": appearance}
    if appearance not in APPEARANCES:
        raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
    if not 2 <= palette_size <= len(MATERIALS) - 2:
        raise ValueError(f"palette_size must be in 2..{len(MATERIALS) - 2}, got {palette_size}")
    if not 0.0 <= class_affinity <= 1.0:
        raise ValueError(f"class_affinity must be in [0, 1], got {class_affinity}")
    out = begin_synthetic_dir(out_dir)
    noise_tex = smooth_noise(_rng(seed, "noise"))
    shape = (height, width)

    n = n_labeled + n_test
    scenes, types = [], []
    with LabeledMatWriter(out / MAT_NAME, n + n_val, height, width, compression=compression) as mat:
        for i in range(n + n_val):  # validation frames come after, so train and test do not depend on n_val
            part = "labeled" if i < n else "val"
            rng = _rng(seed, part, i - (0 if i < n else n))
            room, light, kind = sample_room(rng, palette_size=palette_size, class_affinity=class_affinity)
            lights = frame_lights(appearance, _rng(seed, f"{part}_light", i - (0 if i < n else n)), light)
            rgb, depth, _, labels894 = render_frame(room, light, sample_camera(rng, room.size), shape, rng, noise_tex,
                                                    next(lights))
            mat.write(i, rgb, depth, labels894)
            scenes.append(f"{kind}_{1001 + i:04d}")
            types.append(kind)
        mat.write_cellstr("scenes", scenes)
        mat.write_cellstr("sceneTypes", types)
    order = _rng(seed, "labeled", n).permutation(n) + 1
    write_split_indices(out / "splits", np.sort(order[:n_labeled]), np.sort(order[n_labeled:]),
                        np.arange(n + 1, n + n_val + 1))

    dropped = 0
    for s in range(n_scenes):
        rng = _rng(seed, "raw", s)
        room, light, kind = sample_room(rng, palette_size=palette_size, class_affinity=class_affinity)
        lights = frame_lights(appearance, _rng(seed, "raw_light", s), light)
        scene = f"{kind}_{s + 1:04d}"
        scene_dir, truth_dir = out / "raw" / scene, out / "raw_truth" / scene
        scene_dir.mkdir(parents=True, exist_ok=True)
        truth_dir.mkdir(parents=True, exist_ok=True)
        t0 = T0 + 3600.0 * s + float(rng.uniform(0, 1))
        for j, cam in enumerate(camera_path(rng, room.size, frames_per_scene)):
            rgb, depth, labels40, _ = render_frame(room, light, cam, shape, rng, noise_tex, next(lights))
            depth[kinect_holes(depth, rng)] = 0.0
            t_d = t0 + j / fps + float(rng.uniform(-0.003, 0.003))
            counter = 2016681662 + int(round((t_d - t0) * 1e6))
            d_name = frame_name("d", t_d, counter)
            (scene_dir / d_name).write_bytes(encode_depth(depth))
            if rng.random() < rgb_drop:
                dropped += 1
            else:
                t_r = t_d + float(rng.uniform(-0.015, 0.015))
                (scene_dir / frame_name("r", t_r, counter + 7)).write_bytes(encode_pnm(rgb))
            t_a = t_d + float(rng.uniform(-0.01, 0.01))
            accel = np.array([0.0, -9.81, 0.0, cam.pitch], np.float64) + rng.normal(0, 0.02, 4)
            (scene_dir / frame_name("a", t_a, counter + 3)).write_bytes(accel.tobytes())
            (truth_dir / f"{Path(d_name).stem}.png").write_bytes(encode_png(labels40))
        if s % 5 != 4:  # INDEX.txt is missing from some real dumps too
            (scene_dir / "INDEX.txt").write_text("".join(f"{p.name}\n" for p in sorted(scene_dir.iterdir())))

    summary = {**params, "mat": MAT_NAME, "splits": "splits", "raw": "raw", "raw_truth": "raw_truth",
               "rgb_frames_dropped": dropped}
    return finish_synthetic_dir(out, summary)
