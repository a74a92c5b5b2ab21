"""Model factories: every architecture is registered by name and built by :func:`create_model`."""
from __future__ import annotations

from typing import Any

from torch import nn

from mkepipe.registry import Registry

MODELS: Registry = Registry("model")


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with ``kwargs`` (stored in checkpoints as is).

    Every model takes a mapping ``{modality: tensor}`` and a ``modalities`` argument
    naming the entries it reads, in order."""
    return MODELS.get(name)(**kwargs)


from mkepipe.models import fusion, mlp, segmentation  # noqa: E402,F401  (register their models)
