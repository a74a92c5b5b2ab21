"""The synthetic NYU default's two appearances: a figure and a probe (``docs/nyu_data.md``).

    python scripts/plot_synth_lighting.py [--out docs/figures/synth_lighting.png] [--probe]

The figure shows one raw scene's frames in the ``material`` appearance (the room lit
once), in the ``illumination`` appearance, the first camera pose held still under the
lighting of each of those frames, and the depth, which is the same in both.

``--probe`` measures, without training a network, how consistent an RGB classifier's
mistakes are across views of the same surface point. A per-pixel gradient-boosting
"teacher" (RGB plus 5×5 and 15×15 means) is trained on labeled frames; on raw scenes
every pixel is matched to the pixels that see the same 3D point in the scene's other
frames (same surface, depth within 2 %), and the script prints how often the teacher's
label changes between such views, how often a mistake is repeated or overruled, what a
majority vote over the views would score, and how far a surface's mean colour moves
between frames relative to the distance between class colours.
"""
from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mkepipe.experiments.nyu._layout import camera_path, sample_camera, sample_room
from mkepipe.experiments.nyu._render import cast, smooth_noise
from mkepipe.experiments.nyu.hha import NYU_RGB
from mkepipe.experiments.nyu.synth import _rng, frame_lights, render_frame

MODES = ("material", "illumination")


def scene_frames(seed: int, scene: int, n_frames: int, shape: tuple[int, int], mode: str, still: bool = False):
    """Frames of raw scene ``scene`` (the generator's room, camera path and lights):
    (rgb, depth, labels40, surface, point, camera) each. ``still``: every frame from the
    first camera pose, so only the lighting changes."""
    rng = _rng(seed, "raw", scene)
    room, light, _ = sample_room(rng, palette_size=3, class_affinity=0.8)
    lights = frame_lights(mode, _rng(seed, "raw_light", scene), light)
    cams = camera_path(rng, room.size, n_frames)
    noise, k = smooth_noise(_rng(seed, "noise")), NYU_RGB.scaled(*shape)
    out = []
    for cam in (cams[:1] * n_frames if still else cams):
        rgb, depth, labels40, _ = render_frame(room, light, cam, shape, rng, noise, next(lights))
        hits = cast(room, cam, k, shape)
        out.append((rgb, depth, labels40, hits.surface, hits.point, cam))
    return out


def plot(out: Path, seed: int, scene: int, n_frames: int, shape: tuple[int, int]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {"material": scene_frames(seed, scene, n_frames, shape, "material"),
            "illumination": scene_frames(seed, scene, n_frames, shape, "illumination"),
            "illumination,\ncamera held still": scene_frames(seed, scene, n_frames, shape, "illumination", still=True)}
    fig, axes = plt.subplots(4, n_frames, figsize=(2.6 * n_frames, 2.1 * 4))
    for r, (name, frames) in enumerate(rows.items()):
        for c, frame in enumerate(frames):
            axes[r, c].imshow(frame[0])
        axes[r, 0].set_ylabel(name, fontsize=10)
    for c, frame in enumerate(rows["illumination"]):
        axes[3, c].imshow(frame[1], cmap="turbo", vmin=0.5, vmax=7.0)
        axes[0, c].set_title(f"frame {c + 1}", fontsize=10)
    axes[3, 0].set_ylabel("depth (both)", fontsize=10)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(h_pad=0.2, w_pad=0.2)
    fig.set_dpi(80)
    fig.canvas.draw()
    out.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette: the sensor noise makes a true-colour PNG of this figure ~1 MB
    Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3]).quantize(256).save(out, optimize=True)
    print(f"wrote {out}")


def _train_ids(labels40: np.ndarray) -> np.ndarray:
    """Flat train ids 0..39, −1 for void."""
    return labels40.astype(np.int64).ravel() - 1


def _features(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float32) / 255.0
    return np.concatenate([x, cv2.blur(x, (5, 5)), cv2.blur(x, (15, 15))], axis=2).reshape(-1, 9)


def _labeled(seed: int, n: int, shape: tuple[int, int], mode: str) -> tuple[np.ndarray, np.ndarray]:
    noise, xs, ys = smooth_noise(_rng(seed, "noise")), [], []
    for i in range(n):
        rng = _rng(seed, "labeled", i)
        room, light, _ = sample_room(rng, palette_size=3, class_affinity=0.8)
        lights = frame_lights(mode, _rng(seed, "labeled_light", i), light)
        rgb, _, labels40, _ = render_frame(room, light, sample_camera(rng, room.size), shape, rng, noise, next(lights))
        xs.append(_features(rgb))
        ys.append(_train_ids(labels40))
    return np.concatenate(xs), np.concatenate(ys)


