"""The methods of the paper's tables. A method is a ``train_step`` plus the data it sees.

| method              | inputs   | targets                         | perturbation |
|---------------------|----------|---------------------------------|--------------|
| teacher             | α        | true labels of D_l              | none         |
| um_student          | α        | pseudo labels of D_u            | yes          |
| noisy_student       | α        | D_l true ∪ D_u pseudo           | yes          |
| mm_student          | α, β     | pseudo labels of D_u            | yes          |
| mm_student_noreg    | α, β     | pseudo labels of D_u            | none         |
| mm_student_sup      | α, β     | true labels of D_u (upper bound)| yes          |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn

from mkepipe.config import Perturbation
from mkepipe.perturb import input_noise
from mkepipe.perturb_dense import random_flip_scale
from mkepipe.registry import Registry
from mkepipe.tasks import Task
from mkepipe.training.data import Batch

TrainStep = Callable[..., dict[str, torch.Tensor]]  # (model, batch, perturbation, task=task)


def consistency_step(model: nn.Module, batch: Batch, perturbation: Perturbation, task: Task) -> dict[str, torch.Tensor]:
    """``l_cls(ỹ, f(T(x)))``: flip/scale jointly on every modality, targets and weights and
    T1 on each modality here; T2/T3 inside the model; the loss is the task's."""
    x, target, weight, valid = batch.x, batch.target, batch.weight, None
    if perturbation.flip_scale:
        x, target, weight, valid = random_flip_scale(x, target, weight, scale_range=perturbation.scale_range)
    x = input_noise(x, perturbation.input_noise, perturbation.noise_scale)
    loss, name = task.loss(model(x), target, weight, valid)
    return {"loss": loss, name: loss.detach()}


@dataclass(frozen=True)
class Method:
    name: str
    multimodal: bool
    targets: Literal["labeled", "pseudo", "labeled+pseudo", "truth"]
    regularized: bool
    train_step: TrainStep = consistency_step

    def perturbation(self, configured: Perturbation) -> Perturbation:
        return configured if self.regularized else Perturbation()


METHODS: Registry[Method] = Registry("method")


def _register(method: Method) -> None:
    METHODS.register(method.name)(method)


for _m in (
    Method("teacher", multimodal=False, targets="labeled", regularized=True),
    Method("um_student", multimodal=False, targets="pseudo", regularized=True),
    Method("noisy_student", multimodal=False, targets="labeled+pseudo", regularized=True),
    Method("mm_student", multimodal=True, targets="pseudo", regularized=True),
    Method("mm_student_noreg", multimodal=True, targets="pseudo", regularized=False),
    Method("mm_student_sup", multimodal=True, targets="truth", regularized=True),
):
    _register(_m)
