"""Label encodings: how a block of class probabilities becomes byte streams and back.

Arrays inside a codec are laid out ``(n, K, P)`` (probabilities) and ``(n, P)``
(per-unit values) with ``P`` the number of pixels (1 for classification).
Every codec stores the argmax as its own ``hard`` stream, so decoded labels keep the
teacher's argmax exactly. Error bounds are documented in ``docs/labels.md``. These are
the codecs of the simplex family; the Bernoulli family's are in ``bernoulli.py``.

- ``hard``: the argmax in the smallest unsigned type that holds K (+ ``w8`` weight
  for the weighted kind).
- ``float16``: probabilities as float16 (+ float16 weight).
- ``sparse-q8``: per unit, classes with p >= THETA, sqrt-companded to 8 bits, a
  bitmask saying which, and the left-over tail mass (also 8-bit sqrt); if the tail
  exceeds TAU the unit keeps every class with p >= max(THETA_MIN, TAU/K), so its tail
  is <= max(TAU, K*THETA_MIN) (+ ``w8`` weight).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._format import LabelStoreError

ARGMAX_BUMP = np.float32(1 + 2**-16)  # breaks decode-time ties in favour of the stored argmax
U1, F2 = np.dtype(np.uint8).str, np.dtype(np.float16).str
_REGISTRY: dict[tuple[str, str], type["Codec"]] = {}


def register_codec(name: str, family: str = "simplex") -> Callable[[type["Codec"]], type["Codec"]]:
    """Register a codec class under ``name`` for one label family."""
    def deco(cls: type[Codec]) -> type[Codec]:
        cls.name, cls.family = name, family
        _REGISTRY[family, name] = cls
        return cls
    return deco


def create_codec(name: str, family: str = "simplex") -> "Codec":
    """The codec registered as ``name`` for ``family`` (``simplex`` or ``bernoulli``)."""
    try:
        return _REGISTRY[family, name]()
    except KeyError:
        raise LabelStoreError(f"unknown {family} encoding {name!r}; known: {codec_names(family)}") from None


def codec_names(family: str = "simplex") -> list[str]:
    return sorted(name for fam, name in _REGISTRY if fam == family)


def hard_dtype(num_classes: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32):
        if num_classes <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    raise LabelStoreError(f"num_classes {num_classes} too large")


@dataclass
class Analysis:
    """Per-unit facts about a ``(n,K,P)`` block, computed in one pass over the classes.

    Simplex: ``hard`` argmax (first maximum, as ``np.argmax``), ``conf`` max p, ``nent``
    H(p)/log K, ``finite`` per sample: no NaN, inf or negative input; with a threshold
    also ``keep`` (p >= threshold) and ``tail`` (the summed p below it). The Bernoulli
    family (``bernoulli.analyse``) fills the same fields with its own definitions.
    """

    hard: np.ndarray
    conf: np.ndarray
    nent: np.ndarray
    finite: np.ndarray
    keep: np.ndarray | None = None
    tail: np.ndarray | None = None

    @property
    def weight(self) -> np.ndarray:
        return np.clip(1.0 - self.nent, 0.0, 1.0)


def invalid_rows(probs: np.ndarray, a: Analysis, sample_units: int = 4096) -> np.ndarray:
    """Samples that are not probability vectors: NaN, inf or negative anywhere (they make
    the entropy non-finite), or sums over K off by > 1e-3 on a strided subsample of units."""
    step = max(1, probs.shape[2] // sample_units)
    sums = probs[:, :, ::step].sum(axis=1)
    return ~a.finite | ~(np.abs(sums - 1) <= 1e-3).all(axis=1)


def analyse(probs: np.ndarray, threshold: float | None = None) -> Analysis:
    """One loop over classes on ``(n,P)`` slices: they stay in cache, ~1.4x faster than
    whole-array passes, and ~4x faster than ``np.argmax(axis=1)`` alone on this layout."""
    n, k, p = probs.shape
    best = probs[:, 0].copy()
    hard = np.zeros((n, p), hard_dtype(k))
    ent = np.zeros((n, p), np.float32)
    scratch, gt = np.empty((n, p), np.float32), np.empty((n, p), bool)
    keep = np.empty((n, k, p), bool) if threshold is not None else None
    tail = np.zeros((n, p), np.float32) if threshold is not None else None
    with np.errstate(invalid="ignore"):  # bad inputs show up as NaN entropy, reported by invalid_rows
        for c in range(k):
            x = probs[:, c]
            if c:
                np.greater(x, best, out=gt)
                np.copyto(best, x, where=gt)
                np.copyto(hard, c, where=gt, casting="unsafe")
            np.add(x, np.float32(1e-30), out=scratch)  # log(0) -> -69, not -inf: 0 * log 0 = 0
            np.log(scratch, out=scratch)
            scratch *= x
            ent += scratch
            if keep is not None:
                np.greater_equal(x, np.float32(threshold), out=keep[:, c])
                np.logical_not(keep[:, c], out=gt)
                np.add(tail, x, out=tail, where=gt)
    finite = np.isfinite(ent).all(axis=1)  # before clipping, which would turn -inf into 0
    ent *= np.float32(-1.0 / np.log(k)) if k > 1 else np.float32(0.0)
    np.clip(ent, 0.0, 1.0, out=ent)
    return Analysis(hard=hard, conf=best, nent=ent, finite=finite, keep=keep, tail=tail)


def quantise_weight(weight: np.ndarray) -> np.ndarray:
    return np.rint(weight * 255.0).astype(np.uint8)


def bump_argmax(probs: np.ndarray, hard: np.ndarray) -> None:
    """Scale the stored argmax class by 1+2^-16 so ties in decoded values cannot move it."""
    idx = hard.astype(np.intp)[:, None, :]
    np.put_along_axis(probs, idx, np.take_along_axis(probs, idx, axis=1) * ARGMAX_BUMP, axis=1)


def to_float16(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> float16 for values in [0, 65504].

    Bit arithmetic instead of ``astype``: numpy's conversion takes a ~20x slower
    path for results in float16's subnormal range, where small probabilities land.
    """
    u = x.view(np.uint32)
    bits = u >> 13
    bits &= np.uint32(1)
    bits += u
    bits += np.uint32(0xFFF)
    bits >>= 13
    bits -= np.uint32((127 - 15) << 10)
    sub = x * np.float32(2**24)
    np.rint(sub, out=sub)
    np.copyto(bits, sub.astype(np.uint32), where=x < np.float32(2**-14))
    return bits.astype(np.uint16).view(np.float16)


