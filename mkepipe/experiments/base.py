"""The interface every experiment implements (its ``experiment.py`` subclasses :class:`Experiment`)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from mkepipe.config import Perturbation, TrainConfig
from mkepipe.data.split import DiskSplit, SplitReader
from mkepipe.data.truth_guard import check_truth_access
from mkepipe.models import create_model
from mkepipe.tasks import Task

if TYPE_CHECKING:
    from mkepipe.service.inbox import Inbox

SPLITS = ("labeled", "unlabeled", "test", "val")
TRUTH_SPLIT = "unlabeled_truth"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model from a checkpoint: the registered model name,
    its keyword arguments and the modalities it reads, in order."""

    name: str
    kwargs: dict[str, Any]
    modalities: tuple[str, ...]

    def build(self) -> nn.Module:
        return create_model(self.name, modalities=self.modalities, **self.kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": self.kwargs, "modalities": list(self.modalities)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        return cls(d["name"], dict(d["kwargs"]), tuple(d["modalities"]))


class Experiment(ABC):
    """Binds one experiment's task, data adapter, models and figures under its name.

    Data lives in the on-disk split format of :mod:`mkepipe.data.split`
    (``<data>/{labeled,unlabeled,test,val}/``, D_u's truth in ``<data>/unlabeled_truth/``
    where the source has it), which :meth:`prepare` writes; the default readers read it.
    ``val`` is labeled data held out from training: the promotion rule decides on it,
    while ``test`` is only reported.
    Unimodal roles (``teacher``, ``um_student``) see ``unimodal``; ``mm_student`` sees
    ``multimodal``. ``inbox`` is the adapter that ingests new raw sensor data for the
    relabel service (None: the experiment has no inbox).
    """

    name: str = ""
    unimodal: tuple[str, ...] = ()
    multimodal: tuple[str, ...] = ()
    num_threads: int | None = None  # torch intra-op threads; 1 for tiny models, where more only spin

    @property
    @abstractmethod
    def task(self) -> Task:
        """The task of the experiment's outputs (classes, metric, label family)."""

    def configure(self, params: Any) -> None:
        """Adapt to the run's ``params`` before a stage uses the experiment (e.g. a class set
        that the config chooses); :func:`~mkepipe.experiments.create_experiment` calls it
        when given params. The default needs nothing."""

    @abstractmethod
    def prepare(self, cfg: Any, out_dir: Path) -> dict:
        """Materialise the dataset and its manifest into ``out_dir``; return the manifest."""

    @abstractmethod
    def model_spec(self, role: str, cfg: TrainConfig, perturbation: Perturbation,
                   channels: dict[str, int]) -> ModelSpec:
        """The model for ``role`` (``teacher``, ``um_student``, ``mm_student``) with T2/T3
        built in; ``channels`` gives each modality's channel count in the data."""

    def load(self, data_dir: Path, split: str) -> SplitReader:
        """One prepared split, read by row from disk; D_u comes without labels."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return DiskSplit(data_dir, split)

    def load_unlabeled_truth(self, data_dir: Path) -> SplitReader:
        """D_u's true labels (ids + labels, no inputs): only for the MM (sup) bound and
        label-quality reports. Raises FileNotFoundError where the source has none."""
        path = Path(data_dir) / TRUTH_SPLIT
        check_truth_access(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: this source has no D_u ground truth (MM (sup) bound unavailable)")
        return DiskSplit(data_dir, TRUTH_SPLIT)

    def figures(self, out_dir: Path, test: SplitReader, models: dict[str, tuple[nn.Module, ModelSpec]],
                params: Any) -> list[Path]:
        """PNG figures of the evaluated models (none by default)."""
        return []

    @property
    def inbox(self) -> "Inbox | None":
        return None
