"""Shared tester for the segmentation models: every variant on tiny inputs (smp-style)."""
import pytest
import torch
import torchvision

import mkepipe.models.fusion  # noqa: F401  (registers fusion_student)
import mkepipe.models.segmentation  # noqa: F401  (registers deeplabv3plus)
from mkepipe.models import create_model
from mkepipe.models.fusion import GatedFusion
from mkepipe.models.segmentation import SEG_PRESETS, preset_kwargs

K = 5
VARIANTS = {  # id: (registry name, kwargs, channels per modality)
    "teacher": ("deeplabv3plus", {"in_channels": 3}, {"rgb": 3}),
    "fusion-gated": ("fusion_student", {"fusion": "gated"}, {"rgb": 3, "depth": 3}),
    "fusion-early": ("fusion_student", {"fusion": "early"}, {"rgb": 3, "depth": 3}),
}


def build(variant: str, preset: str = "cpu", **overrides):
    """The model and a function making random inputs ``{modality: (n, C, h, w)}`` for it."""
    name, kwargs, channels = VARIANTS[variant]
    channels = {**channels, **({"depth": overrides["depth_channels"]} if "depth_channels" in overrides else {})}
    arch = {k: v for k, v in SEG_PRESETS[preset].items() if k != "input_size"}
    torch.manual_seed(0)
    model = create_model(name, num_classes=K, modalities=tuple(channels), **{**arch, **kwargs, **overrides})
    return model, lambda n, h, w: {m: torch.randn(n, c, h, w) for m, c in channels.items()}


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request):
    return request.param


def test_output_shape_at_odd_sizes(variant):
    model, inputs = build(variant)
    model.eval()
    with torch.no_grad():
        for h, w in [(60, 80), (64, 64), (33, 47)]:
            assert model(inputs(2, h, w)).shape == (2, K, h, w)


def test_backward_reaches_every_parameter(variant):
    model, inputs = build(variant)
    model.train()
    x = inputs(2, 64, 64)
    loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, K, (2, 64, 64)))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_eval_is_deterministic_and_dropout_acts_only_in_training(variant):
    plain, inputs = build(variant)
    x = inputs(2, 64, 64)
    plain.train()
    with torch.no_grad():
        assert torch.equal(plain(x), plain(x))  # no hidden randomness without dropout
    model, _ = build(variant, dropout=0.5)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


def test_single_sample_batches_work_in_eval_and_fail_clearly_in_training(variant):
    model, inputs = build(variant)
    x = inputs(1, 60, 80)
    with torch.no_grad():
        assert model.eval()(x).shape == (1, K, 60, 80)
        with pytest.raises(ValueError, match="at least 2 samples"):
            model.train()(x)


def test_paper_preset_architecture_builds_and_runs():
    for variant in VARIANTS:
        model, inputs = build(variant, "paper")
        model.eval()
        with torch.no_grad():
            assert model(inputs(1, 48, 40)).shape == (1, K, 48, 40)


def test_presets_demand_weights_where_needed():
    assert preset_kwargs("cpu")["encoder"] == "resnet18"
    assert "input_size" not in preset_kwargs("cpu")
    with pytest.raises(ValueError, match="encoder_weights_path"):
        preset_kwargs("paper")
    assert preset_kwargs("paper", encoder_weights_path="w.pth")["encoder"] == "resnet101"
    with pytest.raises(KeyError, match="unknown segmentation preset"):
        preset_kwargs("gpu")


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """An ImageNet-format (torchvision) ResNet-18 state dict, fc included, random values."""
    torch.manual_seed(1)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(state, path)
    return path, state


def test_encoder_weights_load_from_local_file(resnet18_file):
    path, state = resnet18_file
    teacher, _ = build("teacher", encoder_weights_path=str(path))
    assert torch.equal(teacher.net.encoder.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(teacher.net.encoder.bn1.running_var, state["bn1.running_var"])

    gated, inputs = build("fusion-gated", depth_channels=1, encoder_weights_path=str(path))
    assert torch.equal(gated.rgb_encoder.conv1.weight, state["conv1.weight"])
    assert torch.allclose(gated.depth_encoder.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(gated.depth_encoder.layer4[0].conv1.weight, state["layer4.0.conv1.weight"])
    assert gated(inputs(2, 64, 64)).shape == (2, K, 64, 64)

    early, _ = build("fusion-early", encoder_weights_path=str(path))
    expected = state["conv1.weight"][:, [0, 1, 2, 0, 1, 2]] * 0.5  # cycled, rescaled by 3/6
    assert torch.allclose(early.early.net.encoder.conv1.weight, expected)


def test_encoder_weights_errors_are_clear(tmp_path, resnet18_file):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build("teacher", encoder_weights_path=str(missing))
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    with pytest.raises(ValueError, match=r"resnet34.pth do not fit .*unexpected"):
        build("teacher", encoder_weights_path=str(wrong))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a state dict"):
        build("fusion-gated", encoder_weights_path=str(junk))


def test_fusion_refuses_bad_configuration():
    with pytest.raises(ValueError, match="ResNet-family"):
        build("fusion-gated", encoder="tu-mobilenetv3_small_050")
    with pytest.raises(ValueError, match="fusion must be"):
        build("fusion-gated", fusion="late")
    model, _ = build("fusion-gated")
    with pytest.raises(ValueError, match="expected 3 \\+ 3 input channels"):
        model({"rgb": torch.randn(2, 3, 64, 64), "depth": torch.randn(2, 1, 64, 64)})
    with pytest.raises(ValueError, match="two modalities"):
        create_model("fusion_student", num_classes=K, modalities=("rgb",))


def test_gated_fusion_follows_its_formula():
    gate = GatedFusion(8)
    rgb, depth = torch.randn(2, 8, 5, 6), torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        for f in (gate.filter_rgb, gate.filter_depth):
            f.mlp[2].weight.zero_()
            f.mlp[2].bias.fill_(-100.0)  # channel weights σ(−100) ≈ 0: no recalibration
        gate.gate.weight.zero_()
        gate.gate.bias.copy_(torch.tensor([0.0, 0.0]))  # equal spatial weights
        rgb_out, depth_out, fused = gate(rgb, depth)
    mix = (rgb + depth) / 2
    assert torch.allclose(fused, mix, atol=1e-6)
    assert torch.allclose(rgb_out, torch.relu((rgb + mix) / 2), atol=1e-6)
    assert torch.allclose(depth_out, torch.relu((depth + mix) / 2), atol=1e-6)
