"""The labeled NYU Depth V2 file ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5).

Through h5py every MATLAB array comes with its axes reversed: ``images`` is
(N, 3, W, H) uint8, ``depths``/``rawDepths`` (N, W, H) float32 metres, ``labels``
(N, W, H) uint16 raw ids (0 = unlabeled, 1..894). Cell arrays (``scenes``,
``sceneTypes``, ``names``…) hold object references to (len, 1) uint16 char arrays.
:class:`LabeledMat` reads one frame at a time in image order (H, W[, 3]);
:class:`LabeledMatWriter` writes the same layout (tests and the synthetic default).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mkepipe.data.quarantine import BadSample
from mkepipe.experiments.nyu.classes import standard_split

REQUIRED = ("images", "depths", "labels")
KINDS = {"images": ("u", "unsigned integer"), "depths": ("f", "floating-point"), "labels": ("ui", "integer"),
         "rawDepths": ("f", "floating-point")}  # the numpy dtype kinds each array may have
SPLIT_FILES = {"train": "train_indices_1based.txt", "test": "test_indices_1based.txt",
               "val": "val_indices_1based.txt"}  # val is optional: the standard split has none


@dataclass
class MatFrame:
    """One labeled frame in image order; ``index`` is MATLAB's 1-based frame number."""

    index: int
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, filled
    labels: np.ndarray  # (H, W) uint16 raw ids, 0 = unlabeled
    raw_depth: np.ndarray | None = None  # (H, W) float32 metres, 0 = missing
    scene: str | None = None


def _cellstr(f: h5py.File, name: str) -> list[str] | None:
    """A MATLAB cell array of strings, or None if absent or not decodable."""
    if name not in f:
        return None
    try:
        out = []
        for ref in f[name][()].ravel():
            chars = f[ref]
            empty = bool(chars.attrs.get("MATLAB_empty", 0))  # '' is stored as its dims, uint64
            out.append("" if empty else "".join(map(chr, np.asarray(chars[()]).ravel())))
        return out
    except (KeyError, TypeError, ValueError, OSError):
        return None


class LabeledMat:
    """Read-only access to a labeled ``.mat``; use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as err:
            raise OSError(f"{self.path}: not a MATLAB v7.3 (HDF5) file: {err}") from None
        try:
            self._check_layout()
        except (OSError, ValueError, KeyError, TypeError) as err:
            self._f.close()
            raise ValueError(f"{self.path}: not a labeled NYU Depth V2 file: {err}") from None
        self.images, self.depths, self.labels = (self._f[k] for k in REQUIRED)
        self.raw_depths = self._f["rawDepths"] if "rawDepths" in self._f else None
        self.scenes = _cellstr(self._f, "scenes")
        self.scene_types = _cellstr(self._f, "sceneTypes")

    def _check_layout(self) -> None:
        """Every frame array is a dataset of the shape and kind the reader indexes, so
        reading a frame cannot fail on the file's structure (only on damaged bytes)."""
        found = {k: self._f.get(k) for k in (*REQUIRED, "rawDepths") if k in self._f}
        missing = [k for k in REQUIRED if k not in found]
        if missing:
            raise ValueError(f"missing datasets {missing}; found {sorted(self._f.keys())}")
        for name, ds in found.items():
            kinds, words = KINDS[name]
            if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in kinds:
                raise ValueError(f"{name} is not an array of {words} numbers")
        images = found["images"].shape
        if len(images) != 4 or images[1] != 3:
            raise ValueError(f"images must be (N, 3, W, H) through h5py, got {images}")
        want = (images[0], *images[2:])
        for name in ("depths", "labels", "rawDepths"):
            if name in found and found[name].shape != want:
                raise ValueError(f"{name} must be {want} to match images {images}, got {found[name].shape}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return int(self.images.shape[3]), int(self.images.shape[2])

    def frame(self, index: int) -> MatFrame:
        """Frame ``index`` (1-based, as in the split files); read errors become :class:`BadSample`."""
        if not 1 <= index <= len(self):
            raise IndexError(f"{self.path}: frame {index} outside 1..{len(self)}")
        i = index - 1
        try:
            rgb = np.ascontiguousarray(self.images[i].transpose(2, 1, 0))
            depth = np.ascontiguousarray(self.depths[i].T)
            labels = np.ascontiguousarray(self.labels[i].T)
            raw = np.ascontiguousarray(self.raw_depths[i].T) if self.raw_depths is not None else None
        except (OSError, ValueError) as err:
            raise BadSample("unreadable", f"{self.path} frame {index}: {err}") from None
        scene = self.scenes[i] if self.scenes and i < len(self.scenes) else None
        return MatFrame(index, rgb, depth.astype(np.float32, copy=False), labels, raw, scene)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "LabeledMat":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_split_indices(split_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """1-based train/test (and, where the folder has one, val) frame indices: from
    ``split_dir`` (files named as in the package data) or, if None, the standard 795/654
    split."""
    if split_dir is None:
        return standard_split()
    out = {}
    for split, name in SPLIT_FILES.items():
        path = Path(split_dir) / name
        if not path.exists():
            if split == "val":
                continue
            raise FileNotFoundError(f"{path}: split file missing")
        out[split] = np.array([int(x) for x in path.read_text().split()], dtype=np.int64)
    for a, b in (("train", "test"), ("train", "val"), ("test", "val")):
        overlap = np.intersect1d(out[a], out.get(b, []))
        if overlap.size:
            raise ValueError(f"{split_dir}: frames {overlap[:5].tolist()}… are in both {a} and {b}")
    return out


def write_split_indices(split_dir: str | Path, train: np.ndarray, test: np.ndarray,
                        val: np.ndarray | None = None) -> None:
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    splits = {"train": train, "test": test, **({"val": val} if val is not None and len(val) else {})}
    for split, idx in splits.items():
        (split_dir / SPLIT_FILES[split]).write_text("".join(f"{int(i)}\n" for i in idx))


def _matlab_header() -> bytes:
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0))
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {stamp} HDF5 schema 1.00 .".encode()
    return text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02" + b"IM"


