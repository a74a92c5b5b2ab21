"""The label store: a directory of immutable, content-addressed label generations."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from mkepipe.fileio import atomic_write_bytes, fsync_dir

from ._format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SHARD_PATTERN,
    DamagedGenerationError,
    LabelStoreError,
    canonical_json,
    naming_file,
    sha256_hex,
)
from ._manifest import generation_id, make_lineage
from ._writer import locked, write_shards
from .families import Family, create_family
from .generation import Generation
from .quality import merge_stats, quality_block

LabelFn = Callable[[list[str]], np.ndarray]


def created_at() -> str:
    """UTC now, or SOURCE_DATE_EPOCH when set (then the manifest is byte-reproducible)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch) if epoch else time.time()))


class LabelStore:
    """Generations live in ``root/<generation-id>/``; ``root`` is created if missing.

    A child generation's parent must lie below ``root``'s parent (the folder holding this
    store and its sibling stores, e.g. one store per relabel round).
    """

    def __init__(self, root: os.PathLike | str, check: str = "shard"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.check = check
        self._scope = self.root.resolve().parent  # where parents may live: this store and its siblings

    def __repr__(self) -> str:
        return f"LabelStore({str(self.root)!r})"

    def lineage(self, ids: Iterable[str], *, kind: str, num_classes: int, teacher_hash: str,
                dataset_hash: str, params: dict | None = None, encoding: str = "float16",
                parent: Generation | None = None, family: str = "simplex") -> dict:
        """What a generation's id is derived from (``ids`` are the ids it labels itself)."""
        lineage = make_lineage(
            family=family, kind=kind, num_classes=int(num_classes),
            encoding=create_family(family).resolve_encoding(kind, encoding), teacher_hash=teacher_hash,
            dataset_hash=dataset_hash, params=params or {}, parent=parent.id if parent is not None else None,
            ids_sha256=sha256_hex(canonical_json(list(ids))))
        try:
            canonical_json(lineage)
        except (TypeError, ValueError) as exc:
            raise LabelStoreError(f"params must be JSON-serialisable: {exc}") from exc
        return lineage

    @staticmethod
    def generation_id(lineage: dict) -> str:
        """The content id of a lineage (``Generation.verify`` recomputes it from the manifest)."""
        return generation_id(lineage)

    def write(self, ids: Iterable[str], label_fn: LabelFn, *, kind: str = "hard", num_classes: int,
              teacher_hash: str, dataset_hash: str, params: dict | None = None, encoding: str = "float16",
              parent: Generation | None = None, class_prior: np.ndarray | None = None,
              shard_size: int = 256, batch_size: int = 32, confidence_threshold: float = 0.5,
              progress: bool = True, family: str = "simplex") -> Generation:
        """Label ``ids`` with ``label_fn`` into a new generation, or resume/return an existing one.

        ``label_fn(list_of_ids)`` returns a fresh float32 array of probabilities ``(B,K)`` or
        ``(B,K,H,W)`` (encoded on a background thread while the next batch is labeled) and
        is only called for shards not yet on disk: per unit a distribution over K classes
        for ``family="simplex"``, K independent probabilities in [0, 1] for
        ``family="bernoulli"`` (multi-label). With ``parent`` (of the same family) only ids
        absent from the parent are labeled (if none are new, the parent is returned).
        Batches never cross shard boundaries, so a resumed run sees the same batches.
        A ``label_fn`` with a ``plan(batches)`` method is told, before its first call, every
        batch (list of ids) it will be asked for, in order, so that it can read ahead
        (:class:`mkepipe.training.runs.Labeler`).
        """
        ids = [str(i) for i in ids]
        if len(set(ids)) != len(ids):
            raise LabelStoreError("duplicate sample ids")
        if shard_size < 1 or batch_size < 1:
            raise LabelStoreError("shard_size and batch_size must be >= 1")
        fam = create_family(family)
        encoding = fam.resolve_encoding(kind, encoding)
        shape = None
        if parent is not None:
            self._check_parent(parent, fam, kind, num_classes, encoding)
            known = set(parent.ids)
            ids = [i for i in ids if i not in known]
            if not ids:
                return parent
            shape = list(parent.shape)
        if not ids:
            raise LabelStoreError("no sample ids to label")
        if class_prior is not None:
            class_prior = fam.check_prior(class_prior, num_classes)
        lineage = self.lineage(ids, kind=kind, num_classes=num_classes, teacher_hash=teacher_hash,
                               dataset_hash=dataset_hash, params=params, encoding=encoding, parent=parent,
                               family=family)
        gen_id = self.generation_id(lineage)
        gen_dir = self.root / gen_id
        if (gen_dir / MANIFEST).is_file():
            return self.open(gen_dir)
        gen_dir.mkdir(exist_ok=True)
        with locked(gen_dir):
            if (gen_dir / MANIFEST).is_file():  # another process finished it while we waited
                return self.open(gen_dir)
            codec = fam.create_codec(encoding)
            infos, stats, shape = write_shards(
                gen_dir, ids, label_fn, family=fam, kind=kind, codec=codec, num_classes=num_classes,
                shard_size=shard_size, batch_size=batch_size, threshold=confidence_threshold,
                progress=progress, description=f"labels {gen_id}", shape=shape)
            acc = merge_stats(stats, num_classes)
            manifest = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "id": gen_id,
                "family": fam.name, "kind": kind, "num_classes": int(num_classes), "encoding": encoding,
                "encoding_params": getattr(codec, "params", {}), "shape": list(shape),
                "hard_dtype": fam.hard_dtype(num_classes).name,
                "teacher_hash": teacher_hash, "dataset_hash": dataset_hash,
                "ids_sha256": lineage["ids_sha256"], "params": lineage["params"],
                "lineage_sha256": sha256_hex(canonical_json(lineage)),
                "parent": None if parent is None else {
                    "id": parent.id, "path": os.path.relpath(parent.path, gen_dir.resolve())},
                "samples": len(ids), "samples_total": len(ids) + (len(parent) if parent else 0),
                "shard_size": shard_size, "shards": infos,
                "quality": quality_block(acc, confidence_threshold, fam, class_prior),
                "created_at": created_at(),
            }
            if parent is not None:
                total = merge_stats([_total_acc(parent), acc], num_classes)
                manifest["quality_total"] = quality_block(total, confidence_threshold, fam, class_prior)
            with naming_file(gen_dir / MANIFEST):
                fsync_dir(gen_dir)  # every shard rename is durable before the manifest can be
                atomic_write_bytes(gen_dir / MANIFEST, (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode())
        return self.open(gen_dir)

    def _check_parent(self, parent: Generation, family: Family, kind: str, num_classes: int, encoding: str) -> None:
        if not isinstance(parent, Generation):
            raise LabelStoreError("parent must be a Generation")
        if not parent.path.is_relative_to(self._scope):
            raise LabelStoreError(f"parent {parent.path} is outside {self._scope}, where a child of {self} looks "
                                  f"for it")
        if parent.family != family.name:
            raise LabelStoreError(f"child ({family.name} labels) must match its parent ({parent.family} labels)")
        if parent.kind != kind or parent.num_classes != num_classes:
            raise LabelStoreError(f"child ({kind}, K={num_classes}) must match its parent "
                                  f"({parent.kind}, K={parent.num_classes})")
        if (parent.codec.name == "hard") != (encoding == "hard"):
            raise LabelStoreError("parent and child must both store probabilities, or neither")

    def open(self, gen: str | os.PathLike) -> Generation:
        """Open by id (a directory under ``root``) or by path."""
        path = Path(gen)
        if not path.is_dir():
            path = self.root / str(gen)
        if not path.is_dir():
            raise LabelStoreError(f"no generation {gen!r} in {self.root}")
        return Generation(path, self.check, root=self._scope)

    def list(self) -> list[Generation]:
        """Committed generations directly under ``root``, oldest first. Damaged ones are skipped."""
        return self._committed(skip_damaged=True)

    def latest(self) -> Generation | None:
        """The newest committed generation. A damaged one raises :class:`DamagedGenerationError`:
        it may be the newest, and an older one must not silently stand in for it."""
        gens = self._committed(skip_damaged=False)
        return gens[-1] if gens else None

    def _committed(self, skip_damaged: bool) -> list[Generation]:
        gens = []
        for child in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if (child / MANIFEST).is_file():
                try:
                    gens.append(Generation(child, self.check, root=self._scope))
                except DamagedGenerationError:
                    if not skip_damaged:
                        raise
        return sorted(gens, key=lambda g: (g.manifest["created_at"], (g.path / MANIFEST).stat().st_mtime_ns))


def _total_acc(gen: Generation) -> dict:
    return gen.manifest.get("quality_total", gen.manifest["quality"])["accumulators"]


def scan(root: os.PathLike | str) -> list[dict]:
    """Every generation directory below ``root``: ``{"path", "status", "generation"|"error"}``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        path = Path(dirpath)
        if MANIFEST in filenames:
            dirnames.clear()
            try:
                found.append({"path": path, "status": "complete", "generation": Generation(path)})
            except LabelStoreError as exc:
                found.append({"path": path, "status": "damaged", "error": str(exc)})
        elif any(f.startswith(SHARD_PATTERN.split("{")[0]) for f in filenames):
            found.append({"path": path, "status": "incomplete",
                          "error": str(DamagedGenerationError(path / MANIFEST, "manifest missing"))})
    return found
