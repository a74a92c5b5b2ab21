"""The experiment registry: torch-free discovery, lazy loading.

An experiment is a package that exposes an :class:`ExperimentSpec` and registers it in
the ``mkepipe.experiments`` entry-point group of its distribution::

    [project.entry-points."mkepipe.experiments"]
    toy = "toy_mke:SPEC"

The spec names the experiment's config models (a torch-free module, so validating
``params.yaml``, ``mke --help`` and ``mke show`` never import torch) and, as a
``"module:Class"`` string, the :class:`~mkepipe.experiments.base.Experiment` that binds
its task, data adapter, models and figures; that class is imported only when a stage
runs. The built-in experiments register the same way (``pyproject.toml``), so a team's
own experiment shipped as a separate package is no different from them.
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from mkepipe.config import NoOptions, PseudolabelConfig

if TYPE_CHECKING:
    from mkepipe.experiments.base import Experiment

ENTRY_POINT_GROUP = "mkepipe.experiments"


@dataclass(frozen=True)
class ExperimentSpec:
    """What the core knows about an experiment without importing its code.

    ``experiment``: ``"module:Class"`` of its :class:`~mkepipe.experiments.base.Experiment`.
    ``prepare`` … ``evaluate``: its config model per stage section of ``params.yaml``
    (each must build with no arguments: its defaults).
    ``reproduce``: ``"module:function"`` behind ``mke reproduce <name>`` (a paper table), if any.
    ``cli``: ``"module:function"`` that adds commands to ``mke`` (``add_parser(subparsers)``;
    the module must not import torch at import time), if any.
    ``inbox``: its data adapter ingests new raw sensor data, so ``relabel/<name>`` is served.
    """

    name: str
    experiment: str
    prepare: type = NoOptions
    teacher: type = NoOptions
    pseudolabel: type = PseudolabelConfig
    student: type = NoOptions
    evaluate: type = NoOptions
    description: str = ""
    reproduce: str | None = None
    cli: str | None = None
    inbox: bool = False


class RegistryError(KeyError):
    """An unknown experiment name, or a broken registration."""

    def __str__(self) -> str:
        return str(self.args[0])


@functools.cache
def specs() -> dict[str, ExperimentSpec]:
    """Every registered experiment's spec, by name (entry points loaded once per process)."""
    found: dict[str, ExperimentSpec] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as err:  # noqa: BLE001 - name the broken plugin instead of a bare traceback
            raise RegistryError(f"experiment plugin {ep.name!r} ({ep.value}) failed to load: {err}") from err
        if not isinstance(spec, ExperimentSpec) or spec.name != ep.name:
            raise RegistryError(f"entry point {ep.name!r} ({ep.value}) must be an ExperimentSpec named {ep.name!r}")
        if ep.name in found and found[ep.name] != spec:
            raise RegistryError(f"experiment {ep.name!r} is registered twice ({ep.value})")
        found[ep.name] = spec
    if not found:
        raise RegistryError("no experiment is registered: mkepipe is not installed (run `make setup` or "
                            "`pip install -e .`), so its entry points are missing")
    return dict(sorted(found.items()))


def experiment_names() -> list[str]:
    return list(specs())


def get_spec(name: str) -> ExperimentSpec:
    try:
        return specs()[name]
    except KeyError:
        raise RegistryError(f"unknown experiment {name!r}; registered: {', '.join(specs())}") from None


def load_object(target: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_experiment(name: str, params: Any = None) -> "Experiment":
    """Instantiate the registered experiment ``name`` (imports its code: torch and all),
    configured for ``params`` if given (:meth:`~mkepipe.experiments.base.Experiment.configure`)."""
    exp = load_object(get_spec(name).experiment)()
    if params is not None:
        exp.configure(params)
    return exp


def inbox_experiments() -> list[str]:
    """Experiments whose data adapter can ingest new raw data (served as ``relabel/<name>``)."""
    return [name for name, spec in specs().items() if spec.inbox]
