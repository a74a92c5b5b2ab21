"""Typed configuration: the ``params.yaml`` schema, assembled from the registered experiments.

The core defines what every experiment shares (rounds, the promotion rule, the service,
and the building blocks of stage sections: training, perturbations, student methods,
pseudo labels). Each experiment contributes one config model per stage section
(:class:`mkepipe.experiments.ExperimentSpec`); :func:`params_model` puts them together,
so ``params.yaml`` holds ``teacher.<experiment>``, ``student.<experiment>``, … for every
registered experiment. Nothing here imports torch or an experiment's code.

Every model forbids unknown keys and coerces nothing (``epochs: '7'`` or ``epochs: true``
is an error, as are ``.inf`` and ``.nan``), so a typo is an error that names the key
instead of a silently ignored setting. :func:`load_params` is the only reader of
``params.yaml``; it also refuses duplicate keys and an empty file.

Paths are confined: :data:`ProjectPath` fields (round teachers, service folders) are
relative and inside the project; :data:`DataPath` fields (a real dataset's files, caches,
weights) may also be absolute, but only below a folder listed in ``data_roots``.
"""
from __future__ import annotations

import functools
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Iterator, Literal, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    create_model,
    model_validator,
)


class ConfigError(ValueError):
    """A params file that cannot be used; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


Section = _Section  # the base of every experiment's config models

StrictNo = Strict(False)  # YAML has no tuples: a list is the only way to write one


def inside_project(value: str) -> str:
    """A path field that must stay inside the project: relative, without ``..`` parts."""
    parts = PurePosixPath(value).parts
    if PurePosixPath(value).is_absolute() or ".." in parts or not parts:
        raise ValueError("must be a relative path inside the project (no leading / and no ..)")
    return value


def _absolute(value: str) -> str:
    if not PurePosixPath(value).is_absolute() or ".." in PurePosixPath(value).parts:
        raise ValueError("must be an absolute path without ..")
    return value


class _DataPathMark:
    """Marks a :data:`DataPath` field, so :func:`data_path_fields` finds it in any section."""


def _data_path(value: str) -> str:
    return _absolute(value) if PurePosixPath(value).is_absolute() else inside_project(value)


ProjectPath = Annotated[str, AfterValidator(inside_project)]
DataPath = Annotated[str, AfterValidator(_data_path), _DataPathMark()]  # absolute only under a data root
AbsolutePath = Annotated[str, AfterValidator(_absolute)]


def _is_data_path(annotation: Any, metadata: list[Any]) -> bool:
    if any(isinstance(m, _DataPathMark) for m in metadata):
        return True
    return any(get_origin(arg) is Annotated and _is_data_path(arg, list(get_args(arg)[1:]))
               for arg in get_args(annotation))


def data_path_fields(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted key, value)`` of every :data:`DataPath` field set in ``model`` and its sub-models."""
    for name, info in type(model).model_fields.items():
        value, key = getattr(model, name), f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from data_path_fields(value, f"{key}.")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from data_path_fields(item, f"{key}.{i}.")
        elif isinstance(value, str) and _is_data_path(info.annotation, info.metadata):
            yield key, value


class Perturbation(_Section):
    """Consistency perturbations T of the paper, with the strength semantics of the
    authors' TwoMoon notebook: noise std = strength × mean |layer input|."""

    input_noise: float = Field(0.0, ge=0, le=100, description="T1: Gaussian input noise strength v0")
    noise_scale: Literal["modality", "joint"] = Field(
        "modality", description="T1's mean |x|: each modality's own (modality), or over all of a sample's "
                                "inputs at once (joint: the authors' TwoMoon notebook, one 2-D input)")
    hidden_noise: float = Field(0.0, ge=0, le=100, description="T2: Gaussian noise on the first hidden layer, v1")
    dropout: float = Field(0.0, ge=0, lt=1, description="T3: dropout rate r0")
    flip_scale: bool = Field(False, description="dense only: joint random horizontal flip and rescale")
    random_crop: bool = Field(False, description="clips only: a random window of each clip in training, else the "
                                                 "centre one (evaluation always takes the centre)")
    scale_range: Annotated[tuple[float, float], StrictNo] = Field(
        (0.5, 1.75), description="rescale factors for flip_scale")

    @model_validator(mode="after")
    def _check_scale(self) -> "Perturbation":
        lo, hi = self.scale_range
        if not 0 < lo <= hi <= 10:
            raise ValueError(f"scale_range must satisfy 0 < min <= max <= 10, got {self.scale_range}")
        return self

    @property
    def is_identity(self) -> bool:
        return (self.input_noise == 0 and self.hidden_noise == 0 and self.dropout == 0 and not self.flip_scale
                and not self.random_crop)


class Round(_Section):
    id: int = Field(ge=1, le=1000)
    teacher: ProjectPath = Field(description="checkpoint path relative to models/<experiment>/")
    baselines: bool = Field(True, description="train the student's baselines and label ablation in this round; "
                                              "False trains only the configured method (the next teacher)")


