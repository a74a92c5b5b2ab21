"""Simplex generations keep their ids and bytes: pinned to the store before label families."""

from __future__ import annotations

import hashlib
import json

import pytest

from mkepipe.labels import Generation, LabelStore
from tests._label_writer_proc import K_DENSE, class_probs, dense_probs

# id and digest of every file (manifest without its "family" key) written by commit 1a0ba71
PINNED = {
    ("hard", "hard", "cls"): ("hard-222324ddb112666e",
                              "f7c3bec3649a01895fdba547e9dd23cf45b10b8a0dd7de50c1597117296ff114"),
    ("soft", "float16", "dense"): ("soft-928196233073580a",
                                   "40ce5e18287b23e16129e228ec5849ab7d0bed56c70dd602482f23ede7627f7d"),
    ("soft", "sparse-q8", "dense"): ("soft-df6c3d47900eb565",
                                     "1d0a7aed70f16e2dd9d90279dc4952e147fe161bc0335534f17a26824f95b3f7"),
    ("weighted", "hard", "dense"): ("weighted-167ba5c8319c8bcd",
                                    "42bd54b5c83994b0ce86426acef53f2c03c1b824b277002e52dcb1d4a446693c"),
    ("weighted", "float16", "cls"): ("weighted-bc02c31adcbc1457",
                                     "f76ae97b5627cef5b05ddee9f65030a59e8658f0efd165fa8ed3308d0804fe54"),
    ("weighted", "sparse-q8", "dense"): ("weighted-288e06f4415068eb",
                                         "81fd518788155a36e8e7467c59cf8050a8771e45b3e676a9a0fc180c2be3de8b"),
}
CHILD = ("weighted-8b786a637ce04091", "dfc24223cf38989a5c1a8610f33f60ca09a449aded7e64b0598ff22717be4049")
IDS = [f"x{i}" for i in range(20)]


def old_manifest_bytes(manifest: dict) -> bytes:
    """The manifest as the store wrote it before families (no ``family`` key)."""
    return (json.dumps({k: v for k, v in manifest.items() if k != "family"}, sort_keys=True, indent=1)
            + "\n").encode()


def tree_digest(path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.iterdir()):
        data = p.read_bytes()
        if p.name == "manifest.json":
            data = old_manifest_bytes(json.loads(data))
        h.update(p.name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return LabelStore(tmp_path / "store")


def write(store, ids, kind, encoding, dense, **kw):
    fn, k = (dense_probs, K_DENSE) if dense == "dense" else (class_probs, 3)
    return store.write(ids, fn, kind=kind, encoding=encoding, num_classes=k, teacher_hash="t", dataset_hash="d",
                       progress=False, shard_size=8, batch_size=3, **kw)


@pytest.mark.parametrize("kind,encoding,dense", list(PINNED))
def test_simplex_ids_and_bytes_are_unchanged(store, kind, encoding, dense):
    gen = write(store, IDS, kind, encoding, dense, params={"T": 1.0}, class_prior=[1.0] * (3 + 2 * (dense == "dense")))
    assert (gen.id, tree_digest(gen.path)) == PINNED[kind, encoding, dense]
    assert gen.family == "simplex" and gen.manifest["family"] == "simplex"


def test_child_id_and_bytes_are_unchanged_and_old_manifests_read(store):
    parent = write(store, IDS, "weighted", "sparse-q8", "dense", params={"T": 1.0}, class_prior=[1.0] * K_DENSE)
    child = write(store, IDS + ["n1", "n2"], "weighted", "sparse-q8", "dense", parent=parent)
    assert (child.id, tree_digest(child.path)) == CHILD
    for gen in (parent, child):  # rewrite both manifests exactly as the old store did
        (gen.path / "manifest.json").write_bytes(old_manifest_bytes(gen.manifest))
    old = Generation(child.path)
    assert old.family == "simplex" and old.parent.family == "simplex"
    assert old.verify()["parent"]["ok"]
    assert old.ids == IDS + ["n1", "n2"]
