"""Reading a committed label generation: random access, stacked arrays, verification."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mkepipe.fileio import TMP_MARK, sha256_file

from ._format import MANIFEST, DamagedGenerationError, LabelStoreError, ShardReader, read_manifest
from ._manifest import check_content, check_fields, check_identity, check_shard, family_of, shard_path
from .families import create_family

CHECK_MODES = ("shard", "block")


@dataclass
class Record:
    """One sample's labels: ``hard`` () or (H,W) class ids (simplex), (K,) or (K,H,W) 0/1
    (Bernoulli); ``probs`` (K,)/(K,H,W) float32 or None; ``weight`` float32 or None."""

    id: str
    hard: np.ndarray
    probs: np.ndarray | None
    weight: np.ndarray | np.float32 | None


class Generation:
    """An immutable, committed label generation (a directory with ``manifest.json``).

    ``check="shard"`` (default) hashes a whole shard against the manifest the first
    time this process reads from it; ``check="block"`` only checks the index and the
    block being read (faster first access, still refuses any damaged byte it reads).

    The manifest is not trusted (see ``_manifest.py``): malformed fields, shard files
    outside the directory and a parent outside ``root`` are refused on opening. ``root``
    defaults to the directory holding the generation's store (its grandparent), which
    admits a parent in a sibling store (``labels/round0001/<gen>`` for a child in
    ``labels/round0002/``); a parent must hold the id its child names.
    """

    def __init__(self, path: os.PathLike | str, check: str = "shard", root: os.PathLike | str | None = None,
                 _seen: tuple = ()):
        if check not in CHECK_MODES:
            raise LabelStoreError(f"check must be one of {CHECK_MODES}")
        self.path = Path(path).resolve()
        self.root = self.path.parent.parent if root is None else Path(root).resolve()
        self.check = check
        self.manifest = read_manifest(self.path)
        check_fields(self.manifest, self.path)
        self.id: str = self.manifest["id"]
        self.kind: str = self.manifest["kind"]
        self.num_classes: int = self.manifest["num_classes"]
        self.shape: tuple[int, ...] = tuple(self.manifest["shape"])
        self.family: str = family_of(self.manifest)
        self._family = create_family(self.family)
        self.hard_shape = self._family.hard_shape(self.num_classes, self.shape)
        self.codec = self._family.create_codec(self.manifest["encoding"])
        for i in range(len(self.manifest["shards"])):
            self._present_shard(i)
        self.parent = self._open_parent(_seen + (self.id,))
        self._readers: dict[int, ShardReader] = {}
        self._checked: set[int] = set()
        self._loc: dict[str, tuple[int, int, int]] | None = None
        self._own_ids: list[str] | None = None
        self._cache: OrderedDict = OrderedDict()

    def _open_parent(self, seen: tuple) -> "Generation | None":
        """The parent at the manifest's relative path, or else the sibling directory named by
        its id; only inside ``root``, and only if its manifest holds that id."""
        ref = self.manifest["parent"]
        if ref is None:
            return None
        if ref["id"] in seen:
            raise DamagedGenerationError(self.path / MANIFEST, f"manifest field parent: cycle through {ref['id']}")
        recorded = (self.path / ref["path"]).resolve()
        for candidate in (recorded, (self.path.parent / ref["id"]).resolve()):
            if candidate.is_relative_to(self.root) and (candidate / MANIFEST).is_file():
                parent = Generation(candidate, self.check, self.root, seen)
                if parent.id != ref["id"]:
                    raise DamagedGenerationError(self.path / MANIFEST, f"manifest field parent: names {ref['id']}, "
                                                                       f"but {candidate} holds {parent.id}")
                return parent
        outside = "" if recorded.is_relative_to(self.root) else f"; {recorded} is outside the store root {self.root}"
        raise DamagedGenerationError(self.path / MANIFEST,
                                     f"manifest field parent: generation {ref['id']} not found{outside}")

    def __repr__(self) -> str:
        return (f"Generation({self.id!r}, family={self.family!r}, kind={self.kind!r}, samples={len(self)}, "
                f"path={str(self.path)!r})")

    def __len__(self) -> int:
        return self.manifest["samples_total"]

    def __contains__(self, sample_id: str) -> bool:
        return self._lookup(sample_id) is not None

    @property
    def quality(self) -> dict:
        return self.manifest["quality"]["summary"]

    @property
    def own_ids(self) -> list[str]:
        """Ids labeled in this generation (not the parent's)."""
        self._index()
        return self._own_ids

    @property
    def ids(self) -> list[str]:
        """Every readable id: the parent's first, then this generation's own."""
        return (self.parent.ids if self.parent else []) + self.own_ids

    def _open_reader(self, i: int) -> ShardReader:
        """The reader of shard ``i``, once it is known to hold what the manifest says."""
        if i not in self._readers:
            entry = self.manifest["shards"][i]
            reader = ShardReader(shard_path(self.path, i, entry["file"]), entry)
            check_shard(self.manifest, self.path, i, self.codec, reader)
            self._readers[i] = reader
        return self._readers[i]

    def _reader(self, i: int) -> ShardReader:
        reader = self._open_reader(i)
        if self.check == "shard" and i not in self._checked:
            reader.check_file(self.manifest["shards"][i]["sha256"])
            self._checked.add(i)
        return reader

    def _index(self) -> dict[str, tuple[int, int, int]]:
        if self._loc is None:
            loc, ids = {}, []
            for i in range(len(self.manifest["shards"])):
                reader = self._open_reader(i)
                for j, block in enumerate(reader.blocks):
                    for pos, sid in enumerate(block["ids"]):
                        loc[sid] = (i, j, pos)
                        ids.append(sid)
                reader.close()  # re-opened on demand: only shards being read hold a descriptor
            self._loc, self._own_ids = loc, ids
        return self._loc

    def _lookup(self, sample_id: str):
        if sample_id in self._index():
            return self, self._loc[sample_id]
        return self.parent._lookup(sample_id) if self.parent else None

    def _block(self, i: int, j: int):
        key = (i, j)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        streams = self._reader(i).read_block(j)
        hard, probs, weight = self.codec.decode(self.kind, streams, self.num_classes)
        decoded = (hard, probs, weight)
        self._cache[key] = decoded
        if len(self._cache) > 4:
            self._cache.popitem(last=False)
        return decoded

    def get(self, sample_id: str) -> Record:
        """Random access by id (reads through to the parent); shapes as in :class:`Record`."""
        found = self._lookup(sample_id)
        if found is None:
            raise KeyError(sample_id)
        gen, (i, j, pos) = found
        hard, probs, weight = gen._block(i, j)
        w = None if weight is None else weight[pos].reshape(self.shape).copy()
        return Record(sample_id, hard[pos].reshape(self.hard_shape).copy(),
                      None if probs is None else probs[pos].reshape(self.num_classes, *self.shape).copy(),
                      np.float32(w) if w is not None and w.ndim == 0 else w)

    def arrays(self, ids: list[str] | None = None):
        """Stack ``(ids, hard, probs | None, weight | None)``; each block is decoded once.

        ``hard`` is ``(n, *shape)`` class ids for simplex labels and ``(n, K, *shape)``
        uint8 0/1 for Bernoulli labels; ``probs`` ``(n, K, *shape)``; ``weight`` ``(n, *shape)``.
        """
        ids = list(self.ids if ids is None else ids)
        n, k = len(ids), self.num_classes
        groups: dict[tuple[int, int, int], tuple] = {}
        for row, sid in enumerate(ids):
            found = self._lookup(sid)
            if found is None:
                raise KeyError(sid)
            gen, (i, j, pos) = found
            groups.setdefault((id(gen), i, j), (gen, i, j, [], []))
            groups[(id(gen), i, j)][3].append(row)
            groups[(id(gen), i, j)][4].append(pos)
        hard = np.empty((n, *self.hard_shape), self._family.hard_dtype(k))
        probs = np.empty((n, k, *self.shape), np.float32) if self.codec.name != "hard" else None
        weight = np.empty((n, *self.shape), np.float32) if self.kind == "weighted" else None
        if n == 0:
            return ids, hard, probs, weight
        flat_hard = hard.reshape(n, -1)
        for gen, i, j, rows, positions in groups.values():
            h, p, w = gen._block(i, j)
            flat_hard[rows] = h[positions].reshape(len(positions), -1)
            if probs is not None:
                if p is None:
                    raise LabelStoreError(f"{gen.path}: stores no probabilities")
                probs.reshape(n, k, -1)[rows] = p[positions]
            if weight is not None:
                weight.reshape(n, -1)[rows] = w[positions]
        return ids, hard, probs, weight

    def iter_blocks(self):
        """Stream ``(ids, hard, probs | None, weight | None)`` block by block, parent first."""
        if self.parent:
            yield from self.parent.iter_blocks()
        for i in range(len(self.manifest["shards"])):
            for j, block in enumerate(self._reader(i).blocks):
                hard, probs, weight = self._block(i, j)
                n = len(block["ids"])
                yield (block["ids"], hard.reshape(n, *self.hard_shape),
                       None if probs is None else probs.reshape(n, self.num_classes, *self.shape),
                       None if weight is None else weight.reshape(n, *self.shape))

    def _present_shard(self, i: int) -> Path:
        """The file of shard ``i``; refuse it if outside the generation, missing or of the wrong size."""
        entry = self.manifest["shards"][i]
        shard = shard_path(self.path, i, entry["file"])
        if not shard.is_file():
            raise DamagedGenerationError(shard, "shard file missing")
        if shard.stat().st_size != entry["bytes"]:
            raise DamagedGenerationError(shard, f"size differs from manifest ({entry['bytes']} bytes)")
        return shard

    def verify(self, parents: bool = True) -> dict:
        """Check the generation against its manifest; DamagedGenerationError names the shard or field.

        Hashes every shard; checks that the shards hold what the manifest says (family,
        kind, encoding, K, shape, streams, sample counts, the ids' sha256), that
        ``samples_total`` adds up with the parent's, and that the id is the directory's
        name and the content id of the lineage fields. ``parents``: the chain as well.
        """
        start, nbytes = time.perf_counter(), 0
        for i, entry in enumerate(self.manifest["shards"]):
            shard = self._present_shard(i)
            if sha256_file(shard) != entry["sha256"]:
                raise DamagedGenerationError(shard, "sha256 mismatch")
            nbytes += entry["bytes"]
        self._checked.update(range(len(self.manifest["shards"])))
        check_content(self.manifest, self.path, self.own_ids, len(self.parent) if self.parent else 0)
        check_identity(self.manifest, self.path)
        report = {"id": self.id, "path": str(self.path), "ok": True, "shards": len(self.manifest["shards"]),
                  "samples": self.manifest["samples"], "bytes": nbytes,
                  "stray_files": sorted(p.name for p in self.path.iterdir() if TMP_MARK in p.name)}
        if parents and self.parent:
            report["parent"] = self.parent.verify(parents=True)
        report["seconds"] = time.perf_counter() - start
        return report

    def torch_dataset(self, ids: list[str] | None = None):
        """A ``torch.utils.data.Dataset`` of ``{"id", "target", "weight"}`` dicts."""
        from .dataset import LabelDataset
        return LabelDataset(self, ids)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state
