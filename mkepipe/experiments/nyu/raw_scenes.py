"""NYU Depth V2 raw scene folders: the unlabeled video that becomes D_u.

A scene folder (``bedroom_0001/``) holds ``r-<timestamp>-<n>.ppm`` RGB frames,
``d-<timestamp>-<n>.pgm`` depth frames, ``a-<timestamp>-<n>.dump`` accelerometer
records and usually an ``INDEX.txt``; only the first two are read, the rest is
tolerated or absent. The 16-bit PGMs hold the Kinect's raw disparity with its bytes
swapped relative to the Netpbm standard (the NYU toolbox calls ``swapbytes`` after
``imread``); metres = 351.3 / (1092.5 − raw), clamped to [0, 10] as the toolbox's
``depth_rel2depth_abs`` does, so invalid readings (raw 2047) become 0 = missing.
Each depth frame is paired with the RGB frame nearest in time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mkepipe.data.quarantine import BadSample

FRAME_NAME = re.compile(r"^(?P<kind>[rda])-(?P<ts>\d+(?:\.\d+)?)-(?P<n>\d+)\.(?P<ext>ppm|pgm|dump)$")
DEPTH_PARAM1, DEPTH_PARAM2, MAX_DEPTH_M = 351.3, 1092.5, 10.0
RAW_INVALID = 2047


@dataclass(frozen=True)
class RawFrame:
    kind: str  # "r" RGB, "d" depth, "a" accelerometer
    timestamp: float
    counter: int
    path: Path

    @property
    def stem(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class RawPair:
    """A depth frame and the RGB frame nearest in time (None if beyond the tolerance)."""

    scene: str
    depth: RawFrame
    rgb: RawFrame | None
    dt: float  # |t_rgb − t_depth| in seconds (inf without any RGB frame)

    @property
    def id(self) -> str:
        return f"{self.scene}/{self.depth.stem}"


def parse_frame_name(path: str | Path) -> RawFrame | None:
    """``r-1294439283.377657-2016681662.ppm`` → RawFrame; None for other files."""
    path = Path(path)
    m = FRAME_NAME.match(path.name)
    if not m:
        return None
    want = {"r": "ppm", "d": "pgm", "a": "dump"}[m["kind"]]
    return RawFrame(m["kind"], float(m["ts"]), int(m["n"]), path) if m["ext"] == want else None


def frame_name(kind: str, timestamp: float, counter: int) -> str:
    ext = {"r": "ppm", "d": "pgm", "a": "dump"}[kind]
    return f"{kind}-{timestamp:.6f}-{counter}.{ext}"


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise BadSample("unreadable", f"{path}: {err.strerror or err}") from None


def decode_pnm(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Binary PPM (P6) or PGM (P5), 8 or 16 bit, decoded per the Netpbm standard
    (16-bit samples big-endian). Raises :class:`BadSample` on a bad or short file."""
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.find(b"\n", pos)
            if pos < 0:
                break
            continue
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace() and data[pos:pos + 1] != b"#":
            pos += 1
        if start == pos:
            break
        tokens.append(data[start:pos])
    if len(tokens) < 4 or tokens[0] not in (b"P5", b"P6") or not all(t.isdigit() for t in tokens[1:]):
        raise BadSample("unreadable", f"{name}: not a binary PPM/PGM header")
    channels = 3 if tokens[0] == b"P6" else 1
    width, height, maxval = (int(t) for t in tokens[1:])
    if not (0 < maxval < 65536 and width > 0 and height > 0):
        raise BadSample("unreadable", f"{name}: bad header {width}x{height} maxval {maxval}")
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
    need = width * height * channels * dtype.itemsize
    body = data[pos + 1:pos + 1 + need]  # exactly one whitespace byte ends the header
    if len(body) < need:
        raise BadSample("unreadable", f"{name}: truncated, {len(body)} of {need} pixel bytes")
    arr = np.frombuffer(body, dtype=dtype).reshape((height, width, channels) if channels == 3 else (height, width))
    return arr.astype(arr.dtype.newbyteorder("=")) if dtype.itemsize == 2 else arr.copy()


