"""Expansion diagnostics: where a student departs from its pseudo labels on D_u, is it right?

Knowledge expansion happens when the student overrules the teacher's mistakes and keeps
the rest (DESIGN §2.6). Per decision unit (a pixel or a sample; a (sample, class) pair
for multi-label tasks) the meter counts where the student's decision differs from the
pseudo label. With D_u's truth (synthetic data, or a labeled subset a user supplies):

* **correction rate** — of the disagreements, the share where the student is right;
* **corruption rate** — of the disagreements, the share where the pseudo label was right;
  the rest are disagreements where both are wrong.

Without truth: the disagreement rate, its breakdown by pseudo-label class, and the
teacher's confidence where student and labels disagree versus where they agree. A
correction rate under 50 % says the student departs from its labels mostly where they
were right: expansion cannot work on this data.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mkepipe.losses import IGNORE_INDEX

THRESHOLD = 50.0


def _r(x: float) -> float:
    return round(float(x), 2)


class ExpansionMeter:
    """Accumulate ``update`` batch by batch (decisions as class ids per unit, or 0/1 bits
    (N, K, …) for multi-label), then ``compute``."""

    def __init__(self, class_names: Sequence[str], multilabel: bool = False) -> None:
        self.names = list(class_names)
        self.multilabel = multilabel
        k = len(self.names)
        self.units = self.disagree = 0
        self.class_units = np.zeros(k, np.int64)
        self.class_disagree = np.zeros(k, np.int64)
        self.conf = {"disagree": [0.0, 0], "agree": [0.0, 0]}
        self.truth_disagree = self.corrected = self.corrupted = 0
        self.truth_units = self.student_right = self.labels_right = 0

    def _per_class(self, labels: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(self.names)
        if self.multilabel:  # a unit is a (sample, class) pair: count by class
            axes = tuple(i for i in range(labels.ndim) if i != 1)
            return np.ones_like(mask).sum(axis=axes), mask.sum(axis=axes)
        return np.bincount(labels.ravel(), minlength=k)[:k], np.bincount(labels[mask], minlength=k)[:k]

    def update(self, student: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None = None,
               truth: np.ndarray | None = None) -> None:
        student, labels = np.asarray(student), np.asarray(labels).astype(np.int64)
        differ = student != labels
        self.units += differ.size
        self.disagree += int(differ.sum())
        units, disagree = self._per_class(labels, differ)
        self.class_units += units
        self.class_disagree += disagree
        if confidence is not None:
            for key, mask in (("disagree", differ), ("agree", ~differ)):
                self.conf[key][0] += float(np.asarray(confidence)[mask].sum(dtype=np.float64))
                self.conf[key][1] += int(mask.sum())
        if truth is not None:
            known = np.asarray(truth) != IGNORE_INDEX
            self.truth_units += int(known.sum())
            self.student_right += int((known & (student == truth)).sum())
            self.labels_right += int((known & (labels == truth)).sum())
            d = differ & known
            self.truth_disagree += int(d.sum())
            self.corrected += int((d & (student == truth)).sum())
            self.corrupted += int((d & (labels == truth)).sum())

    def compute(self) -> dict[str, Any]:
        """Rates in percent; ``verdict`` says in words what they mean."""
        out: dict[str, Any] = {
            "units": self.units,
            "disagreement_rate": _r(100 * self.disagree / max(self.units, 1)),
            "disagreement_per_class": {self.names[c]: _r(100 * d / u) for c, (u, d) in
                                       enumerate(zip(self.class_units, self.class_disagree)) if u},
        }
        for key, (total, n) in self.conf.items():
            if n:
                out[f"teacher_confidence_where_{key}"] = _r(100 * total / n)
        if self.truth_units:
            d = max(self.truth_disagree, 1)
            out.update(correction_rate=_r(100 * self.corrected / d), corruption_rate=_r(100 * self.corrupted / d),
                       both_wrong_rate=_r(100 * (self.truth_disagree - self.corrected - self.corrupted) / d),
                       student_accuracy_on_du=_r(100 * self.student_right / self.truth_units),
                       label_accuracy_on_du=_r(100 * self.labels_right / self.truth_units))
        out["verdict"] = self.verdict(out)
        return out

    @staticmethod
    def verdict(m: dict[str, Any]) -> str:
        if "correction_rate" not in m:
            return (f"no D_u truth: the student departs from {m['disagreement_rate']:.1f} % of its labels; "
                    "supply a labeled subset of D_u to see whether it corrects or corrupts them")
        if m["correction_rate"] >= THRESHOLD:
            return (f"expansion: where the student departs from its labels it is right "
                    f"{m['correction_rate']:.1f} % of the time")
        return (f"no expansion: where the student departs from its labels it is right only "
                f"{m['correction_rate']:.1f} % of the time (< {THRESHOLD:.0f} %): it adds more mistakes than it "
                "removes, so expansion cannot work on this data as configured (either the teacher's mistakes are "
                "consistent in the student's inputs, or the student misses what its labels get right)")
