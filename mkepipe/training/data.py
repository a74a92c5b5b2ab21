"""Training data read by sample id from disk: a torch ``Dataset`` of (inputs, targets,
weights) and the loaders that batch it.

A :class:`TrainingSet` joins one or more parts — a split's inputs with a source of
targets: the split's own labels, pseudo labels read from a label generation by id, or
D_u's truth — in order (the NOISY student trains on D̃_u then D_l). Nothing is held in
memory beyond the batch being built; :func:`batches` shuffles with its own generator, so
the global RNG (model init, perturbations) sees the same draws as before batching.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mkepipe.data.split import IGNORE_INDEX, SplitReader
from mkepipe.tasks import Task

COUNT_CHUNK = 64  # samples per read when counting classes over a whole set


@dataclass
class Batch:
    """``x``: ``{modality: (B, …)}``; ``target``: class ids (int64) or probabilities/multi-hot
    (float, classes on dim 1); ``weight``: per-unit loss weights or None."""

    x: dict[str, torch.Tensor]
    target: torch.Tensor
    weight: torch.Tensor | None = None


class Targets(ABC):
    """Training targets of a split's samples, by row."""

    soft: bool  # float targets (probabilities or multi-hot) rather than class ids

    @abstractmethod
    def read(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(target, weight or None) of the samples at ``rows``."""


class SplitLabels(Targets):
    """A split's own labels (D_l's, or D_u's truth aligned with D_u's ids), as class ids,
    or as one-hot rows when they train beside soft pseudo labels."""

    def __init__(self, labels: SplitReader, task: Task, soft: bool = False, ids: Sequence[str] | None = None) -> None:
        if not labels.has_labels:
            raise ValueError("this split has no labels")
        self.labels, self.task, self.soft = labels, task, soft
        self.rows = None if ids is None else labels.rows_of(ids)  # None: same order as the inputs

    def read(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.rows is None:
            y = self.labels.labels(rows)
        else:
            y = self._aligned([self.rows[r] for r in rows])
        return self.task.label_targets(torch.from_numpy(y), self.soft), None

    def _aligned(self, rows: list[int | None]) -> np.ndarray:
        """Labels at ``rows``; a sample the label split lacks is void throughout."""
        have = [r for r in rows if r is not None]
        got = self.labels.labels(have)
        out = np.full((len(rows), *got.shape[1:]), IGNORE_INDEX, got.dtype)
        out[[i for i, r in enumerate(rows) if r is not None]] = got
        return out


class PseudoTargets(Targets):
    """Pseudo labels of ``ids`` from a label generation (or anything with its
    ``arrays(ids)``), as targets of ``kind``: hard, soft, or soft with confidence weights."""

    def __init__(self, generation: Any, ids: Sequence[str], kind: str, task: Task) -> None:
        if kind not in ("hard", "soft", "weighted"):
            raise ValueError(f"unknown label kind {kind!r}")
        self.generation, self.ids, self.kind, self.task = generation, list(ids), kind, task
        self.soft = kind != "hard" or task.family == "bernoulli"
        missing = [sid for sid in self.ids if sid not in generation]
        if missing:
            raise KeyError(f"{len(missing)} samples have no pseudo label, e.g. {missing[:3]}")

    def read(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        _, hard, probs, weight = self.generation.arrays([self.ids[r] for r in rows])
        if self.kind == "hard":
            return self.task.hard_targets(hard), None
        if probs is None:
            raise ValueError(f"{self.kind} targets need probabilities, but this generation stores hard labels only")
        target = torch.from_numpy(probs.astype(np.float32))
        if self.kind != "weighted":
            return target, None
        return target, (self.task.confidence_weight(target) if weight is None
                        else torch.from_numpy(weight.astype(np.float32)))


@dataclass
class Part:
    """Inputs of ``modalities`` from ``split`` with their ``targets``."""

    split: SplitReader
    modalities: tuple[str, ...]
    targets: Targets


class TrainingSet(Dataset):
    """The parts one after another; ``balance`` (per-unit class weights) multiplies the
    weights of every batch. ``__getitems__`` builds a whole batch with one read per part."""

    def __init__(self, parts: Sequence[Part], balance: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        if len({p.targets.soft for p in parts}) > 1:
            raise ValueError("parts mix class-id and probability targets")
        self.parts = list(parts)
        self.balance = balance
        self.offsets = np.cumsum([0] + [len(p.split) for p in self.parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        indices = np.asarray(indices, dtype=np.int64)
        which = np.searchsorted(self.offsets, indices, side="right") - 1
        pieces = []
        for k, part in enumerate(self.parts):
            at = np.flatnonzero(which == k)
            if at.size:
                rows = (indices[at] - self.offsets[k]).tolist()
                x = {m: torch.from_numpy(a) for m, a in part.split.read(rows, part.modalities).items()}
                pieces.append((at, x, *part.targets.read(rows)))
        batch = pieces[0][1:] if len(pieces) == 1 else _interleave(pieces, len(indices))
        x, target, weight = batch
        if self.balance is not None:
            w = self.balance(target)
            weight = w if weight is None else weight * w
        return Batch(x, target, weight)

    def class_counts(self, task: Task) -> torch.Tensor:
        """Units per class over every target of the set (read in chunks)."""
        counts = torch.zeros(task.num_classes, dtype=torch.int64)
        for part in self.parts:
            for start in range(0, len(part.split), COUNT_CHUNK):
                target, _ = part.targets.read(range(start, min(start + COUNT_CHUNK, len(part.split))))
                counts += task.class_counts(target)
        return counts


def _interleave(pieces: list, n: int) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
    """Put the parts' rows back into batch order; parts without weights weigh 1."""
    def place(tensors: list[torch.Tensor]) -> torch.Tensor:
        out = torch.empty((n, *tensors[0].shape[1:]), dtype=tensors[0].dtype)
        for (at, *_), t in zip(pieces, tensors):
            out[torch.from_numpy(at)] = t
        return out

    x = {m: place([p[1][m] for p in pieces]) for m in pieces[0][1]}
    target = place([p[2] for p in pieces])
    weights = [p[3] for p in pieces]
    if all(w is None for w in weights):
        return x, target, None
    unit = target.shape[:1] + target.shape[2:] if target.is_floating_point() else target.shape
    return x, target, place([torch.ones(len(p[0]), *unit[1:]) if w is None else w for p, w in zip(pieces, weights)])


