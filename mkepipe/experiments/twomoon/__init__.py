"""TwoMoon: the toy experiment of paper Table 1 (α = x-coordinate, β = y-coordinate).

Torch-free: this module only declares the experiment (:data:`SPEC`); its code is in
``experiment.py`` and is imported when a stage runs.
"""
from mkepipe.experiments import ExperimentSpec
from mkepipe.experiments.twomoon.config import TwoMoonEvaluate, TwoMoonPrepare, TwoMoonStudent, TwoMoonTeacher

SPEC = ExperimentSpec(
    name="twomoon",
    experiment="mkepipe.experiments.twomoon.experiment:TwoMoon",
    prepare=TwoMoonPrepare, teacher=TwoMoonTeacher, student=TwoMoonStudent, evaluate=TwoMoonEvaluate,
    description="paper Table 1: x-coordinate (α) → x and y (α, β) of make_moons, multiclass",
    reproduce="mkepipe.experiments.twomoon.reproduce:reproduce",
)
