"""The common preprocessed NYU layout: ``{train,test}/{rgb,depth,labels_40}/%04d.png``.

RGB is 8-bit colour, depth 16-bit millimetres (0 = missing), labels 8-bit 40-class ids
(0 = void). A frame is the stem shared by the three folders; one that lacks a file in
any of them is reported, not guessed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mkepipe.data.quarantine import BadSample
from mkepipe.experiments.nyu.raw_scenes import read_bytes

FOLDERS = ("rgb", "depth", "labels_40")


@dataclass(frozen=True)
class PngSample:
    split: str
    stem: str
    paths: dict[str, Path | None]  # folder → file, None where missing

    @property
    def id(self) -> str:
        return f"png/{self.split}/{self.stem}"

    @property
    def sources(self) -> list[str]:
        return [str(p) for p in self.paths.values() if p is not None]


def scan_png_split(root: str | Path, split: str) -> list[PngSample]:
    """Every frame stem found in any of ``root/split``'s three folders, sorted."""
    base = Path(root) / split
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: PNG split folder missing")
    found = {f: {p.stem: p for p in (base / f).glob("*.png")} if (base / f).is_dir() else {} for f in FOLDERS}
    stems = sorted(set().union(*found.values()))
    return [PngSample(split, s, {f: found[f].get(s) for f in FOLDERS}) for s in stems]


def decode_png(data: bytes, name: str) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if img is None:
        raise BadSample("unreadable", f"{name}: not a decodable PNG (truncated or corrupt)")
    return img


def read_png_sample(sample: PngSample) -> tuple[np.ndarray, np.ndarray, np.ndarray, bytes]:
    """(rgb uint8 (H, W, 3), depth float32 metres, labels uint8 40-class ids, raw file bytes)."""
    missing = [f for f, p in sample.paths.items() if p is None]
    if missing:
        raise BadSample("missing_modality", f"{sample.id}: no {', '.join(missing)} file")
    blobs = {f: read_bytes(p) for f, p in sample.paths.items()}
    rgb = decode_png(blobs["rgb"], str(sample.paths["rgb"]))
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim != 3 or rgb.dtype != np.uint8:
        raise BadSample("unreadable", f"{sample.paths['rgb']}: expected 8-bit colour, got {rgb.shape} {rgb.dtype}")
    rgb = cv2.cvtColor(rgb[:, :, :3], cv2.COLOR_BGR2RGB)
    depth = decode_png(blobs["depth"], str(sample.paths["depth"]))
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise BadSample("unreadable", f"{sample.paths['depth']}: expected 16-bit grey, got {depth.shape} {depth.dtype}")
    labels = decode_png(blobs["labels_40"], str(sample.paths["labels_40"]))
    if labels.ndim != 2 or labels.dtype not in (np.uint8, np.uint16):
        raise BadSample("unreadable",
                        f"{sample.paths['labels_40']}: expected grey labels, got {labels.shape} {labels.dtype}")
    return rgb, depth.astype(np.float32) / 1000.0, labels, b"".join(blobs[f] for f in FOLDERS)


def encode_png(arr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise ValueError(f"cannot encode {arr.shape} {arr.dtype} as PNG")
    return buf.tobytes()


def write_png_sample(root: str | Path, split: str, index: int, rgb: np.ndarray, depth_m: np.ndarray,
                     labels40: np.ndarray) -> PngSample:
    """Write one frame as ``root/split/{rgb,depth,labels_40}/%04d.png``."""
    stem = f"{index:04d}"
    mm = np.clip(np.rint(np.nan_to_num(depth_m) * 1000.0), 0, 65535).astype(np.uint16)
    arrays = {"rgb": cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "depth": mm, "labels_40": labels40.astype(np.uint8)}
    paths = {}
    for folder, arr in arrays.items():
        path = Path(root) / split / folder / f"{stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_png(arr))
        paths[folder] = path
    return PngSample(split, stem, paths)
