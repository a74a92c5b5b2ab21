"""The promotion rule: does a round's student become the next teacher?

Applied after every round by the pipeline's promote stage (:func:`mkepipe.stages.promote`)
and by the relabel service.

Both checks must pass, on the validation split scored by the evaluate stage (the test
split is only reported: choosing models on it would flatter them):

1. **quality** — the student's headline metric is at least the teacher's plus ``min_gain``.
2. **no class collapse** — the student recognises at least ``min_class_coverage`` of the
   classes the teacher recognises. "Recognises" reads the task's per-class vector named
   in ``metrics.json`` (``class_scores``: IoU for segmentation, recall for classification
   and multi-label) and means a score above 0. A student that regularisation pushed onto
   the majority class (TwoMoon round 2 does exactly that) can score close to its teacher
   on an imbalanced test set while having forgotten the rare classes; this check refuses it.

Refused students stay on disk and in the report; the teacher and the label lineage stay.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "promoted" if self.promote else "kept teacher"


def _recognised(scores: dict[str, float]) -> set[str]:
    return {name for name, v in scores.items() if v > 0}


def decide(teacher: dict[str, Any], student: dict[str, Any], metric: str, class_scores: str, *,
           min_gain: float = 0.0, min_class_coverage: float = 0.5) -> Decision:
    """Apply the rule to the evaluate stage's per-model metric dicts (``details[name]``);
    ``class_scores`` names their per-class vector."""
    reasons = []
    ok = True
    t, s = float(teacher[metric]), float(student[metric])
    if s >= t + min_gain:
        reasons.append(f"quality: student {metric} {s:.2f} >= teacher {t:.2f} + {min_gain:g} (validation)")
    else:
        ok = False
        reasons.append(f"quality: student {metric} {s:.2f} < teacher {t:.2f} + {min_gain:g} (validation)")
    want, have = _recognised(teacher[class_scores]), _recognised(student[class_scores])
    coverage = len(have & want) / len(want) if want else 1.0
    line = (f"classes: student recognises {len(have & want)} of the teacher's {len(want)} "
            f"({coverage:.0%}, need {min_class_coverage:.0%})")
    if coverage < min_class_coverage:
        ok = False
        line += " - class collapse"
    reasons.append(line)
    return Decision(ok, reasons)


def decide_from_metrics(metrics: dict[str, Any], rule: Any) -> Decision:
    """The rule (``promotion:`` of params.yaml) on an evaluate stage's ``metrics.json``:
    its validation scores, never its test scores."""
    details = metrics["validation"]
    return decide(details["teacher"], details[metrics["student_method"]], metrics["metric"],
                  metrics["class_scores"], min_gain=rule.min_gain, min_class_coverage=rule.min_class_coverage)
