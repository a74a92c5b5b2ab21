"""Writing one generation: label shard by shard, resume, commit the manifest last.

The caller's ``label_fn`` runs on the calling thread; analysis, encoding, compression,
hashing and the fsync'd shard writes run on one background thread, so the store's
work overlaps the teacher's forward pass. Hence ``label_fn`` must return a fresh array
each call (not a buffer it overwrites on the next call).
"""

from __future__ import annotations

import fcntl
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from mkepipe.fileio import TMP_MARK

from ._format import SHARD_PATTERN, DamagedGenerationError, LabelStoreError, ShardReader, ShardWriter
from .codecs import Codec
from .families import Family
from .quality import block_stats, merge_stats

BLOCK_BYTES = 1 << 20  # raw float32 bytes per block: one block per image for dense labels
MAX_PENDING = 2
PENDING_BYTES = 512 << 20  # bounds memory when dense batches are large


@contextmanager
def locked(directory: Path):
    """Exclusive flock on the generation directory; the kernel drops it if we are killed."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def block_samples(sample_bytes: int, shard_size: int) -> int:
    return int(max(1, min(shard_size, BLOCK_BYTES // max(sample_bytes, 1))))


def shard_header(family: Family, kind: str, codec: Codec, num_classes: int) -> dict:
    """What a shard's index says about its labels (``sample_shape`` is added on commit)."""
    header = {"kind": kind, "encoding": codec.name, "num_classes": num_classes}
    return {**header, **family.lineage_fields()}  # simplex shards stay byte-identical to older ones


def validate_shape(probs, batch: list[str], num_classes: int, sample_shape) -> np.ndarray:
    arr = np.asarray(probs)
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    expect = (len(batch), num_classes)
    if arr.ndim < 2 or arr.shape[:2] != expect:
        raise LabelStoreError(f"label_fn returned shape {arr.shape}; expected (B,K,...) with (B,K)={expect}")
    if sample_shape is not None and arr.shape[2:] != tuple(sample_shape):
        raise LabelStoreError(f"label_fn returned spatial shape {arr.shape[2:]}, generation has {sample_shape}")
    return np.ascontiguousarray(arr)


