"""The three-layer MLP of the authors' TwoMoon notebook."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mkepipe.models import MODELS
from mkepipe.perturb import dropout, gaussian_noise


@MODELS.register("mlp")
class MLP(nn.Module):
    """Linear → ReLU → dropout → (hidden noise) → Linear → ReLU → dropout → Linear.

    Takes ``{modality: (N, features)}`` and reads ``modalities`` in that order, side by
    side, as its ``in_features`` inputs. ``dropout`` (T3) and ``hidden_noise`` (T2) act
    only in training mode. As in the notebook (``y + beta * abs(y).mean() * randn``), the
    gradient flows through T2's noise scale ``mean |h|``.
    """

    def __init__(self, in_features: int, hidden: int, num_classes: int, dropout: float = 0.0,
                 hidden_noise: float = 0.0, modalities: Sequence[str] = ("x",)) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, num_classes)
        self.dropout = dropout
        self.hidden_noise = hidden_noise

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([inputs[m] for m in self.modalities], dim=1) if len(self.modalities) > 1 \
            else inputs[self.modalities[0]]
        h = dropout(F.relu(self.fc1(x)), self.dropout, self.training)
        if self.training:
            h = gaussian_noise(h, self.hidden_noise, scale_grad=True)
        h = dropout(F.relu(self.fc2(h)), self.dropout, self.training)
        return self.fc3(h)
