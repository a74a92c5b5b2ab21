"""The task layer: one test per task kind of what the pipeline asks of it, hand values where
they are cheap, and the property that class weights applied batch by batch equal the whole set's."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from mkepipe.losses import IGNORE_INDEX
from mkepipe.tasks import TASKS, ClassBalance, MulticlassTask, MultilabelTask, SegmentationTask, create_task


def test_registry_builds_every_task_and_refuses_unknown():
    for name in TASKS:
        assert create_task(name, 3).name == name
    with pytest.raises(KeyError, match="unknown task"):
        create_task("regression", 3)
    with pytest.raises(ValueError, match="at least 2"):
        MulticlassTask(1)


def test_single_label_confidence_weight_one_hot_uniform_and_hand_value():
    task = MulticlassTask(2)
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert torch.allclose(task.confidence_weight(p), torch.tensor([1.0, 0.0, 1 - h / math.log(2)]), atol=1e-6)
    dense = SegmentationTask(5).confidence_weight(torch.softmax(torch.randn(2, 5, 3, 4), 1))
    assert dense.shape == (2, 3, 4) and (dense >= 0).all() and (dense <= 1).all()


def test_multilabel_entropy_confidence_and_weight_per_unit():
    task = MultilabelTask(2)
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.9, 0.5]])
    hb = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(2)
    assert torch.allclose(task.entropy(p), torch.tensor([0.0, 1.0, (hb + 1) / 2]), atol=1e-5)
    assert torch.allclose(task.confidence(p), torch.tensor([1.0, 0.5, 0.7]))
    assert torch.allclose(task.confidence_weight(p), 1 - task.entropy(p))


def test_probs_and_predictions_per_family():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert torch.allclose(MulticlassTask(3).probs(logits).sum(1), torch.ones(1))
    assert MulticlassTask(3).predictions(logits).tolist() == [0]
    multi = MultilabelTask(3)
    assert torch.allclose(multi.probs(logits), torch.sigmoid(logits))
    assert torch.allclose(multi.predictions(logits), torch.sigmoid(logits))
    assert MulticlassTask(3).family == "simplex" and multi.family == "bernoulli"


def test_losses_per_task_and_target_kind():
    logits = torch.randn(4, 3, requires_grad=True)
    single = MulticlassTask(3)
    assert single.loss(logits, torch.tensor([0, 1, 2, 0]))[1] == "ce"
    assert single.loss(logits, torch.softmax(torch.randn(4, 3), 1))[1] == "kl"
    loss, name = MultilabelTask(3).loss(logits, torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]]))
    assert name == "bce"
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_label_targets_one_hot_for_soft_and_void_rows_empty():
    task = SegmentationTask(3)
    y = torch.tensor([[[0, 2], [IGNORE_INDEX, 1]]])
    assert torch.equal(task.label_targets(y, soft=False), y)
    soft = task.label_targets(y, soft=True)
    assert soft.shape == (1, 3, 2, 2) and soft[0, :, 1, 0].sum() == 0 and soft[0, 2, 0, 1] == 1
    multi = MultilabelTask(2)
    assert multi.label_targets(torch.tensor([[1, 0]]), soft=False).dtype == torch.float32


def test_class_balance_inverse_frequency_and_batchwise_equals_whole_set():
    task = SegmentationTask(3)
    target = torch.tensor([[[0, 0, 0], [1, IGNORE_INDEX, 0]], [[0, 1, 1], [0, 0, 2]]])
    balance = task.class_balance(task.class_counts(target), 1.0)
    w = balance(target)
    labeled = target != IGNORE_INDEX
    assert w[~labeled].tolist() == [0.0]
    assert w[labeled].mean().item() == pytest.approx(1.0)
    assert w[target == 0].sum().item() == pytest.approx(w[target == 1].sum().item())
    assert torch.equal(torch.cat([balance(target[:1]), balance(target[1:])]), w)  # per batch = whole set
    assert torch.allclose(task.class_balance(task.class_counts(target), 0.0)(target), labeled.float())


def test_class_balance_on_soft_targets_counts_argmax_and_skips_empty_rows():
    task = SegmentationTask(2)
    probs = torch.zeros(2, 2, 2, 2)
    probs[0, 0] = torch.tensor([[0.9, 0.8], [0.7, 0.0]])
    probs[0, 1] = torch.tensor([[0.1, 0.2], [0.3, 0.0]])
    probs[1, :, 1, 1] = torch.tensor([0.2, 0.8])
    w = ClassBalance(task, task.class_counts(probs), 0.5)(probs)
    f0, f1 = 3 / 4, 1 / 4
    scale = 4 / (3 * f0 ** -0.5 + f1 ** -0.5)
    assert w[0, 0, 0].item() == pytest.approx(scale * f0 ** -0.5, rel=1e-5)
    assert w[1, 1, 1].item() == pytest.approx(scale * f1 ** -0.5, rel=1e-5)
    assert w[0, 1, 1].item() == 0.0 and w[1, 0, 0].item() == 0.0
    with pytest.raises(ValueError, match="single-label"):
        MultilabelTask(2).class_balance(torch.tensor([1, 1]), 0.5)


def test_meters_headline_and_per_class():
    acc = MulticlassTask(3, ["a", "b", "c"]).meter()
    acc.update(torch.tensor([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    out = acc.compute()
    assert out["accuracy"] == 75.0 and out["recall_per_class"] == {"a": 100.0, "b": 100.0, "c": 50.0}

    seg = SegmentationTask(2, ["x", "y"]).meter()
    seg.update(torch.tensor([[0, 1], [1, 1]]), np.array([[0, 1], [0, IGNORE_INDEX]]))
    out = seg.compute()
    assert out["iou_per_class"] == {"x": 50.0, "y": 50.0} and out["miou"] == pytest.approx(50.0)

    scores = np.array([[0.9, 0.2, 0.4], [0.3, 0.8, 0.1], [0.6, 0.7, 0.2], [0.1, 0.4, 0.3]])
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    ml = MultilabelTask(3, ["p", "q", "r"]).meter()
    ml.update(torch.from_numpy(scores[:2]), y[:2])
    ml.update(torch.from_numpy(scores[2:]), y[2:])
    out = ml.compute()
    expected = np.mean([average_precision_score(y[:, c], scores[:, c]) for c in (0, 1)]) * 100
    assert out["map"] == pytest.approx(expected) and out["classes_without_positives"] == ["r"]
    assert out["recall_per_class"] == {"p": 100.0, "q": 100.0}
    auc = np.mean([roc_auc_score(y[:, c], scores[:, c]) for c in (0, 1)]) * 100
    assert out["mauc"] == pytest.approx(auc)
    assert out["top1"] == pytest.approx(100.0)  # rows with a label: their best score is a positive
    ml = MultilabelTask(3, ["p", "q", "r"]).meter()
    ml.update(torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.1, 0.7]]), np.array([[1, 0, 0], [0, 0, 1]]))
    assert ml.compute()["top1"] == pytest.approx(50.0)


def test_class_counts_and_prior_per_family():
    single = MulticlassTask(3)
    counts = single.class_counts(torch.tensor([0, 0, 2, IGNORE_INDEX]))
    assert counts.tolist() == [2, 0, 1]
    assert single.class_prior(counts.numpy(), 4).tolist() == pytest.approx([2 / 3, 0, 1 / 3])
    multi = MultilabelTask(3)
    counts = multi.class_counts(torch.tensor([[1.0, 0.0, 1.0], [0.9, 0.2, 0.0]]))
    assert counts.tolist() == [2, 0, 1]
    assert multi.class_prior(counts.numpy(), 2).tolist() == pytest.approx([1.0, 0.0, 0.5])
