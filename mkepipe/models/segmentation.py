"""DeepLabV3+ on one modality: the NYU teacher and the UM student.

The UM student of Table 3 is this same model on RGB with the student's encoder; the
MM student's RGB branch (``fusion_student``) is built from the same pieces. Nothing is
downloaded: encoders start random unless ``encoder_weights_path`` names a local file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from segmentation_models_pytorch.encoders import get_encoder
from torch import nn

from mkepipe.models import MODELS
from mkepipe.perturb import dropout

SEG_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {  # demo and CI: 480×640 frames at 1/8 resolution, 2 CPU cores
        "input_size": (60, 80),
        "encoder": "resnet18",
        "decoder_channels": 64,
        "output_stride": 16,
        "atrous_rates": (1, 2, 3),  # the stride-16 map of a 60×80 input is only 4×5
        "encoder_weights_path": None,
    },
    "paper": {  # the paper's setting; ImageNet weights must be supplied as a local file
        "input_size": (480, 640),
        "encoder": "resnet101",
        "decoder_channels": 256,
        "output_stride": 16,
        "atrous_rates": (6, 12, 18),
        "encoder_weights_path": None,
    },
}
_NEEDS_WEIGHTS = {"paper"}
_HEAD_PREFIXES = ("fc.", "classifier.", "head.", "last_linear.", "model.fc.", "model.classifier.", "model.head.")


def preset_kwargs(preset: str, **overrides: Any) -> dict[str, Any]:
    """Model kwargs of a named preset (``input_size`` left out), updated by ``overrides``.

    Works for ``deeplabv3plus`` and ``fusion_student`` alike; the ``paper`` preset refuses
    to build without ``encoder_weights_path`` because it is meaningless from scratch.
    """
    if preset not in SEG_PRESETS:
        raise KeyError(f"unknown segmentation preset {preset!r}; known: {', '.join(sorted(SEG_PRESETS))}")
    kwargs = {k: v for k, v in SEG_PRESETS[preset].items() if k != "input_size"}
    kwargs.update(overrides)
    if preset in _NEEDS_WEIGHTS and not kwargs.get("encoder_weights_path"):
        raise ValueError(f"preset {preset!r} needs encoder_weights_path: a local ImageNet state dict for "
                         f"{kwargs['encoder']} (e.g. torchvision's resnet101 .pth); nothing can be downloaded")
    return kwargs


def default_atrous_rates(output_stride: int) -> tuple[int, int, int]:
    """DeepLabV3's ASPP rates: (6, 12, 18) at stride 16, doubled at stride 8."""
    return (6, 12, 18) if output_stride == 16 else (12, 24, 36)


def build_encoder(name: str, in_channels: int, output_stride: int = 16,
                  weights_path: str | Path | None = None) -> nn.Module:
    """An smp encoder (depth 5), randomly initialised or loaded from a local file."""
    encoder = get_encoder(name, in_channels=in_channels, depth=5, weights=None, output_stride=output_stride)
    if weights_path is not None:
        load_encoder_weights(encoder, weights_path)
    return encoder


def _unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise TypeError("expected a dict of tensors")
    return obj


