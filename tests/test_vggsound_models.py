"""The AudioSet → VGGSound networks: crops of the clip, shapes, both presets."""
from __future__ import annotations

import pytest
import torch
import yaml

from mkepipe.config import parse_params
from mkepipe.experiments import create_experiment
from mkepipe.experiments.vggsound.models import (
    SoundNet,
    crop_spectrogram,
    crop_starts,
    crop_video,
    standardise,
)
from mkepipe.training.methods import METHODS
from tests.conftest import ROOT


def test_crop_starts_random_in_training_centred_in_evaluation():
    torch.manual_seed(0)
    starts = crop_starts(500, 400, 200, training=True)
    assert starts.min() >= 0 and starts.max() <= 200 and len(starts.unique()) > 50
    assert crop_starts(3, 400, 200, training=False).tolist() == [100, 100, 100]
    assert crop_starts(2, 150, 200, training=True).tolist() == [0, 0]  # shorter than the window


def test_crop_spectrogram_takes_each_window_and_tiles_short_clips():
    spec = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 1, 3, 10)
    out = crop_spectrogram(spec, torch.tensor([0, 6]), 4)
    assert out.shape == (2, 1, 3, 4)
    assert torch.equal(out[0], spec[0, :, :, 0:4]) and torch.equal(out[1], spec[1, :, :, 6:10])
    short = crop_spectrogram(spec[:, :, :, :3], torch.tensor([0, 0]), 7)
    assert torch.equal(short[0, 0, 0], spec[0, 0, 0, [0, 1, 2, 0, 1, 2, 0]])


def test_crop_video_spreads_frames_over_the_audio_window():
    video = torch.arange(8, dtype=torch.float32).reshape(1, 1, 8, 1, 1).expand(2, 3, 8, 2, 2).clone()
    # a 400-frame clip with 8 video frames (50 spectrogram frames each); windows of 200
    out = crop_video(video, torch.tensor([0, 200]), 200, 400, 4)
    assert out.shape == (2, 3, 4, 2, 2)
    assert out[0, 0, :, 0, 0].tolist() == [0, 1, 2, 3] and out[1, 0, :, 0, 0].tolist() == [4, 5, 6, 7]


def test_standardise_each_crop():
    x = standardise(torch.randn(3, 1, 5, 7) * 4 + 2)
    assert torch.allclose(x.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-5)


def test_cpu_preset_teacher_and_student():
    x = {"spec": torch.randn(2, 1, 129, 60), "video": torch.rand(2, 3, 6, 32, 32)}
    teacher = SoundNet(5, {"spec": 1}, ("spec",), crop_frames=40, video_frames=3).eval()
    student = SoundNet(5, {"spec": 1, "video": 3}, ("spec", "video"), crop_frames=40, video_frames=3,
                       dropout=0.5).eval()
    assert teacher(x).shape == (2, 5) and student(x).shape == (2, 5)
    assert torch.equal(teacher(x), teacher(x)), "evaluation is deterministic: the centre crop, no dropout"
    student.train()
    student(x).sum().backward()
    assert all(p.grad is not None for p in student.parameters())
    with pytest.raises(ValueError, match="spec"):
        SoundNet(5, {"video": 3}, ("video",))


def test_random_crop_is_a_perturbation_the_unregularised_student_goes_without():
    """T includes the random window: MM trains on a new crop per epoch, MM (no reg) on the centre one."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["experiment"] = "vggsound"
    params = parse_params(raw)
    exp = create_experiment("vggsound", params)
    cfg = params.active("student")
    channels = {"spec": 1, "video": 3}
    spec = {m: exp.model_spec("mm_student", cfg, METHODS.get(m).perturbation(cfg.perturbation), channels).kwargs
            for m in ("mm_student", "mm_student_noreg")}
    assert spec["mm_student"]["random_crop"] and spec["mm_student"]["dropout"] == 0.5
    assert not spec["mm_student_noreg"]["random_crop"] and spec["mm_student_noreg"]["dropout"] == 0
    assert params.active("teacher").perturbation.random_crop

    torch.manual_seed(0)
    x = {"spec": torch.randn(4, 1, 17, 90)}
    for random_crop, same in ((False, True), (True, False)):
        net = SoundNet(3, {"spec": 1}, ("spec",), crop_frames=30, random_crop=random_crop).train()
        assert torch.equal(net(x), net(x)) is same


def test_paper_preset_is_torchvisions_resnet18_and_r3d_18():
    student = SoundNet(46, {"spec": 1, "video": 3}, ("spec", "video"), preset="paper", crop_frames=500,
                       video_frames=8)
    audio = sum(p.numel() for p in student.branches["spec"].parameters())
    video = sum(p.numel() for p in student.branches["video"].parameters())
    assert 11.1e6 < audio < 11.2e6  # resnet18 without its fc, 1-channel stem
    assert 33.1e6 < video < 33.2e6  # r3d_18 without its fc
    assert student.head.in_features == 1024
