import torch

from mkepipe.models import create_model
from mkepipe.perturb import dropout, gaussian_noise, input_noise


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


def test_gaussian_noise_scale_takes_part_in_backpropagation_when_asked():
    x = torch.full((4,), 2.0, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(4, generator=torch.Generator().manual_seed(0))
    gaussian_noise(x, 1.5, generator=g, scale_grad=True).sum().backward()
    assert torch.allclose(x.grad, 1 + 1.5 * eps.sum() / 4)  # d/dx_i [x + 1.5 · mean|x| · ε]


def test_input_noise_per_modality_uses_each_modality_own_scale():
    x = {"image": torch.full((3, 2), 0.5), "mfcc": torch.full((3, 4), -200.0)}
    out = input_noise(x, 0.1, "modality", generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    expected = {"image": x["image"] + torch.randn(3, 2, generator=g) * 0.05,
                "mfcc": x["mfcc"] + torch.randn(3, 4, generator=g) * 20.0}
    assert all(torch.allclose(out[m], expected[m]) for m in x)
    assert input_noise(x, 0.0)["image"] is x["image"]


def test_input_noise_joint_equals_noise_on_the_concatenated_input():
    x = {"alpha": torch.randn(5, 1), "beta": torch.randn(5, 1) * 3}
    out = input_noise(x, 2.0, "joint", generator=torch.Generator().manual_seed(1))
    cat = gaussian_noise(torch.cat([x["alpha"], x["beta"]], 1), 2.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.cat([out["alpha"], out["beta"]], 1), cat)


def test_dropout_rate_and_train_eval():
    x = torch.ones(100_000)
    y = dropout(x, 0.8)
    assert abs(float((y == 0).float().mean()) - 0.8) < 0.01
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 5.0))  # inverted scaling 1/(1-r)
    assert dropout(x, 0.8, training=False) is x


def test_mlp_hidden_noise_and_dropout_only_in_training():
    torch.manual_seed(0)
    model = create_model("mlp", in_features=2, hidden=16, num_classes=2, dropout=0.5, hidden_noise=5.0,
                         modalities=("alpha", "beta"))
    xs = torch.randn(8, 2, requires_grad=True)
    x = {"alpha": xs[:, :1], "beta": xs[:, 1:]}
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    out = model(x)
    assert not torch.equal(out, model(x))
    out.sum().backward()
    assert xs.grad is not None and xs.grad.abs().sum() > 0