def _match_keys(loaded: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes, add timm-universal's ``model.`` prefix, drop classifier heads."""
    out = {}
    for key, value in loaded.items():
        for prefix in ("module.", "encoder."):
            key = key.removeprefix(prefix)
        if key not in own and "model." + key in own:
            key = "model." + key
        if key not in own and key.startswith(_HEAD_PREFIXES):
            continue
        out[key] = value
    return out


def _adapt_in_channels(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB first-conv weights for ``in_channels`` inputs, as smp does for pretrained encoders:
    summed for one channel, cycled and rescaled (so activations keep their scale) otherwise."""
    if in_channels == 1:
        return weight.sum(1, keepdim=True)
    idx = torch.arange(in_channels) % weight.shape[1]
    return weight[:, idx] * (weight.shape[1] / in_channels)


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load a local encoder state dict (e.g. torchvision's ImageNet ResNet) into ``encoder``.

    Classifier-head keys are dropped and a 3-channel first convolution is adapted to the
    encoder's input channels (depth/HHA streams, early fusion). Anything else that does
    not match raises a ``ValueError`` that names the file and the offending keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights {path}: no such file (nothing can be downloaded; "
                                f"point encoder_weights_path at a local .pth state dict)")
    try:
        loaded = _unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:  # noqa: BLE001 - every unreadable file is the same error to the user
        raise ValueError(f"encoder weights {path}: not a state dict of tensors ({err})") from None
    own = encoder.state_dict()
    loaded = _match_keys(loaded, own)
    for key, value in loaded.items():
        target = own.get(key)
        if (target is not None and value.ndim == 4 and target.ndim == 4 and value.shape[1] == 3
                and target.shape[1] != 3 and value.shape[0] == target.shape[0]):
            loaded[key] = _adapt_in_channels(value, target.shape[1])
    missing = [k for k in own if k not in loaded and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in loaded if k not in own]
    wrong = [f"{k} {tuple(loaded[k].shape)} vs {tuple(own[k].shape)}"
             for k in own if k in loaded and loaded[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = [f"{label} {len(keys)} (e.g. {', '.join(keys[:3])})"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise ValueError(f"encoder weights {path} do not fit encoder {type(encoder).__name__}: {'; '.join(parts)}")
    nn.Module.load_state_dict(encoder, loaded, strict=False)


def check_batch(x: torch.Tensor, training: bool) -> None:
    """ASPP's image-pooling branch has BatchNorm on a 1×1 map: one sample cannot train it."""
    if training and x.shape[0] < 2:
        raise ValueError("training mode needs batches of at least 2 samples (BatchNorm in DeepLabV3+'s "
                         "image-pooling branch); drop a last batch of 1 (drop_last=True) or use eval mode")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad H and W at the bottom/right up to a multiple (reflect where possible)."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


@MODELS.register("deeplabv3plus")
class DeepLabV3PlusSeg(nn.Module):
    """smp DeepLabV3+ for any input size; returns logits (N, K, H, W) at input resolution.

    The input is padded to a multiple of the encoder's output stride and the logits are
    cropped back, so 60×80 frames work. ``dropout`` (T3) acts on the decoder features just
    before the 1×1 classifier, only in training mode. Training needs batches of ≥ 2. It
    takes ``{modality: (N, C, H, W)}`` and reads its one modality (e.g. an RGB teacher and
    UM student: ``modalities=("rgb",)``, ``in_channels=3``).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 40, encoder: str = "resnet18",
                 encoder_weights_path: str | None = None, dropout: float = 0.0, output_stride: int = 16,
                 decoder_channels: int = 256, atrous_rates: Sequence[int] | None = None,
                 modalities: Sequence[str] = ("rgb",)) -> None:
        super().__init__()
        if len(modalities) != 1:
            raise ValueError(f"deeplabv3plus reads one modality, got {tuple(modalities)}; use fusion='early' "
                             "of fusion_student for several")
        self.modality = modalities[0]
        self.net = smp.DeepLabV3Plus(
            encoder_name=encoder, encoder_weights=None, encoder_output_stride=output_stride,
            decoder_channels=decoder_channels, decoder_aspp_dropout=0.0,
            decoder_atrous_rates=tuple(atrous_rates or default_atrous_rates(output_stride)),
            in_channels=in_channels, classes=num_classes)
        self.dropout = dropout
        if encoder_weights_path is not None:
            self.load_encoder_weights(encoder_weights_path)

    def load_encoder_weights(self, path: str | Path) -> None:
        """See :func:`load_encoder_weights`; the decoder stays as initialised."""
        load_encoder_weights(self.net.encoder, path)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = inputs[self.modality]
        check_batch(x, self.training)
        h, w = x.shape[-2:]
        features = self.net.encoder(pad_to_multiple(x, self.net.encoder.output_stride))
        decoded = dropout(self.net.decoder(features), self.dropout, self.training)
        return self.net.segmentation_head(decoded)[..., :h, :w]