class ShardPipeline:
    """Background encoder: batches in, blocks out, shard committed after its last sample."""

    def __init__(self, gen_dir: Path, family: Family, kind: str, codec: Codec, num_classes: int,
                 shard_size: int, threshold: float):
        self.gen_dir, self.family, self.kind, self.codec = gen_dir, family, kind, codec
        self.k, self.shard_size, self.threshold = num_classes, shard_size, threshold
        self.results: dict[int, tuple[dict, dict]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-writer")
        self._pending: deque = deque()
        self._writer: ShardWriter | None = None
        self._buffer: list[tuple[list[str], np.ndarray]] = []
        self._stats: list[dict] = []
        self._failed = False

    def submit(self, shard: int, batch: list[str], probs: np.ndarray, last: bool) -> None:
        """Queue a batch; block while more than MAX_PENDING batches (or PENDING_BYTES) wait."""
        self._pending.append((self._pool.submit(self._consume, shard, batch, probs, last), probs.nbytes))
        while len(self._pending) > 1 and (len(self._pending) > MAX_PENDING
                                          or sum(b for _, b in self._pending) > PENDING_BYTES):
            self._pending.popleft()[0].result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft()[0].result()

    def close(self, ok: bool) -> None:
        try:
            if ok:
                self.drain()
        finally:
            for fut, _ in self._pending:
                fut.cancel()
            self._pool.shutdown(wait=True)
            if self._writer is not None:
                self._writer.abort()

    def _consume(self, shard: int, batch: list[str], probs: np.ndarray, last: bool) -> None:
        if self._failed:
            return  # an earlier batch failed (its error reaches the caller): commit nothing after it
        try:
            self._add(shard, batch, probs, last)
        except BaseException:
            self._failed = True
            raise

    def _add(self, shard: int, batch: list[str], probs: np.ndarray, last: bool) -> None:
        if self._writer is None:
            self._writer = ShardWriter(self.gen_dir / SHARD_PATTERN.format(shard))
            self._stats = []
        n = len(batch)
        flat = probs.reshape(n, self.k, -1)
        spb = block_samples(flat[0].nbytes, self.shard_size)
        self._buffer.append((batch, flat))
        buffered = sum(len(b) for b, _ in self._buffer)
        while buffered >= spb or (last and buffered):
            ids = [sid for b, _ in self._buffer for sid in b]
            arr = self._buffer[0][1] if len(self._buffer) == 1 else np.concatenate([a for _, a in self._buffer])
            take = min(spb, buffered)
            self._encode_block(ids[:take], arr[:take])
            self._buffer = [(ids[take:], arr[take:])] if buffered > take else []
            buffered -= take
        if last:
            header = dict(shard_header(self.family, self.kind, self.codec, self.k),
                          sample_shape=list(probs.shape[2:]))
            stats = merge_stats(self._stats, self.k)
            self.results[shard] = (self._writer.commit(header, stats), stats)
            self._writer = None

    def _encode_block(self, ids: list[str], probs: np.ndarray) -> None:
        a = self.family.analyse(probs, self.codec.threshold)
        bad = self.family.invalid_rows(probs, a)
        if bad.any():
            raise LabelStoreError(f"label_fn must return {self.family.requirement}; "
                                  f"bad samples: {[ids[i] for i in np.flatnonzero(bad)[:5]]}")
        self._stats.append(block_stats(a, self.family, self.k, self.threshold))
        self._writer.add_block(ids, self.codec.encode(self.kind, probs, a), self.codec.compress)


def reuse_shard(path: Path, expected_ids: list[str], header: dict) -> tuple[dict, dict, list] | None:
    """A shard left by an interrupted run: keep it if intact and for the same ids."""
    try:
        reader = ShardReader(path)
        labels = {k: v for k, v in reader.header.items() if k != "sample_shape"}
        same = reader.ids == expected_ids and labels == header
        sha = reader.check_blocks() if same else None
    except DamagedGenerationError:
        same = False
    if not same:
        path.unlink()
        return None
    info = {"file": path.name, "samples": len(expected_ids), "bytes": reader.size, "sha256": sha,
            "index_sha256": reader.index_sha256}
    stats = reader.stats
    shape = reader.header["sample_shape"]
    reader.close()
    return info, stats, shape


def write_shards(gen_dir: Path, ids: list[str], label_fn: Callable, *, family: Family, kind: str,
                 codec: Codec, num_classes: int, shard_size: int, batch_size: int, threshold: float,
                 progress: bool, description: str, shape: list[int] | None = None):
    """Label and write every missing shard of ``gen_dir``; return ``(infos, stats, shape)``."""
    for stray in gen_dir.iterdir():
        if TMP_MARK in stray.name:
            stray.unlink()
    chunks = [ids[s:s + shard_size] for s in range(0, len(ids), shard_size)]
    header = shard_header(family, kind, codec, num_classes)
    infos: dict[int, dict] = {}
    stats: dict[int, dict] = {}
    todo = []
    for i, chunk in enumerate(chunks):
        path = gen_dir / SHARD_PATTERN.format(i)
        reused = reuse_shard(path, chunk, header) if path.exists() else None
        if reused is None:
            todo.append(i)
        elif shape is not None and list(reused[2]) != list(shape):
            (gen_dir / SHARD_PATTERN.format(i)).unlink()
            todo.append(i)
        else:
            infos[i], stats[i], shape = reused
    if hasattr(label_fn, "plan"):
        label_fn.plan([chunks[i][s:s + batch_size] for i in todo for s in range(0, len(chunks[i]), batch_size)])
    pipe = ShardPipeline(gen_dir, family, kind, codec, num_classes, shard_size, threshold)
    ok = False
    bar = _progress(progress, description, sum(len(chunks[i]) for i in todo))
    try:
        with bar as (prog, task):
            for i in todo:
                chunk = chunks[i]
                for s in range(0, len(chunk), batch_size):
                    batch = chunk[s:s + batch_size]
                    probs = validate_shape(label_fn(list(batch)), batch, num_classes, shape)
                    shape = list(probs.shape[2:])
                    pipe.submit(i, batch, probs, last=s + batch_size >= len(chunk))
                    if prog is not None:
                        prog.advance(task, len(batch))
            pipe.drain()
        ok = True
    finally:
        pipe.close(ok)
    for i, (info, st) in pipe.results.items():
        infos[i], stats[i] = info, st
    return [infos[i] for i in range(len(chunks))], [stats[i] for i in range(len(chunks))], shape


@contextmanager
def _progress(enabled: bool, description: str, total: int):
    if not enabled or total == 0:
        yield None, None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as prog:
        yield prog, prog.add_task(description, total=total)