class ShuffledBatches(Sampler[list[int]]):
    """A fresh permutation per pass, cut into batches; the ragged tail is dropped."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator)
        for start in range(0, self.n - self.batch_size + 1, self.batch_size):
            yield order[start:start + self.batch_size].tolist()


class FullBatch:
    """Full-batch training: the whole set as one batch, in order, read once."""

    def __init__(self, dataset: TrainingSet) -> None:
        self.dataset = dataset
        self._batch: Batch | None = None

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Batch]:
        if self._batch is None:
            self._batch = self.dataset.__getitems__(range(len(self.dataset)))
        yield self._batch


def batches(dataset: TrainingSet, batch_size: int | None, seed: int, num_workers: int = 0):
    """Batches of ``dataset``, reshuffled every pass (one pass per epoch); ``batch_size``
    None (or at least the set's size) trains full batch."""
    if batch_size is None or batch_size >= len(dataset):
        return FullBatch(dataset)
    # the loader draws a worker seed from its own generator per pass: keep it off the sampler's
    return DataLoader(dataset, batch_sampler=ShuffledBatches(len(dataset), batch_size, seed),
                      collate_fn=_as_is, num_workers=num_workers, generator=torch.Generator().manual_seed(seed))


def _as_is(batch: Batch) -> Batch:
    return batch


class _RowBatches(Dataset):
    """Item k = the model inputs of ``batches[k]`` (rows of ``split``)."""

    def __init__(self, split: SplitReader, modalities: Sequence[str], batches: list[list[int]]) -> None:
        self.split, self.modalities, self.batches = split, list(modalities), batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        return self.split.inputs(self.modalities, self.batches[k])


def read_batches(split: SplitReader, modalities: Sequence[str], batches: list[list[int]],
                 num_workers: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """The inputs of each batch of rows, in order, read by ``num_workers`` DataLoader
    worker processes ahead of the caller (0: in this process, when asked)."""
    return iter(DataLoader(_RowBatches(split, modalities, batches), batch_size=None, num_workers=num_workers))
