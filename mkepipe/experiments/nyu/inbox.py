"""NYU's inbox: new RGB-D recordings for the relabel service, and their ingest.

``<inbox_dir>/nyu/`` holds one folder per recording, in either layout:

* NYU raw style — ``<scene>/r-<timestamp>-<n>.ppm`` RGB and ``<scene>/d-<timestamp>-<n>.pgm``
  16-bit Kinect depth, paired by nearest timestamp as in the raw NYU dump;
  sample id ``inbox/<scene>/<depth stem>``.
* PNG pairs — ``<batch>/rgb/<stem>.png`` (8-bit colour) and ``<batch>/depth/<stem>.png``
  (16-bit millimetres, 0 = missing); sample id ``inbox/<batch>/<stem>``.

A folder with an ``rgb/`` or ``depth/`` subfolder is a PNG batch, any other a raw scene.
Ingest prepares the good samples exactly as the pipeline's prepare stage prepared the
rest (the previous version's config: size, depth encoding, hole filling, HHA cache).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from mkepipe.data import quarantine as q
from mkepipe.data.manifest import read_manifest
from mkepipe.experiments.nyu import checks  # noqa: F401  (registers the RGB-D quarantine reasons)
from mkepipe.experiments.nyu.config import NyuPrepareConfig
from mkepipe.experiments.nyu.hha import HHACache
from mkepipe.experiments.nyu.png_layout import decode_png
from mkepipe.experiments.nyu.prepare import SampleBuilder
from mkepipe.experiments.nyu.raw_scenes import decode_depth, decode_rgb, pair_frames, parse_frame_name, read_bytes
from mkepipe.service.inbox import PREFIX, Inbox, InboxSample, hashed_sample, list_folder, problem_sample
from mkepipe.service.ingest import CHANGED, Ingested, copy_rows, finish_ingest, staging_dir

COPY_ROWS = 64  # previous D_u rows copied per read


def _problems(listing, root: Path, prefix: str) -> list[InboxSample]:
    return [problem_sample(f"{prefix}/{path.relative_to(root)}", path, reason, detail)
            for path, reason, detail in listing.bad]


def _png_batch(batch: Path, inbox: Path) -> list[InboxSample]:
    found: dict[str, dict[str, Path]] = {}
    out: list[InboxSample] = []
    for role in ("rgb", "depth"):
        if not (batch / role).is_dir():
            found[role] = {}
            continue
        listing = list_folder(batch / role, inbox)
        out += _problems(listing, inbox, PREFIX)
        out += [problem_sample(f"{PREFIX}/{p.relative_to(inbox)}", p, "not_a_file", "a folder where a PNG file "
                               "was expected") for p in listing.folders]
        found[role] = {p.stem: p for p in listing.files if p.suffix == ".png"}
    for stem in sorted(set(found["rgb"]) | set(found["depth"])):
        files = {"rgb": found["rgb"].get(stem), "depth": found["depth"].get(stem)}
        out.append(hashed_sample(f"{PREFIX}/{batch.name}/{stem}", files, layout="png"))
    return out


def _raw_scene(scene: Path, inbox: Path, tolerance_s: float) -> list[InboxSample]:
    listing = list_folder(scene, inbox)
    out = _problems(listing, inbox, PREFIX)
    frames: dict[str, list] = {"r": [], "d": [], "a": []}
    for path in listing.files:
        f = parse_frame_name(path)
        if f is not None:
            frames[f.kind].append(f)
    for v in frames.values():
        v.sort(key=lambda f: (f.timestamp, f.counter))
    for p in pair_frames(scene.name, frames["r"], frames["d"], tolerance_s):
        detail = "" if p.rgb else f"nearest RGB frame {p.dt:.3f} s away (tolerance {tolerance_s} s)"
        files = {"rgb": p.rgb.path if p.rgb else None, "depth": p.depth.path}
        out.append(hashed_sample(f"{PREFIX}/{p.id}", files, layout="raw", detail=detail))
    return out


def scan_inbox(inbox: str | Path, tolerance_s: float = 0.05) -> list[InboxSample]:
    """Every sample in the inbox, hashed by content, in folder then name/time order;
    unusable entries come back as problem samples."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    top = list_folder(inbox, inbox)
    samples = _problems(top, inbox, PREFIX)
    samples += [problem_sample(f"{PREFIX}/{p.name}", p, "not_a_file", "a file where a recording folder was expected")
                for p in top.files]
    for folder in top.folders:
        is_png = (folder / "rgb").is_dir() or (folder / "depth").is_dir()
        samples += _png_batch(folder, inbox) if is_png else _raw_scene(folder, inbox, tolerance_s)
    return samples