class LabeledMatWriter:
    """Writes frames into a new labeled ``.mat`` in MATLAB's v7.3 layout."""

    def __init__(self, path: str | Path, n: int, height: int, width: int, *, raw_depths: bool = False,
                 compression: int | None = 3) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = h5py.File(self.path, "w", userblock_size=512)
        opts = {"compression": "gzip", "compression_opts": compression} if compression else {}

        def make(name: str, shape: tuple[int, ...], dtype: str, mclass: str) -> h5py.Dataset:
            ds = self._f.create_dataset(name, shape=shape, dtype=dtype, chunks=(1, *shape[1:]), **opts)
            ds.attrs["MATLAB_class"] = np.bytes_(mclass)
            return ds

        self.images = make("images", (n, 3, width, height), "uint8", "uint8")
        self.depths = make("depths", (n, width, height), "float32", "single")
        self.labels = make("labels", (n, width, height), "uint16", "uint16")
        self.raw_depths = make("rawDepths", (n, width, height), "float32", "single") if raw_depths else None

    def write(self, i: int, rgb: np.ndarray, depth: np.ndarray, labels: np.ndarray,
              raw_depth: np.ndarray | None = None) -> None:
        """Frame ``i`` (0-based) from image-order arrays."""
        self.images[i] = rgb.transpose(2, 1, 0)
        self.depths[i] = depth.astype(np.float32).T
        self.labels[i] = labels.astype(np.uint16).T
        if self.raw_depths is not None:
            self.raw_depths[i] = (depth if raw_depth is None else raw_depth).astype(np.float32).T

    def write_cellstr(self, name: str, strings: list[str]) -> None:
        """A MATLAB N×1 cell array of char arrays (object references into ``#refs#``)."""
        refs_group = self._f.require_group("#refs#")
        refs = np.empty((1, len(strings)), dtype=h5py.ref_dtype)
        for k, s in enumerate(strings):
            if s:
                chars = refs_group.create_dataset(f"{name}_{k}", data=np.array([[ord(c)] for c in s], np.uint16))
                chars.attrs["MATLAB_int_decode"] = np.int32(2)
            else:
                chars = refs_group.create_dataset(f"{name}_{k}", data=np.zeros(2, np.uint64))
                chars.attrs["MATLAB_empty"] = np.uint8(1)
            chars.attrs["MATLAB_class"] = np.bytes_("char")
            refs[0, k] = chars.ref
        ds = self._f.create_dataset(name, data=refs, dtype=h5py.ref_dtype)
        ds.attrs["MATLAB_class"] = np.bytes_("cell")

    def close(self) -> None:
        if self._f:
            self._f.close()
            self._f = None
            with open(self.path, "r+b") as f:  # MATLAB's 128-byte header in the HDF5 user block
                f.write(_matlab_header())

    def __enter__(self) -> "LabeledMatWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
