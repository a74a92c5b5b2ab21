"""AudioSet → VGGSound's sections of ``params.yaml`` (torch-free)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mkepipe.config import DataPath, Perturbation, PseudolabelConfig, Section, StudentMethods, TrainConfig

SYNTH_CLASSES = ("violin", "cello", "trumpet", "saxophone", "rain", "waterfall", "helicopter", "lawn_mower")


class VggsoundSynthConfig(Section):
    """The synthetic default: AudioSet-style labeled sound clips (``.wav``, some with two
    labels) and VGGSound-style unlabeled video clips with sound (``.mp4``, H.264 + AAC)
    of the same sound sources (docs/vggsound_data.md)."""

    classes: list[str] = Field(list(SYNTH_CLASSES), description="names from the class map whose sources are "
                                                                "rendered")
    labeled_clips: int = Field(600, ge=8, description="AudioSet-style clips (D_l)")
    train_clips: int = Field(1350, ge=8, description="VGGSound 'train' rows (D_u and its validation part)")
    test_clips: int = Field(400, ge=8, description="VGGSound 'test' rows")
    two_label_share: float = Field(0.25, ge=0, le=1, description="share of the AudioSet clips with two sources")
    duration_s: float = Field(4.0, ge=1.0, le=10.0, description="clip length (the real clips are 10 s)")
    sample_rate: int = Field(16_000, ge=8000, le=48_000, description="audio sample rate of the wav and AAC tracks")
    fps: float = Field(8.0, gt=1, le=60, description="video frame rate")
    size: int = Field(96, ge=32, le=720, description="video frame height and width")
    seed: int = Field(0, ge=0)


class VggsoundPrepareConfig(Section):
    """``prepare.vggsound`` of params.yaml: where the clips are, and the features
    (docs/vggsound_data.md)."""

    source: Literal["synthetic", "folder"] = "synthetic"
    audioset_dir: DataPath | None = Field(None, description="folder with the AudioSet segments CSV, "
                                                            "class_labels_indices.csv and audio/ (source: folder)")
    audioset_segments: str = Field("balanced_train_segments.csv", description="segments CSV inside audioset_dir")
    vggsound_dir: DataPath | None = Field(None, description="folder with vggsound.csv and video/ (source: folder)")
    class_map: DataPath | None = Field(None, description="VGGSound label ↔ AudioSet mid mapping (CSV); None: the "
                                                         "shipped default")
    synthetic: VggsoundSynthConfig = VggsoundSynthConfig()
    synthetic_dir: DataPath | None = Field(None, description="where the synthetic source goes; None = <out_dir>/source")
    preset: Literal["cpu", "paper"] = Field(
        "cpu", description="paper: the reference spectrogram (512-sample window, 353 overlap) and 112² frames; "
                           "cpu: a 256-sample window with 96 overlap and 64² frames")
    clip_s: float | None = Field(None, gt=0, le=60, description="seconds of each clip kept (shorter ones tiled); "
                                                                "None: 4 for the synthetic source, 10 for real clips")
    video_rate: float = Field(2.0, gt=0, le=30, description="video frames kept per second of clip")
    val_share: float = Field(0.1, gt=0, lt=0.5, description="share of VGGSound's train rows held out as validation")
    split_seed: int = Field(0, ge=0)
    max_clips: int | None = Field(None, ge=1, description="an evenly spaced subset of each CSV's rows (quick runs)")
    workers: int | None = Field(None, ge=1, le=64, description="decoding processes (default: up to 2); same output")

    @model_validator(mode="after")
    def _check(self) -> "VggsoundPrepareConfig":
        if self.source == "folder" and (self.audioset_dir is None or self.vggsound_dir is None):
            raise ValueError("source 'folder' needs audioset_dir and vggsound_dir")
        return self

    @property
    def seconds(self) -> float:
        return self.clip_s if self.clip_s is not None else (self.synthetic.duration_s if self.source == "synthetic"
                                                            else 10.0)


class VggsoundTraining(TrainConfig):
    """What the teacher and students share: network widths and the crop by preset."""

    preset: Literal["cpu", "paper"] = Field("cpu", description="cpu: ResNet-18 and r3d families at widths "
                                                               "16…128; paper: torchvision resnet18 and r3d_18")
    crop_frames: int | None = Field(None, ge=8, description="spectrogram frames per training crop; None: the "
                                                            "preset's (cpu 200 = 2 s, paper 500 = 5 s)")
    video_frames: int | None = Field(None, ge=1, le=64, description="video frames per crop; None: cpu 4, paper 8")
    lr: float = Field(0.001, gt=0, le=10)
    batch_size: int | None = Field(32, ge=2, le=4096)
    weight_decay: float = Field(1e-4, ge=0, le=10)
    optimizer: Literal["sgd", "adam"] = "adam"
    loader_workers: int = Field(1, ge=0, le=64, description="DataLoader worker processes that read the batches by "
                                                            "sample id beside training")


class VggsoundTeacher(VggsoundTraining):
    epochs: int = Field(30, ge=1, le=10_000)
    perturbation: Perturbation = Perturbation(random_crop=True)


class VggsoundStudent(VggsoundTraining, StudentMethods):
    epochs: int = Field(12, ge=1, le=10_000)
    perturbation: Perturbation = Perturbation(dropout=0.5, random_crop=True)


class VggsoundPseudolabel(PseudolabelConfig):
    kind: Literal["hard", "soft", "weighted"] = "soft"
    encoding: Literal["float16", "sparse-q8"] = "sparse-q8"
    loader_workers: int = Field(1, ge=0, le=64, description="DataLoader worker processes that read D_u ahead of "
                                                            "the teacher (0: in the labeling process)")


class VggsoundEvaluate(Section):
    pass
