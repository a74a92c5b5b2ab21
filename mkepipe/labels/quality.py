"""Label quality without ground truth: per-generation statistics and generation diffs.

Statistics are accumulated per block as exact counts and float64 sums (so shards
written by different processes merge to the same numbers) and summarised at the end.
A *unit* is a sample for classification and a pixel for dense labels.
"""

from __future__ import annotations

import numpy as np

from .codecs import Analysis

BINS = 20


def block_stats(a: Analysis, num_classes: int, threshold: float) -> dict:
    """Raw accumulators of one block (JSON-able)."""
    units = int(a.hard.size)
    ent_bins = np.minimum((a.nent * BINS).astype(np.int64), BINS - 1)
    conf_bins = np.minimum((a.conf * BINS).astype(np.int64), BINS - 1)
    return {
        "units": units,
        "class_counts": np.bincount(a.hard.ravel(), minlength=num_classes).tolist(),
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


def summarize(acc: dict, threshold: float, prior: np.ndarray | list | None = None) -> dict:
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
        prior = np.asarray(prior, np.float64)
        prior = prior / prior.sum()
        safe = np.maximum(prior, 1e-12)
        nz = hist > 0
        out["class_prior"] = [_r(x) for x in prior]
        out["prior_ratio"] = [_r(x) for x in hist / safe]
        out["prior_tv"] = _r(0.5 * np.abs(hist - prior).sum())
        out["prior_kl"] = _r(float((hist[nz] * np.log(hist[nz] / safe[nz])).sum()))
    return out


def quality_block(acc: dict, threshold: float, prior) -> dict:
    return {"accumulators": acc, "summary": summarize(acc, threshold, prior)}


def compare(gen_a, gen_b, ids: list[str] | None = None, max_samples: int | None = None) -> dict:
    """Diff two generations on their common ids: argmax flip rate, mean KL(a||b), class shift.

    KL needs probabilities in both generations (``None`` otherwise). ``max_samples``
    limits the work to the first common ids (in ``gen_a`` order).
    """
    if gen_a.num_classes != gen_b.num_classes:
        raise ValueError(f"class counts differ: {gen_a.num_classes} vs {gen_b.num_classes}")
    k = gen_a.num_classes
    ids_b = set(gen_b.ids)
    pool = gen_a.ids if ids is None else ids
    common = [i for i in pool if i in ids_b]
    if max_samples is not None:
        common = common[:max_samples]
    chunk = int(max(1, min(256, (64 << 20) // (4 * k * int(np.prod(gen_a.shape, dtype=np.int64))))))
    counts_a, counts_b = np.zeros(k, np.int64), np.zeros(k, np.int64)
    flips = units = 0
    kl_sum, kl_ok = 0.0, True
    for start in range(0, len(common), chunk):
        part = common[start:start + chunk]
        _, ha, pa, _ = gen_a.arrays(part)
        _, hb, pb, _ = gen_b.arrays(part)
        counts_a += np.bincount(ha.ravel().astype(np.int64), minlength=k)
        counts_b += np.bincount(hb.ravel().astype(np.int64), minlength=k)
        flips += int((ha != hb).sum())
        units += ha.size
        if pa is None or pb is None:
            kl_ok = False
            continue
        ratio = np.log(np.maximum(pa, np.float32(1e-12))) - np.log(np.maximum(pb, np.float32(1e-12)))
        kl_sum += float((pa * ratio).sum(dtype=np.float64))
    denom = max(units, 1)
    frac_a, frac_b = counts_a / denom, counts_b / denom
    return {
        "a": gen_a.id, "b": gen_b.id,
        "common_samples": len(common),
        "only_in_a": len(set(gen_a.ids) - ids_b) if ids is None else None,
        "only_in_b": len(ids_b - set(gen_a.ids)) if ids is None else None,
        "units": units,
        "flip_rate": _r(flips / denom),
        "mean_kl": _r(kl_sum / denom) if kl_ok and units else None,
        "class_frac_a": [_r(x) for x in frac_a],
        "class_frac_b": [_r(x) for x in frac_b],
        "class_shift": [_r(x) for x in frac_b - frac_a],
    }
