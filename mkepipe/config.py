"""Typed configuration: pydantic models of ``params.yaml``, one per stage section.

Every model forbids unknown keys, so a typo is an error that names the key instead of a
silently ignored setting. :func:`load_params` is the only reader of ``params.yaml``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A params file that cannot be used; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Perturbation(_Section):
    """Consistency perturbations T of the paper, with the strength semantics of the
    authors' TwoMoon notebook: noise std = strength × mean |layer input|."""

    input_noise: float = Field(0.0, ge=0, description="T1: Gaussian input noise strength v0")
    hidden_noise: float = Field(0.0, ge=0, description="T2: Gaussian noise on the first hidden layer, v1")
    dropout: float = Field(0.0, ge=0, lt=1, description="T3: dropout rate r0")
    flip_scale: bool = Field(False, description="dense only: joint random horizontal flip and rescale")
    scale_range: tuple[float, float] = Field((0.5, 1.75), description="rescale factors for flip_scale")

    @model_validator(mode="after")
    def _check_scale(self) -> "Perturbation":
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < min <= max, got {self.scale_range}")
        return self

    @property
    def is_identity(self) -> bool:
        return self.input_noise == 0 and self.hidden_noise == 0 and self.dropout == 0 and not self.flip_scale


class Round(_Section):
    id: int = Field(ge=1)
    teacher: str = Field(min_length=1, description="checkpoint path relative to models/<experiment>/")
    baselines: bool = Field(True, description="train the student's baselines and label ablation in this round; "
                                              "False trains only the configured method (the next teacher)")


class TrainConfig(_Section):
    """What every training run shares: schedule, optimiser and perturbation."""

    epochs: int = Field(ge=1)
    lr: float = Field(gt=0)
    batch_size: int | None = Field(None, ge=1, description="None: full batch")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="adam: AdamW, decoupled weight decay")
    lr_schedule: Literal["constant", "poly"] = Field(
        "constant", description="poly: lr × (1 − step/steps)^0.9 per step, DeepLab's schedule")
    class_balance: float = Field(
        0.0, ge=0, le=1, description="weight each class by frequency^-power in the loss (0: off, 1: inverse frequency)")
    perturbation: Perturbation = Perturbation()


StudentMethod = Literal["um_student", "noisy_student", "mm_student", "mm_student_noreg", "mm_student_sup"]


LabelKind = Literal["hard", "soft", "weighted"]


class StudentMethods(_Section):
    method: StudentMethod = "mm_student"
    baselines: list[StudentMethod] = ["um_student", "noisy_student", "mm_student_noreg", "mm_student_sup"]
    label_ablation: list[LabelKind] = Field(
        default_factory=list, description="also train `method` on these label kinds (e.g. hard vs soft)")


class PseudolabelConfig(_Section):
    kind: LabelKind = "hard"
    encoding: Literal["float16", "sparse-q8"] = "float16"


class TwoMoonPrepare(_Section):
    """The TwoMoon protocol of the authors' notebook."""

    n_samples: int = Field(500, ge=20)
    noise: float = Field(0.1, ge=0)
    random_state: int = 42
    test_size: float = Field(0.4, gt=0, lt=1)
    unlabeled_fraction: float = Field(0.9, gt=0, lt=1)


class TwoMoonTeacher(TrainConfig):
    hidden: int = Field(32, ge=1)
    epochs: int = Field(1000, ge=1)
    lr: float = Field(0.01, gt=0)


class TwoMoonStudent(TrainConfig, StudentMethods):
    hidden: int = Field(16, ge=1, description="hidden width of multimodal students")
    um_hidden: int = Field(32, ge=1, description="hidden width of unimodal students")
    epochs: int = Field(2000, ge=1)
    lr: float = Field(0.01, gt=0)
    perturbation: Perturbation = Perturbation(input_noise=2.0)


class TwoMoonEvaluate(_Section):
    grid_resolution: int = Field(200, ge=10, le=2000)


