"""Train a teacher, label with it, train a student: the library calls behind the stages
and the paper-table reproductions. No file paths here; stages own the I/O."""
from __future__ import annotations

import functools
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from mkepipe.config import Params, TrainConfig
from mkepipe.data.split import SplitReader
from mkepipe.experiments.base import Experiment, ModelSpec
from mkepipe.training.data import Part, PseudoTargets, SplitLabels, TrainingSet, batches, read_batches
from mkepipe.training.loop import fit
from mkepipe.training.methods import METHODS

PREDICT_BATCH = 32
log = logging.getLogger(__name__)
EpochHook = Callable[[dict], None]


@dataclass
class PseudoLabels:
    """Pseudo labels held in memory, read like a label generation (``arrays(ids)``)."""

    ids: list[str]
    hard: np.ndarray
    probs: np.ndarray | None = None
    weight: np.ndarray | None = None

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self._rows

    @functools.cached_property
    def _rows(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.ids)}

    def arrays(self, ids: Sequence[str]):
        idx = np.array([self._rows[sid] for sid in ids], dtype=np.int64)

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return list(ids), self.hard[idx], pick(self.probs), pick(self.weight)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def chunks(split: SplitReader, size: int = PREDICT_BATCH) -> Iterator[list[int]]:
    for start in range(0, len(split), size):
        yield list(range(start, min(start + size, len(split))))


@torch.no_grad()
def iter_logits(model: nn.Module, spec: ModelSpec, split: SplitReader) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(rows, logits) of the frozen model on ``split``, chunk by chunk."""
    model.eval()
    for rows in chunks(split):
        yield rows, model(split.inputs(spec.modalities, rows))


def predict_logits(model: nn.Module, spec: ModelSpec, split: SplitReader) -> torch.Tensor:
    """Logits of the frozen model on the whole of ``split`` (for small splits and figures)."""
    return torch.cat([logits for _, logits in iter_logits(model, spec, split)])


def predict_probs(exp: Experiment, model: nn.Module, spec: ModelSpec, split: SplitReader) -> np.ndarray:
    """The task's class probabilities (dim 1) of the frozen model on ``split``."""
    return exp.task.probs(predict_logits(model, spec, split)).numpy().astype(np.float32)


class Labeler:
    """The teacher as a label store's ``label_fn``: class probabilities (the task's) for a
    list of sample ids of ``split``. Told the batches it will be asked for (``plan``, called
    by the store before the first), it reads them in ``workers`` DataLoader worker
    processes while the model runs; unplanned calls read in this process.
    ``progress(done, total)`` after every batch."""

    def __init__(self, exp: Experiment, model: nn.Module, spec: ModelSpec, split: SplitReader, workers: int = 0,
                 progress: Callable[[int, int], None] | None = None, total: int = 0) -> None:
        self.exp, self.model, self.spec, self.split, self.workers = exp, model, spec, split, workers
        self.row = {sid: i for i, sid in enumerate(split.ids)}
        self.progress, self.total, self.done = progress, total, 0
        self._planned: list[list[str]] = []
        self._ahead: Iterator[dict[str, torch.Tensor]] | None = None

    def plan(self, batches: list[list[str]]) -> None:
        self._planned = [list(b) for b in reversed(batches)]
        self._ahead = read_batches(self.split, self.spec.modalities, [[self.row[s] for s in b] for b in batches],
                                   self.workers)

    @torch.no_grad()
    def __call__(self, ids: list[str]) -> np.ndarray:
        if self._planned:
            expected = self._planned.pop()
            if expected != list(ids):
                raise RuntimeError(f"asked for {len(ids)} ids other than the planned batch starting {expected[0]!r}")
            inputs = next(self._ahead)
        else:
            inputs = self.split.inputs(self.spec.modalities, [self.row[s] for s in ids])
        self.model.eval()
        probs = self.exp.task.probs(self.model(inputs)).numpy().astype(np.float32)
        self.done += len(ids)
        if self.progress is not None:
            self.progress(self.done, self.total)
        return probs


def score(exp: Experiment, model: nn.Module, spec: ModelSpec, split: SplitReader) -> dict:
    """Every metric of the task's meter for ``model`` on a labeled ``split``."""
    meter = exp.task.meter()
    for rows, logits in iter_logits(model, spec, split):
        meter.update(exp.task.predictions(logits), split.labels(rows))
    return meter.compute()


