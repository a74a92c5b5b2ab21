"""AudioSet → VGGSound (paper Table 4): sound → sound + video, multi-label sound events.

Torch-free: this module only declares the experiment (:data:`SPEC`). Its code: the
AudioSet and VGGSound CSVs and the class map between them, PyAV decoding of the clips,
the reference spectrogram, the prepare step into per-modality files read by sample id,
the ResNet-18 / 3-D ResNet networks, the AP-per-class figure and the synthetic default
in the real formats. See ``docs/vggsound.md`` and ``docs/vggsound_data.md``.
"""
from mkepipe.experiments import ExperimentSpec
from mkepipe.experiments.vggsound.config import (
    VggsoundEvaluate,
    VggsoundPrepareConfig,
    VggsoundPseudolabel,
    VggsoundStudent,
    VggsoundTeacher,
)

SPEC = ExperimentSpec(
    name="vggsound",
    experiment="mkepipe.experiments.vggsound.experiment:Vggsound",
    prepare=VggsoundPrepareConfig, teacher=VggsoundTeacher, pseudolabel=VggsoundPseudolabel,
    student=VggsoundStudent, evaluate=VggsoundEvaluate,
    description="paper Table 4: sound → sound + video, AudioSet-labeled teacher, VGGSound clips, mAP "
                "(synthetic default)",
    cli="mkepipe.experiments.vggsound.cli:add_parser",
    inbox=True,
)
