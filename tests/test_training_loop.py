"""The shared training loop: optimiser and schedule choice, that training lowers the loss,
and class-balanced weights."""
import pytest
import torch

from mkepipe import stages
from mkepipe.config import Perturbation, load_params
from mkepipe.experiments import create_experiment
from mkepipe.tasks import MulticlassTask
from mkepipe.training.data import Batch
from mkepipe.training.loop import POLY_POWER, NonFiniteLoss, fit, make_optimizer, make_schedule
from mkepipe.training.methods import consistency_step
from mkepipe.training.runs import predict_logits, train_teacher
from tests.conftest import ROOT


class Linear(torch.nn.Linear):
    """A linear model on the mapping ``{"x": …}`` the training loop passes."""

    def forward(self, inputs):
        return super().forward(inputs["x"])


def step(model, batch, perturbation):
    return consistency_step(model, batch, perturbation, task=MulticlassTask(2))


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
    model = Linear(2, 2)
    history = fit(model, step, [Batch({"x": x}, y)], epochs=30, lr=lr, perturbation=Perturbation(),
                  optimizer=optimizer)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]


def test_poly_schedule_decays_to_zero_per_step():
    opt = make_optimizer("sgd", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.0, weight_decay=0.0)
    schedule = make_schedule("poly", opt, steps=10)
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.1)
    assert rates[5] == pytest.approx(0.1 * 0.5 ** POLY_POWER)
    assert rates[-1] == pytest.approx(0.1 * 0.1 ** POLY_POWER) and opt.param_groups[0]["lr"] == 0.0


def test_constant_schedule_keeps_the_rate_and_unknown_is_an_error():
    opt = make_optimizer("adam", [torch.nn.Parameter(torch.zeros(2))], lr=1e-3, momentum=0.0, weight_decay=0.0)
    schedule = make_schedule("constant", opt, steps=3)
    for _ in range(5):
        opt.step()
        schedule.step()
    assert opt.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="lr_schedule"):
        make_schedule("cosine", opt, steps=3)


def test_fit_with_poly_lowers_the_loss():
    torch.manual_seed(0)
    x = torch.randn(32, 2)
    y = (x[:, 0] > 0).long()
    model = Linear(2, 2)
    batches = [Batch({"x": x[:16]}, y[:16]), Batch({"x": x[16:]}, y[16:])]
    seen = []
    history = fit(model, step, batches, epochs=5, lr=0.5, perturbation=Perturbation(),
                  lr_schedule="poly", on_epoch=lambda row: seen.append(row["epoch"]))
    assert seen == [1, 2, 3, 4, 5] and history[-1]["loss"] < history[0]["loss"]


def test_non_finite_loss_stops_training_before_the_weights_change():
    x = torch.randn(8, 2)
    x[3, 0] = float("nan")
    model = Linear(2, 2)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(NonFiniteLoss, match="epoch 1, step 1"):
        fit(model, step, [Batch({"x": x}, (x[:, 1] > 0).long())], epochs=3, lr=0.1, perturbation=Perturbation())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_class_balance_moves_an_imbalanced_teacher_toward_the_rare_class(tmp_path):
    params = load_params(ROOT / "params.yaml")
    stages.prepare(params, tmp_path)
    exp = create_experiment(params.experiment)
    labeled, test = exp.load(tmp_path, "labeled"), exp.load(tmp_path, "test")
    y = labeled.labels(range(len(labeled)))
    rare = [i for i, c in enumerate(y) if c == 1][:2]
    imbalanced = labeled.take([i for i, c in enumerate(y) if c == 0] + rare)
    share = {}
    for power in (0.0, 1.0):
        model, spec, _ = train_teacher(exp, params.with_active("teacher", class_balance=power), imbalanced)
        share[power] = (predict_logits(model, spec, test).argmax(1) == 1).float().mean().item()
    assert share[1.0] > share[0.0] + 0.05, share  # measured: 0.23 → 0.34 of the test points
