"""Label quality without ground truth: per-generation statistics and generation diffs.

Statistics are accumulated per block as exact counts and float64 sums (so shards
written by different processes merge to the same numbers) and summarised at the end.
A *unit* is a sample for classification and a pixel for dense labels. What a class
count, the confidence and the entropy mean depends on the label family (``families.py``):
argmax counts, max p and H(p)/log K for simplex labels; positive counts (p >= 0.5),
mean max(p, 1 - p) and mean binary entropy / log 2 for Bernoulli labels.
"""

from __future__ import annotations

import numpy as np

from .codecs import Analysis
from .families import Family, create_family

BINS = 20


def block_stats(a: Analysis, family: Family, num_classes: int, threshold: float) -> dict:
    """Raw accumulators of one block (JSON-able)."""
    units = int(a.conf.size)
    ent_bins = np.minimum((a.nent * BINS).astype(np.int64), BINS - 1)
    conf_bins = np.minimum((a.conf * BINS).astype(np.int64), BINS - 1)
    return {
        "units": units,
        "class_counts": family.class_counts(a.hard, num_classes).tolist(),
        "conf_sum": float(a.conf.sum(dtype=np.float64)),
        "entropy_sum": float(a.nent.sum(dtype=np.float64)),
        "below_threshold": int((a.conf < threshold).sum()),
        "entropy_hist": np.bincount(ent_bins.ravel(), minlength=BINS).tolist(),
        "conf_hist": np.bincount(conf_bins.ravel(), minlength=BINS).tolist(),
    }


def empty_stats(num_classes: int) -> dict:
    return {"units": 0, "class_counts": [0] * num_classes, "conf_sum": 0.0, "entropy_sum": 0.0,
            "below_threshold": 0, "entropy_hist": [0] * BINS, "conf_hist": [0] * BINS}


def merge_stats(parts: list[dict], num_classes: int) -> dict:
    out = empty_stats(num_classes)
    for part in parts:
        for key, value in part.items():
            if isinstance(value, list):
                out[key] = [x + y for x, y in zip(out[key], value)]
            else:
                out[key] += value
    return out


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def summarize(acc: dict, threshold: float, family: Family, prior: np.ndarray | list | None = None) -> dict:
    """Human-facing quality figures from merged accumulators (goes into the manifest)."""
    units = max(acc["units"], 1)
    hist = np.asarray(acc["class_counts"], np.float64) / units
    out = {
        "units": acc["units"],
        "mean_confidence": _r(acc["conf_sum"] / units),
        "mean_entropy": _r(acc["entropy_sum"] / units),
        "mean_weight": _r(1.0 - acc["entropy_sum"] / units),
        "confidence_threshold": threshold,
        "frac_below_threshold": _r(acc["below_threshold"] / units),
        "class_hist": [_r(x) for x in hist],
        "entropy_hist": [_r(c / units) for c in acc["entropy_hist"]],
        "confidence_hist": [_r(c / units) for c in acc["conf_hist"]],
        "hist_bins": BINS,
    }
    if prior is not None:
        for key, value in family.prior_stats(hist, prior).items():
            out[key] = [_r(x) for x in value] if np.ndim(value) else _r(value)
    return out


def quality_block(acc: dict, threshold: float, family: Family, prior) -> dict:
    return {"accumulators": acc, "summary": summarize(acc, threshold, family, prior)}


def compare(gen_a, gen_b, ids: list[str] | None = None, max_samples: int | None = None) -> dict:
    """Diff two generations of one family on their common ids: flip rate, mean KL(a||b), class shift.

    Simplex: the share of units whose argmax differs and the mean KL per unit. Bernoulli:
    the share of differing bits (unit x class) and the mean binary KL per unit and class.
    KL needs probabilities in both generations (``None`` otherwise). ``max_samples``
    limits the work to the first common ids (in ``gen_a`` order).
    """
    if gen_a.num_classes != gen_b.num_classes:
        raise ValueError(f"class counts differ: {gen_a.num_classes} vs {gen_b.num_classes}")
    if gen_a.family != gen_b.family:
        raise ValueError(f"label families differ: {gen_a.family} vs {gen_b.family}")
    family, k = create_family(gen_a.family), gen_a.num_classes
    ids_b = set(gen_b.ids)
    pool = gen_a.ids if ids is None else ids
    common = [i for i in pool if i in ids_b]
    if max_samples is not None:
        common = common[:max_samples]
    pixels = int(np.prod(gen_a.shape, dtype=np.int64))
    chunk = int(max(1, min(256, (64 << 20) // (4 * k * pixels))))
    counts_a, counts_b = np.zeros(k, np.int64), np.zeros(k, np.int64)
    flips = compared = 0
    kl_sum, kl_ok = 0.0, True
    for start in range(0, len(common), chunk):
        part = common[start:start + chunk]
        _, ha, pa, _ = gen_a.arrays(part)
        _, hb, pb, _ = gen_b.arrays(part)
        counts_a += family.class_counts(ha, k)
        counts_b += family.class_counts(hb, k)
        differ, size, kl = family.diff(ha, hb, pa, pb)
        flips, compared = flips + differ, compared + size
        kl_ok = kl_ok and kl is not None
        kl_sum += kl or 0.0
    units = len(common) * pixels
    frac_a, frac_b = counts_a / max(units, 1), counts_b / max(units, 1)
    return {
        "a": gen_a.id, "b": gen_b.id, "family": family.name,
        "common_samples": len(common),
        "only_in_a": len(set(gen_a.ids) - ids_b) if ids is None else None,
        "only_in_b": len(ids_b - set(gen_a.ids)) if ids is None else None,
        "units": units,
        "flip_rate": _r(flips / max(compared, 1)),
        "mean_kl": _r(kl_sum / compared) if kl_ok and compared else None,
        "class_frac_a": [_r(x) for x in frac_a],
        "class_frac_b": [_r(x) for x in frac_b],
        "class_shift": [_r(x) for x in frac_b - frac_a],
    }
