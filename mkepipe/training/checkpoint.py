"""Model checkpoints: weights plus the spec to rebuild the model, written atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mkepipe.experiments.base import ModelSpec
from mkepipe.fileio import atomic_write


def save_checkpoint(path: str | Path, model: nn.Module, spec: ModelSpec, meta: dict[str, Any]) -> Path:
    saved = spec.to_dict()
    # Pretrained encoder weights only initialise training; the state dict below holds them.
    saved["kwargs"] = {k: v for k, v in saved["kwargs"].items() if k != "encoder_weights_path"}
    payload = {"format": 1, "spec": saved, "meta": meta,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path) -> tuple[nn.Module, ModelSpec, dict[str, Any]]:
    """Rebuild the model in eval mode; raise a clear error for a missing or foreign file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        spec = ModelSpec.from_dict(payload["spec"])
    except Exception as err:  # noqa: BLE001 - any unpickling/format problem is the same error to the user
        raise ValueError(f"{path}: not an mkepipe checkpoint ({err})") from None
    model = spec.build()
    model.load_state_dict(payload["state_dict"])
    return model.eval(), spec, payload.get("meta", {})
