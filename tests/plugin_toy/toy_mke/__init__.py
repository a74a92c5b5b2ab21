"""A minimal experiment in a package of its own: two overlapping labels on TwoMoon-style points.

Unit: a point of ``make_moons``; α is its x-coordinate, β its y-coordinate. Label 0 ("upper
moon") is the moon it belongs to; label 1 ("right half") is x > 0.3. A point can carry
both, one or none, so it is a multi-label task: the α-only teacher cannot separate the
moons where they overlap in x, the α+β student can. This module is torch-free: it only
declares the experiment and its params.yaml sections.
"""
from pydantic import Field

from mkepipe.config import Perturbation, Section, StudentMethods, TrainConfig
from mkepipe.experiments import ExperimentSpec


class ToyPrepare(Section):
    n_samples: int = Field(400, ge=40)
    seed: int = 0


class ToyTeacher(TrainConfig):
    epochs: int = Field(300, ge=1)
    lr: float = Field(0.05, gt=0)


class ToyStudent(TrainConfig, StudentMethods):
    epochs: int = Field(300, ge=1)
    lr: float = Field(0.05, gt=0)
    perturbation: Perturbation = Perturbation(input_noise=0.5)


SPEC = ExperimentSpec(name="toy", experiment="toy_mke.experiment:Toy", prepare=ToyPrepare, teacher=ToyTeacher,
                      student=ToyStudent, description="two overlapping labels on moons (multi-label)")
