"""A tiny NYU project with the pipeline's outputs in place (written through the stage
functions, no DVC run), and helpers to drop sensor data into its inbox."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import yaml

from mkepipe import stages
from mkepipe.config import load_params
from mkepipe.experiments.nyu.raw_scenes import decode_depth, decode_rgb, pair_frames, scan_scene
from tests.conftest import make_project
from tests.test_nyu_pipeline import TINY

SERVICE = {"schedule": False, "baselines": False}


def tiny_params(root: Path, synthetic: dict | None = None, size: tuple[int, int] | None = None) -> dict:
    raw = json.loads(json.dumps(TINY))
    raw["prepare"]["nyu"]["synthetic"].update(synthetic or {})
    if size:
        raw["prepare"]["nyu"]["height"], raw["prepare"]["nyu"]["width"] = size
    raw["prepare"]["nyu"]["hha_cache_dir"] = str(root / ".cache" / "hha")
    raw["data_roots"] = [str(root)]  # the project is a temporary folder: its absolute paths are allowed
    raw["rounds"] = [{"id": 1, "teacher": "teacher.pt"}]
    raw["evaluate"] = {"nyu": {"panels": 0}}  # the confusion matrix is figure enough
    raw["service"] = SERVICE
    return raw


def make_service_project(tmp_path: Path, synthetic: dict | None = None,
                         size: tuple[int, int] | None = None) -> tuple[Path, dict[str, str]]:
    """A project (git + dvc) whose pipeline outputs for a one-round tiny NYU run exist
    (``synthetic`` overrides the synthetic set's sizes, ``size`` the training resolution)."""
    root, env = make_project(tmp_path)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(root, synthetic, size), sort_keys=False))
    params = load_params(root / "params.yaml")
    stages.prepare(params, root / "data" / "nyu")
    stages.teacher(params, root / "data" / "nyu", root / "models" / "nyu" / "teacher.pt")
    stages.pseudolabel(params, root / "data" / "nyu", root / "models" / "nyu" / "teacher.pt",
                       root / "labels" / "nyu" / "round1")
    return root, env


def source_scenes(root: Path) -> list[Path]:
    return sorted(p for p in (root / "data" / "nyu" / "source" / "raw").iterdir() if p.is_dir())


def drop_scene(root: Path, src: Path, name: str) -> int:
    """Copy a raw scene folder into the inbox as ``name``; return how many samples are good."""
    dst = root / "inbox" / "nyu" / name
    shutil.copytree(src, dst)
    frames = scan_scene(dst)
    return sum(p.rgb is not None for p in pair_frames(name, frames["r"], frames["d"], 0.05))


def drop_png_batch(root: Path, src: Path, name: str, bad: bool = True) -> int:
    """An rgb/depth PNG batch made from ``src``'s first good pair, plus a truncated depth PNG."""
    frames = scan_scene(src)
    pair = next(p for p in pair_frames(src.name, frames["r"], frames["d"], 0.05) if p.rgb)
    rgb = decode_rgb(pair.rgb.path.read_bytes())
    depth = decode_depth(pair.depth.path.read_bytes())
    (root / "inbox" / "nyu" / name / "rgb").mkdir(parents=True)
    (root / "inbox" / "nyu" / name / "depth").mkdir(parents=True)
    cv2.imwrite(str(root / "inbox" / "nyu" / name / "rgb" / "0001.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "inbox" / "nyu" / name / "depth" / "0001.png"), (depth * 1000).astype("uint16"))
    if bad:
        shutil.copy(root / "inbox" / "nyu" / name / "rgb" / "0001.png", root / "inbox" / "nyu" / name / "rgb" / "0002.png")
        (root / "inbox" / "nyu" / name / "depth" / "0002.png").write_bytes(b"\x89PNG truncated")
    return 1


def tree_digest(*dirs: Path) -> dict[str, str]:
    """Path → sha256 of every file below ``dirs`` (lock file excluded: opening it is not a change)."""
    out = {}
    for d in dirs:
        for p in sorted(d.rglob("*")):
            if p.is_file() and p.name != ".lock":
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
