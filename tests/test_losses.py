import math

import pytest
import torch

from mkepipe.losses import IGNORE_INDEX, bce, hard_ce, pseudo_label_loss, soft_kl


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
    w = torch.rand(2, 3, 3)
    loss = soft_kl(logits, p, w)
    assert loss.dim() == 0 and loss.item() >= 0
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_pseudo_label_loss_dispatches_on_target_type():
    logits = torch.randn(4, 3)
    assert pseudo_label_loss(logits, torch.tensor([0, 1, 2, 0]))[1] == "ce"
    assert pseudo_label_loss(logits, torch.softmax(torch.randn(4, 3), 1))[1] == "kl"


def test_bce_hand_value_weights_and_valid_mask():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [3.0, 3.0]])
    target = torch.tensor([[1.0, 1.0], [0.0, 0.5], [1.0, 0.0]])
    weight = torch.tensor([1.0, 0.5, 1.0])
    valid = torch.tensor([True, True, False])

    def unit(x, t):  # binary cross-entropy with logits, by hand
        return -(t * math.log(1 / (1 + math.exp(-x))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-x))))

    per = [(unit(0.0, 1.0) + unit(2.0, 1.0)) / 2, (unit(1.0, 0.0) + unit(-1.0, 0.5)) / 2]
    expected = (per[0] * 1.0 + per[1] * 0.5) / 2  # the masked third unit counts in neither sum nor mean
    assert bce(logits, target, weight, valid).item() == pytest.approx(expected, rel=1e-6)
