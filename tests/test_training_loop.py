"""The shared training loop: optimiser choice and that training lowers the loss."""
import pytest
import torch

from mkepipe.config import Perturbation
from mkepipe.training.loop import fit, make_optimizer
from mkepipe.training.methods import Batch, consistency_step


def test_make_optimizer_kinds():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer("sgd", params, lr=0.1, momentum=0.9, weight_decay=0.0), torch.optim.SGD)
    adam = make_optimizer("adam", params, lr=1e-3, momentum=0.9, weight_decay=1e-4)
    assert isinstance(adam, torch.optim.AdamW) and adam.defaults["weight_decay"] == 1e-4


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.5), ("adam", 0.05)])
def test_fit_lowers_the_loss(optimizer, lr):
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(2, 2)
    history = fit(model, consistency_step, [Batch(x, y)], epochs=30, lr=lr, perturbation=Perturbation(),
                  optimizer=optimizer)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
