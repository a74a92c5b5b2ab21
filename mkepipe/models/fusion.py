"""Two-stream RGB + depth/HHA student with gated cross-modal fusion (the MM student)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.base import SegmentationHead
from segmentation_models_pytorch.base import initialization as init
from segmentation_models_pytorch.decoders.deeplabv3.decoder import DeepLabV3PlusDecoder
from segmentation_models_pytorch.encoders.resnet import ResNetEncoder
from torch import nn

from mkepipe.models import MODELS
from mkepipe.models.segmentation import (
    DeepLabV3PlusSeg,
    build_encoder,
    check_batch,
    default_atrous_rates,
    load_encoder_weights,
    pad_to_multiple,
)
from mkepipe.perturb import dropout


class ChannelFilter(nn.Module):
    """Channel weights in (0, 1) from the global average of both modalities' features."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Linear(2 * channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, both: torch.Tensor) -> torch.Tensor:
        return self.mlp(both.mean((2, 3)))[:, :, None, None]


class GatedFusion(nn.Module):
    """One fusion step between the two streams at an encoder stage (SA-Gate-like).

    With ``r``, ``d`` the RGB and depth features (N, C, h, w) and ``[·;·]`` channel concat:

    1. cross-modal recalibration: ``r' = r + σ(MLP_r(GAP[r; d])) ⊙ d`` and
       ``d' = d + σ(MLP_d(GAP[r; d])) ⊙ r`` (channel attention from the concatenation);
    2. spatial gate: ``(a_r, a_d) = softmax over the two modalities of Conv1×1([r'; d'])``,
       one pair per pixel; ``fused = a_r · r' + a_d · d'``;
    3. feedback: the next stage of each stream receives ``ReLU((r + fused) / 2)`` and
       ``ReLU((d + fused) / 2)``; ``fused`` goes to the decoder.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.filter_rgb = ChannelFilter(channels, reduction)
        self.filter_depth = ChannelFilter(channels, reduction)
        self.gate = nn.Conv2d(2 * channels, 2, kernel_size=1)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        both = torch.cat([rgb, depth], 1)
        rgb_rec = rgb + self.filter_rgb(both) * depth
        depth_rec = depth + self.filter_depth(both) * rgb
        weights = torch.softmax(self.gate(torch.cat([rgb_rec, depth_rec], 1)), dim=1)
        fused = weights[:, :1] * rgb_rec + weights[:, 1:] * depth_rec
        return F.relu((rgb + fused) / 2), F.relu((depth + fused) / 2), fused


def _stages(encoder: ResNetEncoder) -> list[nn.Module]:
    return [nn.Sequential(encoder.maxpool, encoder.layer1), encoder.layer2, encoder.layer3, encoder.layer4]


@MODELS.register("fusion_student")
class FusionStudent(nn.Module):
    """RGB-D segmentation student: ``{rgb: (N, rgb_channels, H, W), depth: (N,
    depth_channels, H, W)}`` (the names in ``modalities``) → logits (N, K, H, W).

    ``fusion="gated"``: two ResNet encoders (RGB with ``rgb_channels``, depth/HHA with
    ``depth_channels`` inputs) run stage by stage; after each of the four residual stages a
    :class:`GatedFusion` mixes them, feeds the mix back into both streams, and the fused
    stage-1 (stride 4) and stage-4 features feed a DeepLabV3+ decoder (ASPP + low-level
    skip, smp's implementation). This is a re-implementation *in the spirit of* SA-Gate
    (Chen et al., ECCV 2020: separation-and-aggregation gate with bi-directional
    propagation), not the original network: the backbone, the decoder wiring and details
    such as which features the gate mixes may differ from the authors' code.

    ``fusion="early"``: one DeepLabV3+ on both modalities stacked along the channels.

    The UM student (RGB branch alone) is ``deeplabv3plus`` with the same encoder.
    ``dropout`` (T3) acts on the decoder features before the classifier, in training only.
    Training needs batches of ≥ 2 (BatchNorm in the ASPP image-pooling branch).
    """

    def __init__(self, rgb_channels: int = 3, depth_channels: int = 3, num_classes: int = 40,
                 encoder: str = "resnet18", fusion: str = "gated", dropout: float = 0.0,
                 encoder_weights_path: str | None = None, output_stride: int = 16,
                 decoder_channels: int = 256, atrous_rates: Sequence[int] | None = None,
                 modalities: Sequence[str] = ("rgb", "depth")) -> None:
        super().__init__()
        if fusion not in ("gated", "early"):
            raise ValueError(f"fusion must be 'gated' or 'early', got {fusion!r}")
        if len(modalities) != 2:
            raise ValueError(f"fusion_student reads two modalities (colour, geometry), got {tuple(modalities)}")
        self.modalities = tuple(modalities)
        self.rgb_channels, self.depth_channels, self.fusion = rgb_channels, depth_channels, fusion
        self.dropout = dropout
        rates = tuple(atrous_rates or default_atrous_rates(output_stride))
        if fusion == "early":
            self.early = DeepLabV3PlusSeg(rgb_channels + depth_channels, num_classes, encoder, encoder_weights_path,
                                          dropout, output_stride, decoder_channels, rates, modalities=("stacked",))
            return
        self.rgb_encoder = build_encoder(encoder, rgb_channels, output_stride, encoder_weights_path)
        if not isinstance(self.rgb_encoder, ResNetEncoder):
            raise ValueError(f"fusion='gated' needs a ResNet-family encoder (resnet18/34/50/101/152, resnext…), "
                             f"got {encoder!r}; use fusion='early' for other encoders")
        self.depth_encoder = build_encoder(encoder, depth_channels, output_stride, encoder_weights_path)
        channels = self.rgb_encoder.out_channels
        self.gates = nn.ModuleList(GatedFusion(c) for c in channels[2:])
        self.decoder = DeepLabV3PlusDecoder(channels, 5, decoder_channels, rates, output_stride,
                                            aspp_separable=True, aspp_dropout=0.0)
        self.segmentation_head = SegmentationHead(decoder_channels, num_classes, kernel_size=1, upsampling=4)
        init.initialize_decoder(self.decoder)
        init.initialize_head(self.segmentation_head)

    def load_encoder_weights(self, path: str | Path) -> None:
        """Load the same local RGB weights into every encoder (first conv adapted per stream)."""
        if self.fusion == "early":
            self.early.load_encoder_weights(path)
        else:
            load_encoder_weights(self.rgb_encoder, path)
            load_encoder_weights(self.depth_encoder, path)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        rgb, depth = (inputs[m] for m in self.modalities)
        if rgb.shape[1] != self.rgb_channels or depth.shape[1] != self.depth_channels:
            raise ValueError(f"expected {self.rgb_channels} + {self.depth_channels} input channels "
                             f"({' + '.join(self.modalities)}), got {rgb.shape[1]} + {depth.shape[1]}")
        if self.fusion == "early":
            return self.early({"stacked": torch.cat([rgb, depth], 1)})
        check_batch(rgb, self.training)
        h, w = rgb.shape[-2:]
        rgb = pad_to_multiple(rgb, self.rgb_encoder.output_stride)
        depth = pad_to_multiple(depth, self.rgb_encoder.output_stride)
        features = [None]  # the decoder reads the stride-4 and the last stage only
        rgb = self.rgb_encoder.relu(self.rgb_encoder.bn1(self.rgb_encoder.conv1(rgb)))
        depth = self.depth_encoder.relu(self.depth_encoder.bn1(self.depth_encoder.conv1(depth)))
        features.append(rgb)
        for rgb_stage, depth_stage, gate in zip(_stages(self.rgb_encoder), _stages(self.depth_encoder), self.gates):
            rgb, depth, fused = gate(rgb_stage(rgb), depth_stage(depth))
            features.append(fused)
        decoded = dropout(self.decoder(features), self.dropout, self.training)
        return self.segmentation_head(decoded)[..., :h, :w]
