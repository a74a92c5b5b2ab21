"""RAVDESS's sections of ``params.yaml`` (torch-free)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mkepipe.config import DataPath, Perturbation, PseudolabelConfig, Section, StudentMethods, TrainConfig


class RavdessSynthConfig(Section):
    """The synthetic RAVDESS default: actors × the real speech trial grid (7 emotions × 2
    intensities × 2 statements × 2 repetitions + neutral × 2 × 2 = 60 clips per actor),
    written as real ``.mp4`` (H.264 + AAC) and ``.wav`` files (docs/ravdess_data.md)."""

    n_actors: int = Field(24, ge=1, le=24, description="actors Actor_01 … Actor_NN (odd numbers male)")
    height: int = Field(96, ge=32, le=1080, description="video frame height (the real files are 720p)")
    width: int = Field(128, ge=32, le=1920, description="video frame width")
    fps: float = Field(30.0, gt=1, le=120, description="video frame rate")
    sample_rate: int = Field(48_000, ge=8000, le=192_000, description="audio sample rate of the mp4 and wav files")
    duration_s: float = Field(3.0, ge=1.0, le=10.0, description="mean clip length; each clip varies ±15 %")
    wav_actors: int = Field(12, ge=0, le=24, description="actors 1…N also get the audio-only 03-…wav files "
                                                         "(the others' audio comes from the mp4's AAC track)")
    seed: int = Field(0, ge=0)


class RavdessPrepareConfig(Section):
    """``prepare.ravdess`` of params.yaml."""

    source: Literal["synthetic", "folder"] = "synthetic"
    root: DataPath | None = Field(None, description="the unpacked download: Actor_01 … Actor_24/ (source: folder)")
    synthetic: RavdessSynthConfig = RavdessSynthConfig()
    synthetic_dir: DataPath | None = Field(None, description="where the synthetic source goes; None = <out_dir>/source")
    split_by: Literal["clip", "actor"] = Field(
        "clip", description="clip: D_l/D_u and D_u's train/val/test drawn by clip (an actor's clips in several "
                            "splits, as the paper); actor: by actor (speaker-independent)")
    labeled_share: float = Field(0.2, gt=0, lt=1, description="D_l : D_u = 2 : 8")
    val_share: float = Field(0.1, gt=0, lt=0.5, description="share of D_u held out as validation (8 : 1 : 1)")
    test_share: float = Field(0.1, gt=0, lt=0.5, description="share of D_u held out as test")
    split_seed: int = Field(0, ge=0)
    sample_every_s: float = Field(0.5, gt=0, le=10, description="one face image every this many seconds of a clip")
    image_size: int = Field(48, ge=16, le=512, description="face crops are resized to image_size²")
    crop_fraction: float = Field(0.5, gt=0, le=1, description="centre crop: side as a share of the frame's "
                                                              "shorter side (no face detector configured); 0.5 "
                                                              "holds brows to chin of a RAVDESS close-up")
    face_detector: DataPath | None = Field(None, description="OpenCV Haar cascade (.xml) or YuNet model (.onnx); "
                                                             "None: fixed centre crop")
    audio_rate: int = Field(16_000, ge=4000, le=48_000, description="audio is resampled to this rate for MFCCs")
    n_mfcc: int = Field(40, ge=4, le=128)
    n_mels: int = Field(64, ge=8, le=256)
    n_fft: int = Field(1024, ge=64, le=8192)
    hop_length: int = Field(512, ge=16, le=8192)
    mfcc_frames: int = Field(96, ge=8, le=4096, description="MFCC frames per clip: shorter clips padded with "
                                                            "silence, longer ones cut")
    max_clips: int | None = Field(None, ge=1, description="an evenly spaced subset of the clips (quick runs)")

    @model_validator(mode="after")
    def _check(self) -> "RavdessPrepareConfig":
        if self.source == "folder" and self.root is None:
            raise ValueError("source 'folder' needs root (the folder holding Actor_01 … Actor_24)")
        if self.val_share + self.test_share >= 1:
            raise ValueError("val_share + test_share must leave D_u a training part")
        if self.n_fft > 0 and self.n_mels > self.n_fft // 2 + 1:
            raise ValueError(f"n_mels {self.n_mels} exceeds the {self.n_fft // 2 + 1} frequency bins of n_fft")
        if self.n_mfcc > self.n_mels:
            raise ValueError("n_mfcc must not exceed n_mels")
        return self


class RavdessTraining(TrainConfig):
    """What the RAVDESS teacher and students share: the MFH recipe (SGD 0.01, momentum
    0.9, batch 64), with network widths by preset."""

    preset: Literal["cpu", "paper"] = Field("cpu", description="cpu: narrow CNNs (16/32/64, FC 256→64); paper: "
                                                               "MFH widths (32/64/128, FC 1024→128)")
    lr: float = Field(0.01, gt=0, le=10)
    batch_size: int | None = Field(64, ge=2, le=4096)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0, le=10)
    optimizer: Literal["sgd", "adam"] = "sgd"


class RavdessTeacher(RavdessTraining):
    epochs: int = Field(30, ge=1, le=10_000)
    perturbation: Perturbation = Perturbation(dropout=0.5)


class RavdessStudent(RavdessTraining, StudentMethods):
    epochs: int = Field(12, ge=1, le=10_000, description="over D_u's ~6000 frames: 90 SGD steps per epoch")
    perturbation: Perturbation = Perturbation(dropout=0.5)


class RavdessPseudolabel(PseudolabelConfig):
    kind: Literal["hard", "soft", "weighted"] = "soft"
    encoding: Literal["float16", "sparse-q8"] = "float16"


class RavdessEvaluate(Section):
    pass