def _matches(a, b, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices (ia, ib): pixel ia of frame a and ib of frame b see the same point."""
    k = NYU_RGB.scaled(*shape)
    cam = b[5]
    p = (a[4].reshape(-1, 3) - cam.position) @ cam.rotation()
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.rint(k.fx * p[:, 0] / p[:, 2] + k.cx - 1.0)
        v = np.rint(k.fy * p[:, 1] / p[:, 2] + k.cy - 1.0)
    ok = (p[:, 2] > 0.1) & (u >= 0) & (u < shape[1]) & (v >= 0) & (v < shape[0])
    ia = np.flatnonzero(ok)
    ib = (v[ok] * shape[1] + u[ok]).astype(np.int64)
    same = (b[3].ravel()[ib] == a[3].ravel()[ia]) & (np.abs(b[1].ravel()[ib] - p[ia, 2]) < 0.02 * p[ia, 2])
    return ia[same], ib[same]


def _miou(pred: np.ndarray, y: np.ndarray) -> float:
    keep = y >= 0
    pred, y = pred[keep], y[keep]
    return 100 * float(np.mean([((pred == c) & (y == c)).sum() / ((pred == c) | (y == c)).sum() for c in np.unique(y)]))


def _surface_drift(frames) -> list[float]:
    """Per surface seen in several frames: the std over frames of its mean colour (RGB in [0, 1])."""
    drift = []
    for sid in np.unique(np.concatenate([f[3].ravel() for f in frames])):
        seen = [f[0][f[3] == sid].mean(axis=0) / 255.0 for f in frames if (f[3] == sid).sum() > 50]
        if len(seen) > 1:
            drift.append(float(np.linalg.norm(np.std(seen, axis=0))))
    return drift


def probe(seed: int, n_train: int, n_scenes: int, n_frames: int, shape: tuple[int, int]) -> None:
    """Print, per appearance, how consistent an RGB teacher's labels are across views (see the module docstring)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    print(f"{n_train} labeled frames, {n_scenes} scenes x {n_frames} frames at {shape[0]}x{shape[1]}, seed {seed}")
    for mode in MODES:
        x, y = _labeled(seed, n_train, shape, mode)
        keep = np.flatnonzero(y >= 0)
        keep = np.random.default_rng(0).choice(keep, size=min(150_000, keep.size), replace=False)
        teacher = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(x[keep], y[keep])
        n = {"pairs": 0, "agree": 0, "wrong": 0, "repeated": 0, "overruled": 0}
        single, voted, truth, drift, class_rgb = [], [], [], [], {}
        for s in range(n_scenes):
            frames = scene_frames(seed, s, n_frames, shape, mode)
            preds = [teacher.predict(_features(f[0])) for f in frames]
            ys = [_train_ids(f[2]) for f in frames]
            votes = [np.zeros((p.size, 40), np.float32) for p in preds]
            for j, p in enumerate(preds):
                votes[j][np.arange(p.size), p] += 1.5  # a frame's own label wins ties
            for a, b in combinations(range(n_frames), 2):
                ia, ib = _matches(frames[a], frames[b], shape)
                ia, ib = ia[ys[a][ia] >= 0], ib[ys[a][ia] >= 0]
                pa, pb, t = preds[a][ia], preds[b][ib], ys[a][ia]
                miss = pa != t
                n["pairs"] += ia.size
                n["agree"] += int((pa == pb).sum())
                n["wrong"] += int(miss.sum())
                n["repeated"] += int((miss & (pb == pa)).sum())
                n["overruled"] += int((miss & (pb == t)).sum())
                np.add.at(votes[a], (ia, pb), 1)
                np.add.at(votes[b], (ib, pa), 1)
            single += preds
            voted += [v.argmax(axis=1) for v in votes]
            truth += ys
            drift += _surface_drift(frames)
            for f, yj in zip(frames, ys):
                for c in np.unique(yj[yj >= 0]):
                    class_rgb.setdefault(c, []).append(f[0].reshape(-1, 3)[yj == c].mean(axis=0) / 255.0)
        means = [np.mean(v, axis=0) for v in class_rgb.values()]
        separation = np.mean([np.linalg.norm(m1 - m2) for m1, m2 in combinations(means, 2)])
        single, voted, truth = np.concatenate(single), np.concatenate(voted), np.concatenate(truth)
        labeled = truth >= 0
        print(f"{mode}: teacher mIoU on the raw frames {_miou(single, truth):.1f}, majority over views "
              f"{_miou(voted, truth):.1f}; pixel accuracy {100 * (single == truth)[labeled].mean():.1f} -> "
              f"{100 * (voted == truth)[labeled].mean():.1f}")
        print(f"  {n['pairs']} matched pixel pairs: labels agree {100 * n['agree'] / n['pairs']:.1f} %; of the "
              f"teacher's mistakes {100 * n['repeated'] / n['wrong']:.1f} % repeated in the other view, "
              f"{100 * n['overruled'] / n['wrong']:.1f} % right there")
        print(f"  a surface's mean colour moves {np.mean(drift):.3f} between frames (std, RGB in [0, 1]); class "
              f"colours lie {separation:.3f} apart on average (ratio {np.mean(drift) / separation:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/figures/synth_lighting.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scene", type=int, default=6, help="raw scene index for the figure")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--probe", action="store_true", help="also run the consistency probe (a few minutes)")
    args = ap.parse_args()
    plot(args.out, args.seed, args.scene, args.frames, (240, 320))
    if args.probe:
        probe(args.seed, n_train=80, n_scenes=30, n_frames=4, shape=(120, 160))


if __name__ == "__main__":
    main()
