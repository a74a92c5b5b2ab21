"""NYU Depth V2 (paper Table 3): RGB → RGB-D semantic segmentation.

Torch-free: this module only declares the experiment (:data:`SPEC`). Its code: loaders for
the labeled ``.mat``, the raw scene folders and the PNG layout; HHA; the synthetic
default; the prepare step and its readers; the inbox of the relabel service. See
``docs/nyu_data.md``.
"""
from mkepipe.experiments import ExperimentSpec
from mkepipe.experiments.nyu.config import NyuEvaluate, NyuPrepareConfig, NyuPseudolabel, NyuStudent, NyuTeacher

SPEC = ExperimentSpec(
    name="nyu",
    experiment="mkepipe.experiments.nyu.experiment:Nyu",
    prepare=NyuPrepareConfig, teacher=NyuTeacher, pseudolabel=NyuPseudolabel, student=NyuStudent,
    evaluate=NyuEvaluate,
    description="paper Table 3: RGB → RGB-D semantic segmentation on NYU Depth V2 (synthetic default)",
    cli="mkepipe.experiments.nyu.cli:add_parser",
    inbox=True,
)