class SegModel(_Section):
    """A segmentation network: a named preset (``cpu`` for the demo, ``paper`` for
    ResNet-101 at 480×640 with local ImageNet weights), optionally overridden."""

    preset: Literal["cpu", "paper"] = "cpu"
    encoder: str | None = Field(None, description="overrides the preset's encoder, e.g. resnet34")
    encoder_weights_path: str | None = Field(None, description="local ImageNet weights (.pth) for the encoder")


class NyuTraining(TrainConfig, SegModel):
    """What the NYU teacher and students share: AdamW 1e-3 on batches of 8."""

    lr: float = Field(1e-3, gt=0)
    batch_size: int | None = Field(8, ge=2)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(1e-4, ge=0)
    optimizer: Literal["sgd", "adam"] = "adam"


class NyuTeacher(NyuTraining):
    epochs: int = Field(30, ge=1)
    perturbation: Perturbation = Perturbation(flip_scale=True)


class NyuStudent(NyuTraining, StudentMethods):
    fusion: Literal["gated", "early"] = "gated"
    epochs: int = Field(20, ge=1)
    perturbation: Perturbation = Perturbation(flip_scale=True, input_noise=0.5, dropout=0.1)


class NyuEvaluate(_Section):
    panels: int = Field(4, ge=0, le=32, description="test images in the qualitative figure")


class NyuSynthConfig(_Section):
    """Sizes of the synthetic default (frames are rendered at height × width)."""

    n_labeled: int = Field(120, ge=1, description="D_l frames in the labeled .mat")
    n_test: int = Field(60, ge=1, description="test frames in the labeled .mat")
    n_scenes: int = Field(20, ge=1, description="raw scene folders for D_u")
    frames_per_scene: int = Field(20, ge=1, description="depth frames per raw scene")
    height: int = Field(480, ge=16)
    width: int = Field(640, ge=16)
    seed: int = 0
    palette_size: int = Field(3, ge=2, le=10, description="materials per room, shared by all classes")
    class_affinity: float = Field(0.8, ge=0, le=1, description="chance a surface has its class's typical material")
    rgb_drop: float = Field(0.03, ge=0, lt=1, description="share of depth frames whose RGB frame is dropped")


class NyuPrepareConfig(_Section):
    """``prepare.nyu`` of params.yaml."""

    source: Literal["synthetic", "mat", "png"] = "synthetic"
    mat_path: str | None = Field(None, description="nyu_depth_v2_labeled.mat (source: mat)")
    split_dir: str | None = Field(None, description="folder with {train,test}_indices_1based.txt; None: standard split")
    png_dir: str | None = Field(None, description="root of {train,test}/{rgb,depth,labels_40}/ (source: png)")
    raw_dir: str | None = Field(None, description="raw scene folders for D_u (source: mat or png)")
    raw_truth_dir: str | None = Field(None, description="optional D_u truth: <scene>/<depth stem>.png labels_40")
    height: int = Field(96, ge=8)
    width: int = Field(128, ge=8)
    depth_encoding: Literal["hha", "depth"] = "hha"
    max_depth_m: float = Field(10.0, gt=0, description="depth encoding: metres mapped to 1.0")
    fill_missing_depth: bool = True
    min_valid_depth: float = Field(0.1, ge=0, le=1, description="quarantine frames with fewer valid depth pixels")
    sync_tolerance_s: float = Field(0.05, gt=0)
    hha_cache_dir: str | None = ".cache/hha"
    max_unlabeled: int | None = Field(None, ge=1, description="evenly spaced subset of the raw depth frames")
    synthetic: NyuSynthConfig = NyuSynthConfig()
    synthetic_dir: str | None = Field(None, description="where the synthetic source goes; None = <out_dir>/source")

    @model_validator(mode="after")
    def _sources(self) -> "NyuPrepareConfig":
        need = {"mat": ["mat_path", "raw_dir"], "png": ["png_dir", "raw_dir"]}.get(self.source, [])
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"source {self.source!r} needs {', '.join(missing)}")
        return self


class PrepareSections(_Section):
    twomoon: TwoMoonPrepare = TwoMoonPrepare()
    nyu: NyuPrepareConfig = NyuPrepareConfig()


class TeacherSections(_Section):
    twomoon: TwoMoonTeacher = TwoMoonTeacher()
    nyu: NyuTeacher = NyuTeacher()


