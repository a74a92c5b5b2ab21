"""``dvc.yaml``, derived from the one list of stages (:data:`mkepipe.stages.STAGES`).

``mke pipeline dvc-yaml --write`` regenerates the file; ``--check`` (and a test) fails
when the committed file differs, so the stage order, each command's arguments and each
stage's code dependencies cannot drift from the code. Paths are templated on the active
experiment (``${experiment}``) and, for the stages of a round, on the ``rounds`` list of
``params.yaml`` (``${item.id}``, ``${item.teacher}``): DVC names them ``student@0``, ….

DVC templates cannot look a value up by the experiment's name, so each stage depends on
``experiments/${experiment}``: a folder of the project with one symbolic link per
registered experiment, to that experiment's package (built in, or a team's own package
kept in the project). DVC follows the link and hashes the package's files; ``--write``
(re)creates the links.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from mkepipe.experiments import specs
from mkepipe.stages import STAGES, Stage

LINKS = "experiments"

HEADER = """\
# The pipeline graph, generated from mkepipe/stages.py's STAGES by
# `mke pipeline dvc-yaml --write` (a test checks it is current): do not edit by hand.
# Paths are templated on the active experiment and the rounds listed in params.yaml. Each
# round runs pseudolabel -> student -> evaluate -> promote; promote writes
# teacher-after-round<N>.pt (the round's student if it passed the promotion rule, else its
# teacher), which the next round names as its teacher in params.yaml.
"""
HISTORY_PLOT = {"x": "epoch", "y": "loss", "cache": False}


def stage_entry(stage: Stage) -> dict[str, Any]:
    """One stage of dvc.yaml: the command, dependencies, params, outputs, metrics, plots."""
    cmd = " ".join([f"mke stage {stage.name}"] + [f"--{a.name.replace('_', '-')} {a.dvc}" for a in stage.args])
    entry: dict[str, Any] = {"cmd": cmd}
    entry["deps"] = [a.dvc for a in stage.args if a.role == "dep"] + list(stage.code)
    entry["params"] = list(stage.params)
    outs = [a.dvc for a in stage.args if a.role == "out"]
    if outs:
        entry["outs"] = outs
    metrics = list(stage.metrics) + [a.dvc for a in stage.args if a.role == "metric"]
    if metrics:
        entry["metrics"] = [{m: {"cache": False}} for m in metrics]
    plots = [a.dvc for a in stage.args if a.role == "plot"]
    if plots:
        entry["plots"] = [{p: dict(HISTORY_PLOT)} for p in plots]
    return {"foreach": "${rounds}", "do": entry} if stage.per_round else entry


def dvc_yaml() -> str:
    """The text of dvc.yaml."""
    body = {"stages": {s.name: stage_entry(s) for s in STAGES}}
    return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, width=120)


def check(path: str | Path = "dvc.yaml") -> bool:
    """Whether ``path`` holds exactly what :func:`dvc_yaml` generates."""
    path = Path(path)
    return path.is_file() and path.read_text() == dvc_yaml()


def experiment_sources() -> dict[str, Path]:
    """Each registered experiment's package, as a path relative to the folder that holds
    its top-level package (``mkepipe/experiments/nyu``, ``toy_mke``)."""
    return {name: Path(*spec.experiment.partition(":")[0].split(".")[:-1]) for name, spec in specs().items()}


def link_experiments(project: Path) -> dict[str, str]:
    """Point ``experiments/<name>`` at each experiment package found inside ``project``;
    returns ``{name: link target}``, or a note for a package outside the project (DVC
    cannot track code it does not hold: keep the package in the project)."""
    links = project / LINKS
    links.mkdir(exist_ok=True)
    done = {}
    for name, rel in experiment_sources().items():
        if not (project / rel).is_dir():
            done[name] = f"(not linked: {rel} is not in {project})"
            continue
        target = os.path.relpath(project / rel, links)
        link = links / name
        if link.is_symlink() and os.readlink(link) == target:
            done[name] = target
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)
        done[name] = target
    return done
