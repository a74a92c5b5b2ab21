import torch

from mkepipe.models import create_model
from mkepipe.perturb import dropout, gaussian_noise


def test_gaussian_noise_zero_strength_is_identity():
    x = torch.randn(5, 2)
    assert gaussian_noise(x, 0.0) is x


def test_gaussian_noise_scale_is_strength_times_mean_abs():
    x = torch.full((4, 3), -2.0)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    out = gaussian_noise(x, 1.5, generator=g1)
    expected = x + torch.randn(4, 3, generator=g2) * (1.5 * 2.0)
    assert out.shape == x.shape and torch.allclose(out, expected)


def test_gaussian_noise_std_statistics_and_gradient():
    x = torch.ones(200_000, requires_grad=True)
    out = gaussian_noise(x, 2.0)
    assert abs(float((out.detach() - 1).std()) - 2.0) < 0.02
    out.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))  # the scale is detached: d(out)/dx = 1


def test_dropout_rate_and_train_eval():
    x = torch.ones(100_000)
    y = dropout(x, 0.8)
    assert abs(float((y == 0).float().mean()) - 0.8) < 0.01
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 5.0))  # inverted scaling 1/(1-r)
    assert dropout(x, 0.8, training=False) is x


def test_mlp_hidden_noise_and_dropout_only_in_training():
    torch.manual_seed(0)
    model = create_model("mlp", in_features=2, hidden=16, num_classes=2, dropout=0.5, hidden_noise=5.0)
    x = torch.randn(8, 2, requires_grad=True)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    out = model(x)
    assert not torch.equal(out, model(x))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
