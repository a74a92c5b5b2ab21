"""The label writer on a full disk: an error naming the file, nothing committed, a clean retry."""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

import pytest

from mkepipe.labels import LabelStore, _format
from tests._label_writer_proc import K_DENSE, CountingLabeler, dense_probs

IDS = [f"s{i:03d}" for i in range(24)]


class FullDisk:
    """``open`` for the shard writer: writes fail with ENOSPC once ``budget`` bytes are written."""

    def __init__(self, budget: int):
        self.left = budget

    def open(self, path, mode="r", *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        return _Limited(f, self) if "w" in mode else f


class _Limited:
    def __init__(self, f, disk: FullDisk):
        self._f, self._disk = f, disk

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self._disk.left:
            self._f.write(data[:self._disk.left])  # the disk takes what fits
            self._disk.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)


def fail_fsync_of(fragment: str):
    """An ``os.fsync`` that fails with ENOSPC for files whose name contains ``fragment``."""
    real = os.fsync

    def fsync(fd):
        if fragment in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)
    return fsync


def write(store, labeler=dense_probs, **kw):
    kw = {"kind": "weighted", "encoding": "sparse-q8", "num_classes": K_DENSE, "teacher_hash": "t",
          "dataset_hash": "d", "shard_size": 8, "batch_size": 4, "progress": False, **kw}
    return store.write(IDS, labeler, **kw)


def tree_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


@pytest.fixture
def stores(tmp_path, monkeypatch):
    """An uninterrupted reference generation, and a store already holding another generation."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    reference = write(LabelStore(tmp_path / "clean"))
    store = LabelStore(tmp_path / "full")
    previous = write(store, teacher_hash="previous-teacher")
    return reference, store, previous


def assert_nothing_committed(store, reference, previous) -> None:
    gen_dir = store.root / reference.id
    assert not (gen_dir / "manifest.json").exists()
    assert not [p for p in gen_dir.iterdir() if ".tmp-" in p.name]
    assert [g.id for g in store.list()] == [previous.id]
    assert store.open(previous.id).verify()["ok"]
    assert store.open(previous.id).arrays()[0] == IDS


def test_disk_full_mid_shard(stores, monkeypatch):
    reference, store, previous = stores
    first_shard = (reference.path / "shard-00000.lbl").stat().st_size
    monkeypatch.setattr(_format, "open", FullDisk(first_shard + 200).open, raising=False)
    with pytest.raises(OSError) as failure:
        write(store)
    assert failure.value.errno == errno.ENOSPC
    assert "shard-00001.lbl" in str(failure.value)
    assert_nothing_committed(store, reference, previous)

    monkeypatch.delattr(_format, "open")  # disk freed
    retry = CountingLabeler(dense_probs)
    again = write(store, retry)
    assert retry.seen == IDS[8:]  # shard 0 was committed before the disk filled up
    assert again.id == reference.id and tree_bytes(again.path) == tree_bytes(reference.path)
    assert again.verify()["ok"]


def test_disk_full_at_manifest_commit(stores, monkeypatch):
    reference, store, previous = stores
    monkeypatch.setattr(os, "fsync", fail_fsync_of("manifest.json"))
    with pytest.raises(OSError) as failure:
        write(store)
    assert failure.value.errno == errno.ENOSPC
    assert "manifest.json" in str(failure.value)
    assert_nothing_committed(store, reference, previous)

    monkeypatch.undo()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    retry = CountingLabeler(dense_probs)
    again = write(store, retry)
    assert retry.calls == 0  # every shard was on disk: only the manifest is written
    assert tree_bytes(again.path) == tree_bytes(reference.path)


def test_disk_full_at_shard_fsync(stores, monkeypatch):
    reference, store, previous = stores
    monkeypatch.setattr(os, "fsync", fail_fsync_of("shard-00002.lbl"))
    with pytest.raises(OSError) as failure:
        write(store)
    assert failure.value.errno == errno.ENOSPC and "shard-00002.lbl" in str(failure.value)
    assert_nothing_committed(store, reference, previous)
    monkeypatch.undo()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert tree_bytes(write(store).path) == tree_bytes(reference.path)
