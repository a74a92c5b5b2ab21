"""The inbox where new sensor data lands, and its diff against what was ingested.

``<inbox_dir>/<experiment>/`` holds one folder per recording, in either layout:

* NYU raw style — ``<scene>/r-<timestamp>-<n>.ppm`` RGB and ``<scene>/d-<timestamp>-<n>.pgm``
  16-bit Kinect depth, paired by nearest timestamp as in the raw NYU dump;
  sample id ``inbox/<scene>/<depth stem>``.
* PNG pairs — ``<batch>/rgb/<stem>.png`` (8-bit colour) and ``<batch>/depth/<stem>.png``
  (16-bit millimetres, 0 = missing); sample id ``inbox/<batch>/<stem>``.

A folder with an ``rgb/`` or ``depth/`` subfolder is a PNG batch, any other a raw scene.
A sample is new when its id was never ingested; one whose files changed after ingestion
is refused (ids are keys of the label store; re-using one would silently relabel it).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mkepipe.experiments.nyu.png_layout import decode_png
from mkepipe.data.quarantine import BadSample
from mkepipe.experiments.nyu.raw_scenes import decode_depth, decode_rgb, pair_frames, read_bytes, scan_scene

PREFIX = "inbox"


@dataclass(frozen=True)
class InboxSample:
    """One RGB-D frame in the inbox; ``rgb`` is None when no RGB frame matches."""

    id: str
    layout: str  # "raw" | "png"
    rgb: Path | None
    depth: Path | None
    sha256: str = field(compare=False)
    detail: str = field(default="", compare=False)  # why a modality is missing

    @property
    def sources(self) -> list[str]:
        return [str(p) for p in (self.depth, self.rgb) if p is not None]


def _sha256(paths: list[Path | None]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes() if p is not None else b"\0missing")
    return h.hexdigest()


def _png_batch(batch: Path) -> list[InboxSample]:
    found = {f: {p.stem: p for p in (batch / f).glob("*.png")} for f in ("rgb", "depth")}
    out = []
    for stem in sorted(set(found["rgb"]) | set(found["depth"])):
        rgb, depth = found["rgb"].get(stem), found["depth"].get(stem)
        out.append(InboxSample(f"{PREFIX}/{batch.name}/{stem}", "png", rgb, depth, _sha256([rgb, depth])))
    return out


def _raw_scene(scene: Path, tolerance_s: float) -> list[InboxSample]:
    frames = scan_scene(scene)
    out = []
    for p in pair_frames(scene.name, frames["r"], frames["d"], tolerance_s):
        rgb = p.rgb.path if p.rgb else None
        detail = "" if rgb else f"nearest RGB frame {p.dt:.3f} s away (tolerance {tolerance_s} s)"
        out.append(InboxSample(f"{PREFIX}/{p.id}", "raw", rgb, p.depth.path, _sha256([rgb, p.depth.path]), detail))
    return out


def scan_inbox(inbox: str | Path, tolerance_s: float = 0.05) -> list[InboxSample]:
    """Every sample in the inbox, hashed by content, in folder then name/time order."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    samples: list[InboxSample] = []
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith(".")):
        is_png = (folder / "rgb").is_dir() or (folder / "depth").is_dir()
        samples += _png_batch(folder) if is_png else _raw_scene(folder, tolerance_s)
    return samples


@dataclass
class InboxDiff:
    new: list[InboxSample]
    changed: list[InboxSample]  # ingested ids whose content differs now

    @property
    def empty(self) -> bool:
        return not self.new and not self.changed


def diff_inbox(samples: list[InboxSample], ingested: dict[str, str], rejected: dict[str, dict]) -> InboxDiff:
    """What is left to do: samples never seen, minus those already refused with the same content."""
    new, changed = [], []
    for s in samples:
        if rejected.get(s.id, {}).get("sha256") == s.sha256:
            continue
        if s.id not in ingested:
            new.append(s)
        elif ingested[s.id] != s.sha256:
            changed.append(s)
    return InboxDiff(new, changed)


def load_sample(s: InboxSample) -> tuple[np.ndarray, np.ndarray, None, bytes]:
    """(RGB uint8 (H, W, 3), depth in metres, no labels, source bytes); raises BadSample."""
    if s.rgb is None or s.depth is None:
        missing = "RGB" if s.rgb is None else "depth"
        if s.layout == "raw":
            raise BadSample("no_rgb_in_sync_tolerance", s.detail)
        raise BadSample("missing_modality", f"{s.id}: no {missing} file")
    rgb_bytes, depth_bytes = read_bytes(s.rgb), read_bytes(s.depth)
    if s.layout == "raw":
        return decode_rgb(rgb_bytes, str(s.rgb)), decode_depth(depth_bytes, str(s.depth)), None, rgb_bytes + depth_bytes
    rgb = decode_png(rgb_bytes, str(s.rgb))
    if rgb.ndim != 3 or rgb.dtype != np.uint8:
        raise BadSample("unreadable", f"{s.rgb}: expected 8-bit colour, got {rgb.shape} {rgb.dtype}")
    depth = decode_png(depth_bytes, str(s.depth))
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise BadSample("unreadable", f"{s.depth}: expected 16-bit grey, got {depth.shape} {depth.dtype}")
    rgb = cv2.cvtColor(rgb[:, :, :3], cv2.COLOR_BGR2RGB)
    return rgb, depth.astype(np.float32) / 1000.0, None, rgb_bytes + depth_bytes