def load_sample(s: InboxSample) -> tuple[np.ndarray, np.ndarray, None, bytes]:
    """(RGB uint8 (H, W, 3), depth in metres, no labels, source bytes); raises BadSample."""
    if s.problem:
        raise q.BadSample(s.problem, s.detail)
    rgb_path, depth_path = s.files["rgb"], s.files["depth"]
    if rgb_path is None or depth_path is None:
        missing = "RGB" if rgb_path is None else "depth"
        if s.layout == "raw":
            raise q.BadSample("no_rgb_in_sync_tolerance", s.detail)
        raise q.BadSample("missing_modality", f"{s.id}: no {missing} file")
    rgb_bytes, depth_bytes = read_bytes(rgb_path), read_bytes(depth_path)
    if s.layout == "raw":
        return decode_rgb(rgb_bytes, str(rgb_path)), decode_depth(depth_bytes, str(depth_path)), None, \
            rgb_bytes + depth_bytes
    rgb = decode_png(rgb_bytes, str(rgb_path))
    if rgb.ndim != 3 or rgb.dtype != np.uint8:
        raise q.BadSample("unreadable", f"{rgb_path}: expected 8-bit colour, got {rgb.shape} {rgb.dtype}")
    depth = decode_png(depth_bytes, str(depth_path))
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise q.BadSample("unreadable", f"{depth_path}: expected 16-bit grey, got {depth.shape} {depth.dtype}")
    rgb = cv2.cvtColor(rgb[:, :, :3], cv2.COLOR_BGR2RGB)
    return rgb, depth.astype(np.float32) / 1000.0, None, rgb_bytes + depth_bytes


class RgbdInbox(Inbox):
    """NYU raw scene folders or RGB/depth PNG pairs (see the module docstring)."""

    def scan(self, inbox: Path, prepare_cfg: NyuPrepareConfig) -> list[InboxSample]:
        return scan_inbox(inbox, prepare_cfg.sync_tolerance_s)

    def ingest(self, prev: Path, out: Path, samples: list[InboxSample], changed: list[InboxSample],
               project_dir: Path) -> Ingested:
        manifest = read_manifest(prev)
        cfg = NyuPrepareConfig.model_validate(manifest["config"])
        cache_dir = cfg.hha_cache_dir and project_dir / cfg.hha_cache_dir  # absolute stays absolute
        cache = HHACache(cache_dir if cfg.depth_encoding == "hha" else None)
        log = q.QuarantineLog()
        for s in changed:
            log.add(s.id, "inbox", s.sources, q.BadSample(CHANGED, "files differ from the ingested ones; "
                                                                   "give new data a new name"))
        tmp = staging_dir(out)
        builder = SampleBuilder("unlabeled", cfg, cache, log, tmp)
        copy_rows(prev / "unlabeled", builder.writer, ("rgb", "depth"), COPY_ROWS)
        for s in samples:
            builder.add(s.id, s.sources, lambda s=s: load_sample(s))
        if not builder.rows:
            builder.writer.abort()
            shutil.rmtree(tmp)
            return Ingested(None, {}, log)
        builder.close()
        finish_ingest(prev, tmp, out, manifest, builder.rows, log)
        sha = {s.id: s.sha256 for s in samples}
        return Ingested(out, {sid: sha[sid] for sid in builder.rows}, log)

