"""Label families: what a generation's values are, and the math that depends on it.

- ``simplex`` (the default): class probabilities that sum to 1 per unit; the hard
  label is the argmax, one class id per unit.
- ``bernoulli``: independent per-class probabilities (multi-label tasks); the hard
  label is the multi-hot vector ``p >= 0.5``, K bits per unit.

Everything that differs between them (valid ``label_fn`` output, hard labels, quality
counts, the prior comparison, generation diffs, the encodings offered) is a method of
a family object, so the writer, the reader and the quality code never test its name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from . import bernoulli, codecs
from ._format import LabelStoreError
from .codecs import Analysis, Codec

KINDS = ("hard", "soft", "weighted")
ALIASES = {"compact": "sparse-q8", "lossless": "float16"}
EPS = 1e-12


class Family(ABC):
    """The label family of a generation; see the module docstring."""

    name = ""
    encodings: dict[str, tuple[str, ...]] = {}  # kind -> encodings offered, the default first
    requirement = ""  # what label_fn must return, for error messages

    def __repr__(self) -> str:
        return f"<{self.name} label family>"

    def resolve_encoding(self, kind: str, encoding: str) -> str:
        """The canonical encoding name for ``kind``, or a LabelStoreError naming the allowed ones."""
        if kind not in KINDS:
            raise LabelStoreError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "hard":
            return "hard"
        encoding = ALIASES.get(encoding, encoding)
        allowed = self.encodings[kind]
        if encoding not in allowed:
            raise LabelStoreError(f"encoding {encoding!r} is not available for {self.name} labels of kind "
                                  f"{kind!r}; allowed: {', '.join(allowed)}")
        return encoding

    def create_codec(self, encoding: str) -> Codec:
        return codecs.create_codec(encoding, self.name)

    def lineage_fields(self) -> dict:
        """What the family adds to the lineage a generation id is derived from."""
        return {"family": self.name}

    @abstractmethod
    def hard_shape(self, num_classes: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's hard label."""

    @abstractmethod
    def hard_dtype(self, num_classes: int) -> np.dtype:
        """Type of the hard labels ``arrays()`` returns."""

    @abstractmethod
    def analyse(self, probs: np.ndarray, threshold: float | None = None) -> Analysis:
        """Per-unit facts about a ``(n,K,P)`` block (``threshold`` only for sparse codecs)."""

    @abstractmethod
    def invalid_rows(self, probs: np.ndarray, a: Analysis) -> np.ndarray:
        """Per sample: True where ``label_fn``'s output is not valid for this family."""

    @abstractmethod
    def class_counts(self, hard: np.ndarray, num_classes: int) -> np.ndarray:
        """Units whose hard label includes each class, from ``(n, ...)`` hard labels."""

    @abstractmethod
    def check_prior(self, prior, num_classes: int) -> np.ndarray:
        """The labeled set's class prior as float64, or a LabelStoreError."""

    @abstractmethod
    def prior_stats(self, hist: np.ndarray, prior: np.ndarray) -> dict:
        """Compare the per-class fractions ``hist`` with the labeled set's ``prior``."""

    @abstractmethod
    def diff(self, ha: np.ndarray, hb: np.ndarray, pa: np.ndarray | None, pb: np.ndarray | None):
        """``(differing hard values, hard values compared, KL sum or None)`` of two label blocks."""


class Simplex(Family):
    name = "simplex"
    encodings = {"hard": ("hard",), "soft": ("float16", "sparse-q8"), "weighted": ("float16", "sparse-q8", "hard")}
    requirement = "probabilities (finite, >= 0, summing to 1 over K)"

    def lineage_fields(self) -> dict:
        return {}  # simplex ids predate families and must not change

    def hard_shape(self, num_classes, shape):
        return tuple(shape)

    def hard_dtype(self, num_classes):
        return codecs.hard_dtype(num_classes)

    def analyse(self, probs, threshold=None):
        return codecs.analyse(probs, threshold)

    def invalid_rows(self, probs, a):
        return codecs.invalid_rows(probs, a)

    def class_counts(self, hard, num_classes):
        return np.bincount(hard.ravel(), minlength=num_classes)

    def check_prior(self, prior, num_classes):
        prior = np.asarray(prior, np.float64)
        if prior.shape != (num_classes,) or (prior < 0).any() or prior.sum() <= 0:
            raise LabelStoreError(f"class_prior must be a non-negative ({num_classes},) array")
        return prior

    def prior_stats(self, hist, prior):
        prior = np.asarray(prior, np.float64)
        prior = prior / prior.sum()
        safe = np.maximum(prior, EPS)
        nz = hist > 0
        return {"class_prior": prior, "prior_ratio": hist / safe, "prior_tv": 0.5 * np.abs(hist - prior).sum(),
                "prior_kl": float((hist[nz] * np.log(hist[nz] / safe[nz])).sum())}

    def diff(self, ha, hb, pa, pb):
        if pa is None or pb is None:
            return int((ha != hb).sum()), ha.size, None
        ratio = np.log(np.maximum(pa, np.float32(EPS))) - np.log(np.maximum(pb, np.float32(EPS)))
        return int((ha != hb).sum()), ha.size, float((pa * ratio).sum(dtype=np.float64))


class Bernoulli(Family):
    name = "bernoulli"
    encodings = {"hard": ("hard",), "soft": ("float16", "sparse-q8"), "weighted": ("float16", "sparse-q8", "hard")}
    requirement = "independent probabilities (finite, in [0, 1])"

    def hard_shape(self, num_classes, shape):
        return (num_classes, *shape)

    def hard_dtype(self, num_classes):
        return np.dtype(np.uint8)

    def analyse(self, probs, threshold=None):
        return bernoulli.analyse(probs)

    def invalid_rows(self, probs, a):
        return bernoulli.invalid_rows(probs, a)

    def class_counts(self, hard, num_classes):
        return hard.reshape(hard.shape[0], num_classes, -1).sum(axis=(0, 2), dtype=np.int64)

    def check_prior(self, prior, num_classes):
        prior = np.asarray(prior, np.float64)
        if prior.shape != (num_classes,) or not ((prior >= 0) & (prior <= 1)).all():
            raise LabelStoreError(f"class_prior must be ({num_classes},) positive rates in [0, 1]")
        return prior

    def prior_stats(self, hist, prior):
        """Per-class positive rates: ratio, mean |rate - prior| (the mean total variation
        of the per-class Bernoullis) and their mean binary KL(rate || prior)."""
        return {"class_prior": prior, "prior_ratio": hist / np.maximum(prior, EPS),
                "prior_tv": float(np.abs(hist - prior).mean()),
                "prior_kl": float(binary_kl(hist, prior).mean())}

    def diff(self, ha, hb, pa, pb):
        flips = int((ha != hb).sum())
        if pa is None or pb is None:
            return flips, ha.size, None
        return flips, ha.size, float(binary_kl(pa.astype(np.float64), pb.astype(np.float64)).sum())


def binary_kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise KL(Bernoulli(a) || Bernoulli(b)); ``b`` is kept inside [EPS, 1 - EPS]."""
    b = np.clip(b, EPS, 1 - EPS)
    return a * np.log(np.maximum(a, EPS) / b) + (1 - a) * np.log(np.maximum(1 - a, EPS) / (1 - b))


FAMILIES: dict[str, Family] = {f.name: f for f in (Simplex(), Bernoulli())}


def create_family(name: str) -> Family:
    """The family object for ``"simplex"`` or ``"bernoulli"``."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise LabelStoreError(f"family must be one of {tuple(FAMILIES)}, got {name!r}") from None
