"""The Bernoulli family: independent per-class probabilities (multi-label tasks).

A unit (a sample, or a pixel of dense labels) holds K independent probabilities
``p_k`` in [0, 1]. Its hard label is the multi-hot vector ``p_k >= 0.5``, its
confidence ``mean_k max(p_k, 1 - p_k)``, its normalised entropy
``mean_k H_b(p_k) / log 2`` and its weight one minus that entropy.

Codecs (error bounds in ``docs/labels.md``); hard labels are exactly ``p >= 0.5`` of
the teacher's float32 output in all three:

- ``hard``: the multi-hot labels as a ``bits`` stream of ``ceil(K/8)`` bytes per unit
  (+ ``w8`` weight for the weighted kind).
- ``float16``: the bitmask plus the probabilities as float16 in high/low byte planes
  (+ float16 weight), decoded as stored: no renormalisation, no bump.
- ``sparse-q8``: ``q = round(255 p)`` as uint8; a ``mask`` laid out like ``bits`` says
  which classes have ``q > 0`` and ``vals`` holds their ``q`` unit by unit, classes
  ascending (+ ``w8`` weight). Decodes to ``q / 255`` (absent classes 0); the hard labels
  are ``q >= 128``, the same bits as ``p >= 0.5``, so they agree with the decoded values.
"""

from __future__ import annotations

import zlib

import numpy as np

from .codecs import U1, Analysis, Codec, float16_planes, from_float16_planes, register_codec

HALF = np.float32(0.5)


def analyse(probs: np.ndarray) -> Analysis:
    """Multi-hot labels, confidence and binary entropy of a ``(n,K,P)`` block.

    ``finite`` is per sample: every value finite and in [0, 1]. One loop over classes
    on ``(n,P)`` slices, like the simplex analysis, so temporaries stay small.
    """
    n, k, p = probs.shape
    hard = np.empty((n, k, p), np.uint8)
    conf, ent = np.zeros((n, p), np.float32), np.zeros((n, p), np.float32)
    q, scratch = np.empty((n, p), np.float32), np.empty((n, p), np.float32)
    valid = np.ones((n, p), bool)
    with np.errstate(invalid="ignore"):  # bad inputs are reported through ``finite``
        for c in range(k):
            x = probs[:, c]
            valid &= (x >= 0) & (x <= 1)  # NaN fails both comparisons
            np.greater_equal(x, HALF, out=hard[:, c])
            np.subtract(np.float32(1), x, out=q)
            conf += np.maximum(x, q, out=scratch)
            ent += _xlogx(x, scratch)
            ent += _xlogx(q, scratch)
    ent *= np.float32(-1.0 / (k * np.log(2.0)))
    np.clip(ent, 0.0, 1.0, out=ent)
    conf /= np.float32(k)
    return Analysis(hard=hard, conf=conf, nent=ent, finite=valid.all(axis=1))


def _xlogx(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.add(x, np.float32(1e-30), out=out)  # 0 * log 0 = 0
    np.log(out, out=out)
    out *= x
    return out


def invalid_rows(probs: np.ndarray, a: Analysis) -> np.ndarray:
    """Samples with a value that is NaN, infinite or outside [0, 1]."""
    return ~a.finite


def pack_bits(hard: np.ndarray) -> np.ndarray:
    """``(n,K,P)`` 0/1 -> ``(n,P,ceil(K/8))`` bytes: K bits per unit, byte-aligned per unit."""
    return np.packbits(hard.transpose(0, 2, 1), axis=-1)


def unpack_bits(bits: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`pack_bits`: ``(n,K,P)`` uint8 0/1."""
    return np.unpackbits(bits, axis=-1, count=k).transpose(0, 2, 1)


@register_codec("hard", family="bernoulli")
class BitmaskCodec(Codec):
    weight_stream = "w8"

    def encode(self, kind, probs, a):
        return [("bits", pack_bits(a.hard))] + self._weight(kind, a)

    def decode(self, kind, streams, k):
        return unpack_bits(streams["bits"], k), None, self._decode_weight(streams)

    def layout(self, kind, n, k, p):
        return {"bits": (U1, (n, p, (k + 7) // 8)), **self._weight_layout(kind, n, p)}


@register_codec("float16", family="bernoulli")
class BernoulliFloat16Codec(Codec):
    strategies = {"f16lo": zlib.Z_RLE, "w16": zlib.Z_RLE}

    def encode(self, kind, probs, a):
        hi, lo = float16_planes(probs)
        return [("bits", pack_bits(a.hard)), ("f16hi", hi), ("f16lo", lo)] + self._weight(kind, a)

    def decode(self, kind, streams, k):
        probs = from_float16_planes(streams["f16hi"], streams["f16lo"])
        return unpack_bits(streams["bits"], k), probs, self._decode_weight(streams)

    def layout(self, kind, n, k, p):
        return {"bits": (U1, (n, p, (k + 7) // 8)), "f16hi": (U1, (n, k, p)), "f16lo": (U1, (n, k, p)),
                **self._weight_layout(kind, n, p)}


@register_codec("sparse-q8", family="bernoulli")
class BernoulliSparseQ8Codec(Codec):
    """Compact soft multi-labels: 8-bit probabilities, only the classes that round above 0."""

    weight_stream = "w8"
    strategies = {"vals": zlib.Z_HUFFMAN_ONLY}
    params = {"quantiser": "round(255*p)"}
    MASK_STRATEGIES = (zlib.Z_RLE, zlib.Z_DEFAULT_STRATEGY)

    def compress(self, stream, data):
        """The mask as the smaller of two zlib strategies: RLE wins on sparse classification rows
        with many classes, the default on dense labels, where neighbouring pixels repeat."""
        if stream != "mask":
            return super().compress(stream, data)
        outs = []
        for strategy in self.MASK_STRATEGIES:
            co = zlib.compressobj(1, zlib.DEFLATED, 15, 9, strategy)
            outs.append(co.compress(data) + co.flush())
        return min(outs, key=len)

    def encode(self, kind, probs, a):
        # float32 rint(255 p) is monotone in p, 0.5 maps to 128 and the float below it to 127:
        # q >= 128 holds exactly where p >= 0.5, so the hard labels need no stream of their own
        q = np.rint(probs * np.float32(255)).astype(np.uint8)
        by_unit = q.transpose(0, 2, 1)
        kept = by_unit > 0
        return [("mask", np.packbits(kept, axis=-1)), ("vals", by_unit[kept])] + self._weight(kind, a)

    def decode(self, kind, streams, k):
        mask = streams["mask"]
        kept = np.unpackbits(mask, axis=-1, count=k).view(bool)
        probs = np.zeros((mask.shape[0], k, mask.shape[1]), np.float32)
        probs.transpose(0, 2, 1)[kept] = streams["vals"].astype(np.float32) / np.float32(255)
        return (probs >= HALF).view(np.uint8), probs, self._decode_weight(streams)

    def layout(self, kind, n, k, p):
        return {"mask": (U1, (n, p, (k + 7) // 8)), "vals": (U1, None), **self._weight_layout(kind, n, p)}
