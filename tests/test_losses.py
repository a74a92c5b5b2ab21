import math

import pytest
import torch

from mkepipe.losses import IGNORE_INDEX, class_balance_weight, confidence_weight, hard_ce, pseudo_label_loss, soft_kl


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


def test_class_balance_weight_inverse_frequency_hard_ids():
    target = torch.tensor([[0, 0, 0], [1, IGNORE_INDEX, 0]])  # class 0: 4 elements, class 1: 1
    w = class_balance_weight(target, 1.0, num_classes=3)
    labeled = target != IGNORE_INDEX
    assert w[~labeled].tolist() == [0.0]
    assert w[labeled].mean().item() == pytest.approx(1.0)
    assert w[target == 0].sum().item() == pytest.approx(w[target == 1].sum().item())  # equal total per class
    assert torch.allclose(class_balance_weight(target, 0.0, 3), labeled.float())


def test_class_balance_weight_square_root_on_dense_soft_targets():
    probs = torch.zeros(1, 2, 2, 2)
    probs[0, 0] = torch.tensor([[0.9, 0.8], [0.7, 0.0]])  # three pixels argmax 0
    probs[0, 1] = torch.tensor([[0.1, 0.2], [0.3, 0.0]])
    # the last pixel has no label (all-zero row); add one pixel of class 1 in a second image
    probs = torch.cat([probs, torch.tensor([[[[0.0, 0.0], [0.0, 0.2]], [[0.0, 0.0], [0.0, 0.8]]]])])
    w = class_balance_weight(probs, 0.5, num_classes=2)
    assert w.shape == (2, 2, 2)
    f0, f1 = 3 / 4, 1 / 4
    scale = 4 / (3 * f0 ** -0.5 + f1 ** -0.5)
    assert w[0, 0, 0].item() == pytest.approx(scale * f0 ** -0.5, rel=1e-5)
    assert w[1, 1, 1].item() == pytest.approx(scale * f1 ** -0.5, rel=1e-5)
    assert w[0, 1, 1].item() == 0.0 and w[1, 0, 0].item() == 0.0