class TrainConfig(_Section):
    """What every training run shares: schedule, optimiser and perturbation."""

    epochs: int = Field(ge=1, le=100_000)
    lr: float = Field(gt=0, le=10)
    batch_size: int | None = Field(None, ge=1, le=1_000_000, description="None: full batch")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(0.0, ge=0, le=10)
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="adam: AdamW, decoupled weight decay")
    lr_schedule: Literal["constant", "poly"] = Field(
        "constant", description="poly: lr × (1 − step/steps)^0.9 per step, DeepLab's schedule")
    class_balance: float = Field(
        0.0, ge=0, le=1, description="weight each class by frequency^-power in the loss (0: off, 1: inverse frequency)")
    loader_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes that read the batches by "
                                                            "sample id beside training (0: in the training process)")
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
    loader_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes that read D_u ahead of "
                                                            "the teacher (0: in the labeling process)")


class NoOptions(_Section):
    """A stage section an experiment has no settings for."""


class SegModel(_Section):
    """A segmentation network: a named preset (``cpu`` for demos and CI, ``paper`` for
    ResNet-101 at 480×640 with local ImageNet weights), optionally overridden."""

    preset: Literal["cpu", "paper"] = "cpu"
    encoder: str | None = Field(None, description="overrides the preset's encoder, e.g. resnet34")
    encoder_weights_path: DataPath | None = Field(None, description="local ImageNet weights (.pth) for the encoder")


class PromotionRule(_Section):
    """``promotion:``: when a round's student becomes the next teacher, in the pipeline's
    promote stage and in the relabel service (:mod:`mkepipe.promotion`)."""

    min_gain: float = Field(0.0, ge=-100, le=100,
                            description="student test metric must reach the teacher's plus this many points")
    min_class_coverage: float = Field(0.5, ge=0, le=1, description="student must recognise at least this share "
                                                                   "of the classes the teacher recognises")


class ServiceConfig(_Section):
    """``service:``: the ``relabel/<experiment>`` deployments (docs/service.md)."""

    schedule: bool = Field(True, description="serve relabel/<experiment> on an interval schedule; False: "
                                             "it runs only when triggered (mke notify)")
    interval_minutes: float = Field(60.0, gt=0, le=525_600, description="schedule interval")
    inbox_dir: ProjectPath = Field("inbox", description="new sensor data: <inbox_dir>/<experiment>/")
    state_dir: ProjectPath = Field("service", description="service state: <state_dir>/<experiment>/")
    baselines: bool = Field(False, description="also train the student's baselines each relabel round")


SECTIONS = ("prepare", "teacher", "pseudolabel", "student", "evaluate")


class Params(_Section):
    """``params.yaml``: every stage section holds one sub-section per experiment, so
    ``dvc exp run -S experiment=<name>`` switches experiments without editing anything else.

    The stage sections are added by :func:`params_model` from the registered experiments;
    build instances with :func:`parse_params`, :func:`load_params` or :func:`default_params`.
    """

    experiment: str = Field(description="the active experiment: a registered name (mke experiments)")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    data_roots: list[AbsolutePath] = Field(
        default_factory=list, description="folders outside the project that data path fields may name "
                                          "(absolute paths); relative data paths stay inside the project")
    rounds: list[Round] = Field(default_factory=lambda: [Round(id=1, teacher="teacher.pt")], min_length=1)
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
        roots = [PurePosixPath(r) for r in self.data_roots]
        outside = [f"{key}: {value!r} is outside the project and under no data root "
                   f"(add its folder to data_roots; now {self.data_roots})"
                   for key, value in data_path_fields(self)
                   if PurePosixPath(value).is_absolute() and not any(PurePosixPath(value).is_relative_to(r)
                                                                     for r in roots)]
        if outside:
            raise ValueError("\n".join(outside))
        return self

    def __reduce__(self):  # the class is built at run time: pickle (worker processes) through the schema
        return parse_params, (self.model_dump(mode="json"), "pickled params")

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


@functools.cache
def params_model() -> type[Params]:
    """:class:`Params` with one field per stage section, each holding every registered
    experiment's config model for that section (torch-free: reads the registry only)."""
    from mkepipe.experiments import specs

    registered = specs()
    sections: dict[str, Any] = {}
    for section in SECTIONS:
        fields = {name: (getattr(spec, section), getattr(spec, section)()) for name, spec in registered.items()}
        model = create_model(f"{section.capitalize()}Sections", __base__=_Section, **fields)
        sections[section] = (model, model())
    return create_model("ExperimentParams", __base__=Params, **sections)


def default_params(experiment: str, **changes: Any) -> Params:
    """Every setting at its default for ``experiment`` (``changes`` as in ``params.yaml``'s top level)."""
    return parse_params({"experiment": experiment, **changes}, "defaults")


def _describe(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        msg = str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"]
        if not e["loc"]:  # a check of the whole file: its lines name their keys
            lines += [f"{source}: {line}" for line in msg.splitlines()]
            continue
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = "" if e["type"] == "extra_forbidden" else f" (got {e.get('input')!r})"
        lines.append(f"{source}: {key}: {msg}{got}")
    return "\n".join(lines)


def parse_params(raw: dict[str, Any] | None, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise :class:`ConfigError` naming every bad key."""
    try:
        return params_model().model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a mapping with the same key twice (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]}, again on line {line})",
                    key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file with :class:`_UniqueKeyLoader`; errors name the file and line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    raw = read_yaml(path)
    if raw is None:
        raise ConfigError(f"{path}: the file is empty; it must name at least `experiment:`")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    return parse_params(raw, str(path))