def encode_pnm(arr: np.ndarray) -> bytes:
    """Netpbm-standard bytes of an (H, W, 3) uint8 or (H, W) uint8/uint16 array."""
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        magic, maxval, body = b"P6", 255, arr.tobytes()
    elif arr.ndim == 2 and arr.dtype in (np.uint8, np.uint16):
        magic = b"P5"
        maxval = 255 if arr.dtype == np.uint8 else 65535
        body = arr.astype(">u2").tobytes() if arr.dtype == np.uint16 else arr.tobytes()
    else:
        raise ValueError(f"cannot write {arr.shape} {arr.dtype} as PPM/PGM")
    return b"%s\n%d %d\n%d\n" % (magic, arr.shape[1], arr.shape[0], maxval) + body


def raw_to_metres(raw: np.ndarray) -> np.ndarray:
    """Kinect raw disparity → metres (float32), invalid → 0, far → 10 (NYU toolbox)."""
    with np.errstate(divide="ignore"):
        z = DEPTH_PARAM1 / (DEPTH_PARAM2 - raw.astype(np.float64))
    z[z > MAX_DEPTH_M] = MAX_DEPTH_M
    z[z < 0] = 0.0
    return z.astype(np.float32)


def metres_to_raw(depth_m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`raw_to_metres` (uint16; missing depth → 2047)."""
    z = np.asarray(depth_m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.rint(DEPTH_PARAM2 - DEPTH_PARAM1 / z)
    raw[~(z > 0) | ~np.isfinite(raw)] = RAW_INVALID
    return np.clip(raw, 0, RAW_INVALID).astype(np.uint16)


def decode_rgb(data: bytes, name: str = "<bytes>") -> np.ndarray:
    arr = decode_pnm(data, name)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise BadSample("unreadable", f"{name}: expected an 8-bit PPM, got {arr.shape} {arr.dtype}")
    return arr


def decode_depth(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """A raw ``d-*.pgm`` → depth in metres (byte swap, disparity → metres)."""
    arr = decode_pnm(data, name)
    if arr.ndim != 2 or arr.dtype != np.uint16:
        raise BadSample("unreadable", f"{name}: expected a 16-bit PGM, got {arr.shape} {arr.dtype}")
    return raw_to_metres(arr.byteswap())


def encode_depth(depth_m: np.ndarray) -> bytes:
    """Depth in metres → the bytes of a raw ``d-*.pgm`` (byte-swapped like the Kinect's)."""
    return encode_pnm(metres_to_raw(depth_m).byteswap())


def scan_scene(scene_dir: str | Path) -> dict[str, list[RawFrame]]:
    """Frames of one scene folder by kind, in time order; other files are ignored."""
    frames: dict[str, list[RawFrame]] = {"r": [], "d": [], "a": []}
    for path in Path(scene_dir).iterdir():
        f = parse_frame_name(path)
        if f is not None and path.is_file():
            frames[f.kind].append(f)
    for v in frames.values():
        v.sort(key=lambda f: (f.timestamp, f.counter))
    return frames


def pair_frames(scene: str, rgb: list[RawFrame], depth: list[RawFrame], tolerance_s: float) -> list[RawPair]:
    """Pair each depth frame with the nearest RGB frame; farther than ``tolerance_s`` → rgb None."""
    if not rgb:
        return [RawPair(scene, d, None, float("inf")) for d in depth]
    t_rgb = np.array([f.timestamp for f in rgb])
    pairs = []
    for d in depth:
        j = int(np.searchsorted(t_rgb, d.timestamp))
        best = min((k for k in (j - 1, j) if 0 <= k < len(rgb)), key=lambda k: abs(t_rgb[k] - d.timestamp))
        dt = abs(float(t_rgb[best]) - d.timestamp)
        pairs.append(RawPair(scene, d, rgb[best] if dt <= tolerance_s else None, dt))
    return pairs


def scan_raw(raw_dir: str | Path, tolerance_s: float = 0.05) -> list[RawPair]:
    """Every depth frame under ``raw_dir``'s scene folders with its RGB partner, in scene
    then time order."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: raw scene directory missing")
    pairs: list[RawPair] = []
    for scene_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        frames = scan_scene(scene_dir)
        pairs += pair_frames(scene_dir.name, frames["r"], frames["d"], tolerance_s)
    return pairs
