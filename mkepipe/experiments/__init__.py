"""Experiment registry: an experiment binds a dataset adapter, model factories,
the modalities of teacher and student, and a metric."""
from __future__ import annotations

from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.registry import Registry

EXPERIMENTS: Registry = Registry("experiment")


def create_experiment(name: str) -> Experiment:
    """Instantiate the registered experiment ``name``."""
    return EXPERIMENTS.get(name)()


def experiment_names() -> list[str]:
    return EXPERIMENTS.names()


from mkepipe.experiments import nyu, twomoon  # noqa: E402,F401  (register themselves)

__all__ = ["EXPERIMENTS", "Experiment", "ModelSpec", "create_experiment", "experiment_names"]
