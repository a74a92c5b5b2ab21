"""RAVDESS (paper Table 2): face images → face images + voice, emotion recognition.

Torch-free: this module only declares the experiment (:data:`SPEC`). Its code: the
seven-field identifiers, the scan of ``Actor_XX/`` folders, PyAV decoding of the mp4 and
wav files, face crops and MFCCs, the prepare step, the networks, the figures, the inbox
of the relabel service and the synthetic default in the real formats. See
``docs/ravdess.md`` and ``docs/ravdess_data.md``.
"""
from mkepipe.experiments import ExperimentSpec
from mkepipe.experiments.ravdess.config import (
    RavdessEvaluate,
    RavdessPrepareConfig,
    RavdessPseudolabel,
    RavdessStudent,
    RavdessTeacher,
)

SPEC = ExperimentSpec(
    name="ravdess",
    experiment="mkepipe.experiments.ravdess.experiment:Ravdess",
    prepare=RavdessPrepareConfig, teacher=RavdessTeacher, pseudolabel=RavdessPseudolabel, student=RavdessStudent,
    evaluate=RavdessEvaluate,
    description="paper Table 2: face images → images + voice, 8 emotions on RAVDESS (synthetic default)",
    cli="mkepipe.experiments.ravdess.cli:add_parser",
    inbox=True,
)
