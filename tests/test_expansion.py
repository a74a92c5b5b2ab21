"""Expansion diagnostics counted by hand: correction, corruption, disagreement, confidence."""
import numpy as np
import pytest
import torch

from mkepipe.evaluation.expansion import ExpansionMeter
from mkepipe.losses import IGNORE_INDEX
from mkepipe.tasks import MultilabelTask

NAMES = ("a", "b", "c")
TRUTH = np.array([0, 1, 2, 0, 1, 2, 0, 1])
LABELS = np.array([0, 1, 1, 1, 1, 2, 2, 1])
STUDENT = np.array([0, 1, 2, 0, 2, 2, 1, 1])  # departs at 2, 3 (right), 4 (labels right), 6 (both wrong)
CONF = np.array([0.9, 0.8, 0.3, 0.4, 0.5, 0.9, 0.2, 0.7])


def test_rates_with_truth():
    meter = ExpansionMeter(NAMES)
    meter.update(STUDENT[:5], LABELS[:5], CONF[:5], TRUTH[:5])  # two batches sum like one
    meter.update(STUDENT[5:], LABELS[5:], CONF[5:], TRUTH[5:])
    m = meter.compute()
    assert m["units"] == 8 and m["disagreement_rate"] == 50.0
    assert (m["correction_rate"], m["corruption_rate"], m["both_wrong_rate"]) == (50.0, 25.0, 25.0)
    assert (m["student_accuracy_on_du"], m["label_accuracy_on_du"]) == (75.0, 62.5)
    assert m["disagreement_per_class"] == {"a": 0.0, "b": 60.0, "c": 50.0}  # by pseudo-label class
    assert (m["teacher_confidence_where_disagree"], m["teacher_confidence_where_agree"]) == (35.0, 82.5)
    assert m["verdict"].startswith("expansion: ") and "50.0 %" in m["verdict"]


def test_a_student_that_mostly_corrupts_is_called_out():
    meter = ExpansionMeter(NAMES)
    meter.update(np.array([1, 2, 0]), np.array([0, 0, 0]), truth=np.array([0, 0, 1]))
    m = meter.compute()
    assert (m["correction_rate"], m["corruption_rate"]) == (0.0, 100.0)
    assert m["verdict"].startswith("no expansion") and "< 50 %" in m["verdict"]


def test_void_truth_counts_for_disagreement_not_for_correction():
    truth = np.array([[IGNORE_INDEX, 1], [2, IGNORE_INDEX]])[None]  # one 2×2 "image"
    meter = ExpansionMeter(NAMES)
    meter.update(np.array([[[2, 1], [2, 0]]]), np.array([[[0, 0], [2, 1]]]), truth=truth)
    m = meter.compute()
    assert m["disagreement_rate"] == 75.0  # 3 of 4 pixels, void ones included
    assert m["correction_rate"] == 100.0 and m["label_accuracy_on_du"] == 50.0  # only the 2 known pixels


def test_without_truth_no_rates_and_a_verdict_that_says_why():
    meter = ExpansionMeter(NAMES)
    meter.update(STUDENT, LABELS, CONF)
    m = meter.compute()
    assert "correction_rate" not in m and m["disagreement_rate"] == 50.0
    assert m["verdict"].startswith("no D_u truth")


def test_multilabel_units_are_sample_class_pairs():
    task = MultilabelTask(3, NAMES)
    meter = task.expansion_meter()
    probs = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.4]])
    student = task.decisions(torch.tensor([[0.8, 0.6, 0.7], [0.2, 0.3, 0.1]]))  # [[1, 1, 1], [0, 0, 0]]
    labels = task.label_decisions((probs >= 0.5).astype(np.uint8))  # [[1, 0, 1], [0, 1, 0]]
    truth = task.truth_decisions(np.array([[1, 1, 0], [0, 0, 0]]))
    meter.update(student, labels, task.decision_confidence(probs), truth)
    m = meter.compute()
    # departures at (0, b) and (1, b); the student is right at both
    assert m["units"] == 6 and m["disagreement_rate"] == pytest.approx(100 * 2 / 6, abs=0.01)
    assert m["correction_rate"] == 100.0
    assert m["disagreement_per_class"] == {"a": 0.0, "b": 100.0, "c": 0.0}
