"""``mke <args>`` with its imports done first, so a test can aim a SIGKILL at the stage's work.

    python tests/_stage_proc.py --params P stage prepare --out D

imports torch, the stages, the training, label-store and report code and every
registered experiment, prints ``ready`` on stdout, then runs ``mkepipe.cli.main(args)``
and exits with its code.
"""
from __future__ import annotations

import sys

import torch  # noqa: F401

import mkepipe.evaluation.reports  # noqa: F401
import mkepipe.labels  # noqa: F401
import mkepipe.promotion  # noqa: F401
import mkepipe.training.checkpoint  # noqa: F401
import mkepipe.training.runs  # noqa: F401
from mkepipe.cli import main
from mkepipe.experiments import create_experiment, experiment_names

if __name__ == "__main__":
    for name in experiment_names():
        create_experiment(name)
    print("ready", flush=True)
    sys.exit(main(sys.argv[1:]))
