"""AudioSet → VGGSound's networks (paper Table 4): a ResNet-18 on the spectrogram, and a
3-D ResNet on the video frames for the multimodal student.

The teacher, UM and NOISY students read ``spec``, the clip's log spectrogram (1, F, T):
ResNet-18 with a 1-channel 7×7 stride-2 stem (the VGGSound reference), global average
pool, one linear layer, sigmoid outputs. The MM student adds ``video`` (3, T_v, S, S):
torchvision's ``r3d_18`` family (3-D BasicBlocks, 3×3×3 convolutions), features
concatenated, one linear layer.

Both inputs hold the whole clip; the network crops it, as the reference's data loader
does: a random window of ``crop_frames`` spectrogram frames in training (``random_crop``,
a perturbation T: the MM student (no reg) trains on the centre one), the centre one in
evaluation, standardised on its own, and the ``video_frames`` video frames spread across
the same window. So a pseudo label is the teacher's prediction on the centre crop, while a
regularised student sees a new crop of the clip every epoch.

Presets: ``paper`` = torchvision's ``resnet18`` and ``r3d_18`` (widths 64…512, two
blocks per stage); ``cpu`` = the same families narrowed to widths 16…128 (audio: two
blocks per stage, video: one), sized so the demo trains in minutes on two cores
(bench/vggsound_throughput.py measures both).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.models.video import r3d_18
from torchvision.models.video.resnet import BasicBlock as BasicBlock3d
from torchvision.models.video.resnet import Conv3DSimple

from mkepipe.models import MODELS
from mkepipe.perturb import dropout, gaussian_noise

PRESETS = {
    "cpu": {"audio_widths": (16, 32, 64, 128), "audio_blocks": (2, 2, 2, 2),
            "video_widths": (16, 32, 64, 128), "video_blocks": (1, 1, 1, 1)},
    "paper": {},  # torchvision's resnet18 and r3d_18 as they are
}


class AudioResNet(nn.Module):
    """ResNet-18 on a 1-channel spectrogram → (N, features)."""

    def __init__(self, preset: str) -> None:
        super().__init__()
        if preset == "paper":
            net = resnet18(weights=None)
            net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            cfg = PRESETS[preset]
            net = _narrow_resnet(cfg["audio_widths"], cfg["audio_blocks"])
        self.features = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.net(spec)


def _narrow_resnet(widths: Sequence[int], blocks: Sequence[int]) -> ResNet:
    """torchvision's ResNet with BasicBlocks at ``widths`` instead of 64…512 (its
    constructor fixes those, so the stages are rebuilt the way ``ResNet._make_layer`` does)."""
    net = ResNet(BasicBlock, list(blocks), num_classes=1)
    net.conv1 = nn.Conv2d(1, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(widths[0])
    net.inplanes = widths[0]
    for i, (width, n) in enumerate(zip(widths, blocks)):
        setattr(net, f"layer{i + 1}", net._make_layer(BasicBlock, width, n, stride=1 if i == 0 else 2))
    net.fc = nn.Linear(widths[-1], 1)
    _init(net)
    return net


class VideoResNet3d(nn.Module):
    """A 3-D ResNet (``r3d_18`` family) on (N, 3, T, S, S) frames → (N, features)."""

    def __init__(self, preset: str) -> None:
        super().__init__()
        if preset == "paper":
            net = r3d_18(weights=None)
            self.features = net.fc.in_features
            net.fc = nn.Identity()
            self.net = net
            return
        cfg = PRESETS[preset]
        widths, blocks = cfg["video_widths"], cfg["video_blocks"]
        stem = nn.Sequential(nn.Conv3d(3, widths[0], (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                             nn.BatchNorm3d(widths[0]), nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                down = None
                if stride != 1 or cin != width:
                    down = nn.Sequential(nn.Conv3d(cin, width, 1, stride=stride, bias=False), nn.BatchNorm3d(width))
                layers.append(BasicBlock3d(cin, width, Conv3DSimple, stride, down))
                cin = width
        self.net = nn.Sequential(stem, *layers, nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.features = widths[-1]
        _init(self.net)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.net(video)


def _init(net: nn.Module) -> None:
    """He initialisation of the convolutions, unit batch norm (torchvision's own scheme)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def crop_starts(n: int, total: int, length: int, training: bool) -> torch.Tensor:
    """Start frame of each sample's window: uniform in training, centred in evaluation."""
    room = max(total - length, 0)
    if training and room:
        return torch.randint(0, room + 1, (n,))
    return torch.full((n,), room // 2, dtype=torch.long)


def crop_spectrogram(spec: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """(N, 1, F, T) → (N, 1, F, length) at ``starts``; a clip shorter than the window is tiled."""
    if spec.shape[-1] < length:
        spec = spec.repeat(1, 1, 1, -(-length // spec.shape[-1]))
    index = starts[:, None] + torch.arange(length)[None]
    return torch.take_along_dim(spec, index[:, None, None, :].expand(-1, spec.shape[1], spec.shape[2], -1), dim=3)


def standardise(spec: torch.Tensor) -> torch.Tensor:
    """Each crop to zero mean and unit deviation, as the reference normalises each 5 s crop."""
    mean = spec.mean(dim=(1, 2, 3), keepdim=True)
    return (spec - mean) / (spec.std(dim=(1, 2, 3), keepdim=True) + 1e-9)


def crop_video(video: torch.Tensor, starts: torch.Tensor, length: int, total: int, frames: int) -> torch.Tensor:
    """The ``frames`` frames of (N, 3, T_v, S, S) spread evenly over the spectrogram window
    [start, start + length) of ``total`` frames (the video frames cover the same clip)."""
    t_v = video.shape[2]
    span = torch.linspace(0, 1, frames + 2)[1:-1]  # centres of ``frames`` equal parts of the window
    at = (starts[:, None] + span[None] * min(length, total)) / max(total, 1) * t_v
    index = at.floor().long().clamp(0, t_v - 1)
    return torch.stack([video[i, :, index[i]] for i in range(video.shape[0])])


@MODELS.register("sound_net")
class SoundNet(nn.Module):
    """Per-modality ResNets on a crop of the clip, features concatenated, hidden noise (T2) and dropout (T3),
    one linear layer (logits for independent sigmoids).

    ``modalities``: ``spec`` (N, 1, F, T) and/or ``video`` (N, 3, T_v, S, S) in [0, 1];
    ``crop_frames``: spectrogram frames per window; ``video_frames``: frames per window;
    ``random_crop``: a random window in training (else the centre one, as in evaluation).
    """

    def __init__(self, num_classes: int, channels: Mapping[str, int], modalities: Sequence[str],
                 preset: str = "cpu", crop_frames: int = 200, video_frames: int = 4, random_crop: bool = True,
                 dropout: float = 0.0, hidden_noise: float = 0.0) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        branches = {"spec": AudioResNet, "video": VideoResNet3d}
        unknown = [m for m in modalities if m not in branches]
        if unknown:
            raise ValueError(f"sound_net has no branch for modalities {unknown}")
        if "spec" not in modalities:
            raise ValueError("sound_net crops the clip by its spectrogram: 'spec' must be among its modalities")
        self.modalities = tuple(modalities)
        self.branches = nn.ModuleDict({m: branches[m](preset) for m in self.modalities})
        self.head = nn.Linear(sum(b.features for b in self.branches.values()), num_classes)
        self.crop_frames, self.video_frames, self.random_crop = crop_frames, video_frames, random_crop
        self.dropout, self.hidden_noise = dropout, hidden_noise

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        spec = inputs["spec"]
        total = spec.shape[-1]
        starts = crop_starts(spec.shape[0], total, self.crop_frames, self.training and self.random_crop)
        feats = [self.branches["spec"](standardise(crop_spectrogram(spec, starts, self.crop_frames)))]
        if "video" in self.branches:
            clip = crop_video(inputs["video"], starts, self.crop_frames, total, self.video_frames)
            feats.append(self.branches["video"](clip))
        h = torch.cat(feats, dim=1)
        if self.training:
            h = gaussian_noise(h, self.hidden_noise)
        return self.head(dropout(h, self.dropout, self.training))
