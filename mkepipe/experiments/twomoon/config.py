"""TwoMoon's sections of ``params.yaml`` (torch-free)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from mkepipe.config import Perturbation, Section, StudentMethods, TrainConfig


class TwoMoonPrepare(Section):
    """The TwoMoon protocol of the authors' notebook."""

    n_samples: int = Field(500, ge=20, le=1_000_000)
    noise: float = Field(0.1, ge=0, le=10)
    random_state: int = Field(42, ge=0)
    test_size: float = Field(0.4, gt=0, lt=1)
    unlabeled_fraction: float = Field(0.9, gt=0, lt=1)
    n_val: int = Field(200, ge=10, le=1_000_000, description="validation points for the promotion rule: a fresh "
                                                             "draw of the same moons (random_state + 1)")


class TwoMoonPerturbation(Perturbation):
    """The notebook adds T1 noise to the 2-D input as one tensor: one mean |x| for α and β."""

    noise_scale: Literal["modality", "joint"] = "joint"


class TwoMoonTeacher(TrainConfig):
    hidden: int = Field(32, ge=1, le=4096)
    epochs: int = Field(1000, ge=1, le=100_000)
    lr: float = Field(0.01, gt=0, le=10)
    perturbation: TwoMoonPerturbation = TwoMoonPerturbation()


class TwoMoonStudent(TrainConfig, StudentMethods):
    hidden: int = Field(16, ge=1, le=4096, description="hidden width of multimodal students")
    um_hidden: int = Field(32, ge=1, le=4096, description="hidden width of unimodal students")
    epochs: int = Field(2000, ge=1, le=100_000)
    lr: float = Field(0.01, gt=0, le=10)
    perturbation: TwoMoonPerturbation = TwoMoonPerturbation(input_noise=2.0)


class TwoMoonEvaluate(Section):
    grid_resolution: int = Field(200, ge=10, le=2000)
