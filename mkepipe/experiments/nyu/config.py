"""NYU Depth V2's sections of ``params.yaml`` (torch-free)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mkepipe.config import DataPath, Perturbation, PseudolabelConfig, Section, SegModel, StudentMethods, TrainConfig


class NyuTraining(TrainConfig, SegModel):
    """What the NYU teacher and students share: AdamW 1e-3 on batches of 8."""

    lr: float = Field(1e-3, gt=0, le=10)
    batch_size: int | None = Field(8, ge=2, le=4096)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(1e-4, ge=0, le=10)
    optimizer: Literal["sgd", "adam"] = "adam"


class NyuTeacher(NyuTraining):
    epochs: int = Field(30, ge=1, le=10_000)
    perturbation: Perturbation = Perturbation(flip_scale=True)


class NyuStudent(NyuTraining, StudentMethods):
    fusion: Literal["gated", "early"] = "gated"
    epochs: int = Field(20, ge=1, le=10_000)
    label_ablation: list[Literal["hard", "soft", "weighted"]] = Field(
        ["hard"], description="also train `method` on these label kinds (e.g. hard vs soft)")
    perturbation: Perturbation = Perturbation(flip_scale=True, input_noise=0.5, dropout=0.1)


class NyuPseudolabel(PseudolabelConfig):
    kind: Literal["hard", "soft", "weighted"] = "soft"
    encoding: Literal["float16", "sparse-q8"] = "sparse-q8"


class NyuEvaluate(Section):
    panels: int = Field(4, ge=0, le=32, description="test images in the qualitative figure")


class NyuSynthConfig(Section):
    """Sizes of the synthetic default (frames are rendered at height × width)."""

    n_labeled: int = Field(120, ge=1, le=100_000, description="D_l frames in the labeled .mat")
    n_test: int = Field(60, ge=1, le=100_000, description="test frames in the labeled .mat")
    n_val: int = Field(0, ge=0, le=100_000, description="validation frames in the labeled .mat (0: the prepare "
                                                         "step holds val_from_train of D_l out instead)")
    n_scenes: int = Field(20, ge=1, le=100_000, description="raw scene folders for D_u")
    frames_per_scene: int = Field(20, ge=1, le=100_000, description="depth frames per raw scene")
    height: int = Field(480, ge=16, le=4096)
    width: int = Field(640, ge=16, le=4096)
    seed: int = Field(0, ge=0)
    palette_size: int = Field(3, ge=2, le=10, description="materials per room, shared by all classes")
    class_affinity: float = Field(0.8, ge=0, le=1, description="chance a surface has its class's typical material")
    rgb_drop: float = Field(0.03, ge=0, lt=1, description="share of depth frames whose RGB frame is dropped")
    appearance: Literal["illumination", "material"] = Field(
        "illumination", description="illumination: lighting and camera change per frame; material: one light "
                                    "per room, so a surface looks alike in every frame (the old default, a "
                                    "negative control)")


class NyuPrepareConfig(Section):
    """``prepare.nyu`` of params.yaml."""

    source: Literal["synthetic", "mat", "png"] = "synthetic"
    mat_path: DataPath | None = Field(None, description="nyu_depth_v2_labeled.mat (source: mat)")
    split_dir: DataPath | None = Field(None, description="folder with {train,test}_indices_1based.txt; "
                                                         "None: standard split")
    png_dir: DataPath | None = Field(None, description="root of {train,test}/{rgb,depth,labels_40}/ (source: png)")
    raw_dir: DataPath | None = Field(None, description="raw scene folders for D_u (source: mat or png)")
    raw_truth_dir: DataPath | None = Field(None, description="optional D_u truth: <scene>/<depth stem>.png labels_40")
    height: int = Field(96, ge=8, le=4096)
    width: int = Field(128, ge=8, le=4096)
    val_from_train: float = Field(0.1, gt=0, le=0.5, description="share of the train frames held out as validation "
                                                                 "data where the source has no val split")
    depth_encoding: Literal["hha", "depth"] = "hha"
    max_depth_m: float = Field(10.0, gt=0, le=1000, description="depth encoding: metres mapped to 1.0")
    fill_missing_depth: bool = True
    min_valid_depth: float = Field(0.1, ge=0, le=1, description="quarantine frames with fewer valid depth pixels")
    sync_tolerance_s: float = Field(0.05, gt=0, le=60)
    hha_cache_dir: DataPath | None = ".cache/hha"
    max_unlabeled: int | None = Field(None, ge=1, description="evenly spaced subset of the raw depth frames")
    synthetic: NyuSynthConfig = NyuSynthConfig()
    synthetic_dir: DataPath | None = Field(None, description="where the synthetic source goes; None = <out_dir>/source")

    @model_validator(mode="after")
    def _sources(self) -> "NyuPrepareConfig":
        need = {"mat": ["mat_path", "raw_dir"], "png": ["png_dir", "raw_dir"]}.get(self.source, [])
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"source {self.source!r} needs {', '.join(missing)}")
        return self
