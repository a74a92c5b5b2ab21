import math

import pytest
import torch

from mkepipe.losses import IGNORE_INDEX, confidence_weight, hard_ce, pseudo_label_loss, soft_kl


def test_confidence_weight_one_hot_uniform_and_hand_value():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    w = confidence_weight(p)
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert w.shape == (3,)
    assert torch.allclose(w, torch.tensor([1.0, 0.0, 1 - h / math.log(2)]), atol=1e-6)


def test_confidence_weight_dense_shape():
    p = torch.softmax(torch.randn(2, 5, 3, 4), dim=1)
    w = confidence_weight(p)
    assert w.shape == (2, 3, 4) and (w >= 0).all() and (w <= 1).all()


def test_hard_ce_hand_value_weights_and_ignore():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [5.0, -5.0]], requires_grad=True)
    target = torch.tensor([0, 1, IGNORE_INDEX])
    weight = torch.tensor([1.0, 0.5, 1.0])
    loss = hard_ce(logits, target, weight)
    expected = (math.log(1 + math.exp(-2)) * 1.0 + math.log(2) * 0.5) / 2  # mean over the 2 valid elements
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert logits.grad[:2].abs().sum() > 0 and logits.grad[2].abs().sum() == 0


def test_soft_kl_zero_when_equal_and_hand_value():
    logits = torch.log(torch.tensor([[0.25, 0.75]]))
    assert soft_kl(logits, torch.tensor([[0.25, 0.75]])).item() == pytest.approx(0.0, abs=1e-7)
    p = torch.tensor([[0.5, 0.5]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert soft_kl(logits, p).item() == pytest.approx(expected, rel=1e-6)


def test_soft_kl_dense_weighted_gradient():
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    p = torch.softmax(torch.randn(2, 4, 3, 3), dim=1)
    w = confidence_weight(p)
    loss = soft_kl(logits, p, w)
    assert loss.dim() == 0 and loss.item() >= 0
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_pseudo_label_loss_dispatches_on_target_type():
    logits = torch.randn(4, 3)
    assert pseudo_label_loss(logits, torch.tensor([0, 1, 2, 0]))[1] == "ce"
    assert pseudo_label_loss(logits, torch.softmax(torch.randn(4, 3), 1))[1] == "kl"