def _progress(name: str, epochs: int, on_epoch: EpochHook | None) -> EpochHook:
    """Log epoch and loss as training goes (every epoch, or ~50 times for long runs)."""
    every = max(1, epochs // 50)
    start = time.perf_counter()

    def hook(row: dict) -> None:
        if row["epoch"] % every == 0 or row["epoch"] in (1, epochs):
            log.info("%s: epoch %d/%d, loss %.4f (%.0f s)", name, row["epoch"], epochs, row["loss"],
                     time.perf_counter() - start)
        if on_epoch is not None:
            on_epoch(row)

    return hook


def _fit(exp: Experiment, name: str, model: nn.Module, train_step, parts: list[Part], cfg: TrainConfig,
         perturbation, seed: int, on_epoch: EpochHook | None) -> list[dict]:
    data = TrainingSet(parts)
    if cfg.class_balance:
        data.balance = exp.task.class_balance(data.class_counts(exp.task), cfg.class_balance)
    if len(data) == 0:
        raise ValueError(f"{name}: no training samples (is the split empty?)")
    step = functools.partial(train_step, task=exp.task)
    return fit(model, step, batches(data, cfg.batch_size, seed, cfg.loader_workers), epochs=cfg.epochs, lr=cfg.lr,
               momentum=cfg.momentum, weight_decay=cfg.weight_decay, optimizer=cfg.optimizer,
               lr_schedule=cfg.lr_schedule, perturbation=perturbation, on_epoch=_progress(name, cfg.epochs, on_epoch))


def train_teacher(exp: Experiment, params: Params, labeled: SplitReader, seed: int | None = None,
                  on_epoch: EpochHook | None = None) -> tuple[nn.Module, ModelSpec, list[dict]]:
    """The unimodal teacher on D_l."""
    cfg = params.active("teacher")
    seed = params.seed if seed is None else seed
    seed_everything(seed)
    spec = exp.model_spec("teacher", cfg, cfg.perturbation, labeled.channels())
    model = spec.build()
    parts = [Part(labeled, spec.modalities, SplitLabels(labeled, exp.task))]
    history = _fit(exp, "teacher", model, METHODS.get("teacher").train_step, parts, cfg, cfg.perturbation, seed,
                   on_epoch)
    return model, spec, history


def train_student(exp: Experiment, params: Params, method_name: str, *, unlabeled: SplitReader,
                  labels=None, kind: str = "hard", labeled: SplitReader | None = None,
                  truth: SplitReader | None = None, seed: int | None = None,
                  on_epoch: EpochHook | None = None) -> tuple[nn.Module, ModelSpec, list[dict]]:
    """Train one student method on labels of ``kind``.

    ``labels``: a label generation (or :class:`PseudoLabels`) covering D_u's ids;
    ``truth``: D_u's true labels, read only by MM (sup).
    """
    cfg = params.active("student")
    method = METHODS.get(method_name)
    if method.targets == "labeled":
        raise ValueError(f"{method_name!r} is not a student method")
    perturbation = method.perturbation(cfg.perturbation)
    seed = params.seed if seed is None else seed
    seed_everything(seed)
    spec = exp.model_spec("mm_student" if method.multimodal else "um_student", cfg, perturbation,
                          unlabeled.channels())
    model = spec.build()
    if method.targets == "truth":
        if truth is None:
            raise ValueError("mm_student_sup needs the true labels of D_u")
        parts = [Part(unlabeled, spec.modalities, SplitLabels(truth, exp.task, ids=unlabeled.ids))]
    else:
        if labels is None:
            raise ValueError(f"{method_name} needs pseudo labels")
        pseudo = PseudoTargets(labels, unlabeled.ids, kind, exp.task)
        parts = [Part(unlabeled, spec.modalities, pseudo)]
        if method.targets == "labeled+pseudo":
            if labeled is None:
                raise ValueError("noisy_student needs the labeled set")
            parts.append(Part(labeled, spec.modalities, SplitLabels(labeled, exp.task, soft=pseudo.soft)))
    history = _fit(exp, method_name, model, method.train_step, parts, cfg, perturbation, seed, on_epoch)
    return model, spec, history