class PseudolabelSections(_Section):
    twomoon: PseudolabelConfig = PseudolabelConfig()
    nyu: PseudolabelConfig = PseudolabelConfig(kind="soft", encoding="sparse-q8")


class StudentSections(_Section):
    twomoon: TwoMoonStudent = TwoMoonStudent()
    nyu: NyuStudent = NyuStudent(label_ablation=["hard"])


class EvaluateSections(_Section):
    twomoon: TwoMoonEvaluate = TwoMoonEvaluate()
    nyu: NyuEvaluate = NyuEvaluate()


class PromotionRule(_Section):
    """``promotion:``: when a round's student becomes the next teacher, in the pipeline's
    promote stage and in the relabel service (:mod:`mkepipe.promotion`)."""

    min_gain: float = Field(0.0, description="student test metric must reach the teacher's plus this many points")
    min_class_coverage: float = Field(0.5, ge=0, le=1, description="student must recognise (IoU > 0) at least "
                                                                   "this share of the classes the teacher does")


class ServiceConfig(_Section):
    """``service:``: the ``relabel/<experiment>`` deployment (docs/service.md)."""

    schedule: bool = Field(True, description="serve relabel/<experiment> on an interval schedule; False: "
                                             "it runs only when triggered (mke notify)")
    interval_minutes: float = Field(60.0, gt=0, description="schedule interval")
    inbox_dir: str = Field("inbox", min_length=1, description="new sensor data: <inbox_dir>/<experiment>/")
    state_dir: str = Field("service", min_length=1, description="service state: <state_dir>/<experiment>/")
    baselines: bool = Field(False, description="also train the student's baselines each relabel round")


SECTIONS = ("prepare", "teacher", "pseudolabel", "student", "evaluate")


class Params(_Section):
    """``params.yaml``: every stage section holds one sub-section per experiment, so
    ``dvc exp run -S experiment=<name>`` switches experiments without editing anything else."""

    experiment: str = "twomoon"
    seed: int = 0
    rounds: list[Round] = Field(default_factory=lambda: [Round(id=1, teacher="teacher.pt")], min_length=1)
    prepare: PrepareSections = PrepareSections()
    teacher: TeacherSections = TeacherSections()
    pseudolabel: PseudolabelSections = PseudolabelSections()
    student: StudentSections = StudentSections()
    evaluate: EvaluateSections = EvaluateSections()
    promotion: PromotionRule = PromotionRule()
    service: ServiceConfig = ServiceConfig()

    @model_validator(mode="after")
    def _check(self) -> "Params":
        from mkepipe.experiments import experiment_names

        if self.experiment not in experiment_names():
            raise ValueError(f"unknown experiment {self.experiment!r}; registered: {', '.join(experiment_names())}")
        ids = [r.id for r in self.rounds]
        if ids != list(range(1, len(ids) + 1)):
            raise ValueError(f"rounds must be numbered 1..n in order, got ids {ids}")
        return self

    def active(self, section: str) -> Any:
        """The active experiment's config of ``section`` (e.g. ``params.active("teacher")``)."""
        if section not in SECTIONS:
            raise KeyError(f"unknown section {section!r}; expected one of {SECTIONS}")
        return getattr(getattr(self, section), self.experiment)

    def with_active(self, section: str, **changes: Any) -> "Params":
        """A copy with fields of the active experiment's ``section`` replaced."""
        sections = getattr(self, section)
        cfg = getattr(sections, self.experiment).model_copy(update=changes)
        return self.model_copy(update={section: sections.model_copy(update={self.experiment: cfg})})

    def round(self, round_id: int) -> Round:
        for r in self.rounds:
            if r.id == round_id:
                return r
        raise ConfigError(f"rounds: no round with id {round_id}")


def _describe(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<top level>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = "" if e["type"] == "extra_forbidden" else f" (got {e.get('input')!r})"
        lines.append(f"{source}: {key}: {msg}{got}")
    return "\n".join(lines)


def parse_params(raw: dict[str, Any] | None, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise :class:`ConfigError` naming every bad key."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    return parse_params(raw, str(path))