def float16_planes(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float16 values of ``probs`` as (high bytes, low bytes): the high bytes compress well."""
    planes = to_float16(probs).view(np.uint8).reshape(*probs.shape, 2)
    return planes[..., 1], planes[..., 0]


def from_float16_planes(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    planes = np.empty((*hi.shape, 2), np.uint8)
    planes[..., 0], planes[..., 1] = lo, hi
    return planes.view(np.float16)[..., 0].astype(np.float32)


def normalise(probs: np.ndarray) -> np.ndarray:
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


class Codec:
    """Turns ``(n,K,P)`` float32 probabilities (plus their analysis) into named arrays."""

    name = ""
    family = "simplex"
    weight_stream = "w16"
    threshold: float | None = None  # asks ``analyse`` for keep/tail masks
    strategies: dict[str, int] = {}  # zlib strategy per stream (level 1 throughout)

    def compress(self, stream: str, data: memoryview) -> bytes:
        """zlib level 1; RLE / Huffman-only strategies where they are as small and ~2x faster."""
        co = zlib.compressobj(1, zlib.DEFLATED, 15, 9, self.strategies.get(stream, zlib.Z_DEFAULT_STRATEGY))
        return co.compress(data) + co.flush()

    def encode(self, kind: str, probs: np.ndarray, a: Analysis) -> list[tuple[str, np.ndarray]]:
        raise NotImplementedError

    def decode(self, kind: str, streams: dict[str, np.ndarray], k: int):
        """Return ``(hard (n,P), probs (n,K,P) | None, weight (n,P) | None)``."""
        raise NotImplementedError

    def layout(self, kind: str, n: int, k: int, p: int) -> dict[str, tuple[str, tuple | None]]:
        """Stream name -> (dtype string, shape) of a block of ``n`` samples of ``p`` units;
        the shape is None where it depends on the data. Checked before a shard is read."""
        raise NotImplementedError

    def _weight_layout(self, kind: str, n: int, p: int) -> dict[str, tuple[str, tuple]]:
        if kind != "weighted":
            return {}
        return {self.weight_stream: (U1 if self.weight_stream == "w8" else F2, (n, p))}

    def _weight(self, kind: str, a: Analysis) -> list[tuple[str, np.ndarray]]:
        if kind != "weighted":
            return []
        if self.weight_stream == "w8":
            return [("w8", quantise_weight(a.weight))]
        return [("w16", a.weight.astype(np.float16))]

    @staticmethod
    def _decode_weight(streams: dict[str, np.ndarray]) -> np.ndarray | None:
        if "w8" in streams:
            return streams["w8"].astype(np.float32) / np.float32(255.0)
        if "w16" in streams:
            return streams["w16"].astype(np.float32)
        return None


@register_codec("hard")
class HardCodec(Codec):
    weight_stream = "w8"
    strategies = {"hard": zlib.Z_RLE}

    def encode(self, kind, probs, a):
        return [("hard", a.hard)] + self._weight(kind, a)

    def decode(self, kind, streams, k):
        return streams["hard"], None, self._decode_weight(streams)

    def layout(self, kind, n, k, p):
        return {"hard": (hard_dtype(k).str, (n, p)), **self._weight_layout(kind, n, p)}


@register_codec("float16")
class Float16Codec(Codec):
    """float16 split into high/low byte planes (the high bytes compress well)."""

    strategies = {"hard": zlib.Z_RLE, "f16lo": zlib.Z_RLE, "w16": zlib.Z_RLE}

    def encode(self, kind, probs, a):
        hi, lo = float16_planes(probs)
        return [("hard", a.hard), ("f16hi", hi), ("f16lo", lo)] + self._weight(kind, a)

    def decode(self, kind, streams, k):
        probs = from_float16_planes(streams["f16hi"], streams["f16lo"])
        np.maximum(probs, np.float32(2**-25), out=probs)  # no class decodes to exactly 0
        bump_argmax(probs, streams["hard"])
        return streams["hard"], normalise(probs), self._decode_weight(streams)

    def layout(self, kind, n, k, p):
        return {"hard": (hard_dtype(k).str, (n, p)), "f16hi": (U1, (n, k, p)), "f16lo": (U1, (n, k, p)),
                **self._weight_layout(kind, n, p)}


@register_codec("sparse-q8")
class SparseQ8Codec(Codec):
    """Compact soft labels; see the module docstring and docs/labels.md for bounds."""

    THETA = 1e-3
    TAU = 4e-3
    THETA_MIN = 1e-5  # sqrt-codes >= 1 from here on, so no stored class decodes to 0
    threshold = THETA
    weight_stream = "w8"
    strategies = {"hard": zlib.Z_RLE, "mask": zlib.Z_RLE, "vals": zlib.Z_HUFFMAN_ONLY, "tail": zlib.Z_RLE}
    params = {"theta": THETA, "tau": TAU, "theta_min": THETA_MIN, "quantiser": "round(255*sqrt(p))"}

    def encode(self, kind, probs, a):
        if a.keep is None:
            a = analyse(probs, self.THETA)
        keep, tail = a.keep, a.tail
        wide = tail > self.TAU
        if wide.any():  # uncertain units keep every class down to TAU/K, so their tail <= TAU
            self._widen(probs, keep, tail, wide, np.float32(max(self.THETA_MIN, self.TAU / probs.shape[1])))
        codes = np.rint(np.sqrt(probs[keep]) * np.float32(255)).astype(np.uint8)
        streams = [
            ("hard", a.hard),
            ("mask", np.packbits(keep.ravel())),
            ("vals", np.diff(codes, prepend=np.uint8(0))),  # uint8 deltas wrap mod 256
            ("tail", np.rint(np.sqrt(tail) * np.float32(255)).astype(np.uint8)),
        ]
        return streams + self._weight(kind, a)

    @staticmethod
    def _widen(probs, keep, tail, wide, floor) -> None:
        """Re-select classes of the ``wide`` units with the lower ``floor`` (in place)."""
        units, pixels = np.nonzero(wide)
        if units.size * 4 < wide.size:  # few units: gather them, (m, K)
            sub = probs[units, :, pixels]
            sub_keep = sub >= floor
            keep[units, :, pixels] = sub_keep
            tail[units, pixels] = np.where(sub_keep, np.float32(0), sub).sum(axis=1)
            return
        tail[wide] = 0
        drop = np.empty_like(wide)
        for c in range(probs.shape[1]):  # many units: one class slice at a time
            x = probs[:, c]
            np.greater_equal(x, floor, out=drop)
            drop &= wide
            keep[:, c] |= drop
            np.logical_not(keep[:, c], out=drop)
            drop &= wide
            np.add(tail, x, out=tail, where=drop)

    def decode(self, kind, streams, k):
        hard, tail_code = streams["hard"], streams["tail"]
        n, p = tail_code.shape
        keep = np.unpackbits(streams["mask"], count=n * k * p).view(bool).reshape(n, k, p)
        vals = np.cumsum(streams["vals"], dtype=np.uint8).astype(np.float32) / np.float32(255)
        tail = (tail_code.astype(np.float32) / np.float32(255)) ** 2
        tail[tail_code == 0] = np.float32(0.5 / 255) ** 2 / 2  # midpoint of the zero bucket
        n_tail = k - keep.view(np.uint8).sum(axis=1, dtype=np.int32)  # 10x faster than bool sums
        probs = np.empty((n, k, p), np.float32)
        probs[...] = (tail / np.maximum(n_tail, 1))[:, None, :]
        probs[keep] = vals * vals
        bump_argmax(probs, hard)
        return hard, normalise(probs), self._decode_weight(streams)

    def layout(self, kind, n, k, p):
        return {"hard": (hard_dtype(k).str, (n, p)), "mask": (U1, ((n * k * p + 7) // 8,)), "vals": (U1, None),
                "tail": (U1, (n, p)), **self._weight_layout(kind, n, p)}
