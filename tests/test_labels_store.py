"""LabelStore / Generation API: kinds, ids, no-op rewrites, random access, quality, torch view."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mkepipe.labels import DamagedGenerationError, Generation, LabelStore, LabelStoreError
from mkepipe.labels.codecs import analyse
from tests._label_writer_proc import K_DENSE, SHAPE, CountingLabeler, class_probs, dense_probs

KINDS = [("hard", "hard"), ("soft", "float16"), ("soft", "sparse-q8"),
         ("weighted", "float16"), ("weighted", "sparse-q8"), ("weighted", "hard")]
LINEAGE = dict(teacher_hash="sha256:teacher", dataset_hash="sha256:data")


def write(store, ids, fn, **kw):
    kw = {**LINEAGE, "progress": False, **kw}
    return store.write(ids, fn, **kw)


@pytest.mark.parametrize("kind,encoding", KINDS)
@pytest.mark.parametrize("dense", [False, True], ids=["classification", "dense"])
def test_roundtrip_every_kind(tmp_path, kind, encoding, dense):
    fn, k = (dense_probs, K_DENSE) if dense else (class_probs, 3)
    ids = [f"x{i}" for i in range(21)]
    gen = write(LabelStore(tmp_path), ids, fn, kind=kind, encoding=encoding, num_classes=k,
                shard_size=8, batch_size=3)
    ref = fn(ids)
    out_ids, hard, probs, weight = gen.arrays()
    assert out_ids == ids == gen.ids and len(gen) == 21
    assert hard.shape == (21, *(SHAPE if dense else ())) and hard.dtype == np.uint8
    np.testing.assert_array_equal(hard, ref.argmax(1))
    assert (probs is None) == (encoding == "hard")
    if probs is not None:
        assert probs.shape == ref.shape and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
        np.testing.assert_array_equal(probs.argmax(1), ref.argmax(1))
        np.testing.assert_allclose(probs, ref, atol=0.01 if encoding == "sparse-q8" else 1e-3)
    assert (weight is None) == (kind != "weighted")
    if weight is not None:
        true_w = analyse(ref.reshape(21, k, -1)).weight.reshape(hard.shape)
        assert np.abs(weight - true_w).max() <= 1 / 255
    rec = gen.get("x13")
    np.testing.assert_array_equal(rec.hard, hard[13])
    if probs is not None:
        np.testing.assert_array_equal(rec.probs, probs[13])
    sub_ids, sub_hard, _, _ = gen.arrays(["x20", "x0", "x9"])
    np.testing.assert_array_equal(sub_hard, hard[[20, 0, 9]])
    streamed = list(gen.iter_blocks())
    assert [i for b in streamed for i in b[0]] == ids
    np.testing.assert_array_equal(np.concatenate([b[1] for b in streamed]), hard)
    if weight is not None:
        np.testing.assert_array_equal(np.concatenate([b[3] for b in streamed]), weight)
        assert rec.weight.shape == hard.shape[1:] and rec.weight.dtype == np.float32
    with pytest.raises(KeyError):
        gen.get("nope")


def test_same_inputs_same_id_and_noop(tmp_path):
    store = LabelStore(tmp_path / "labels" / "exp" / "round1")
    ids = [f"x{i}" for i in range(600)]
    first = CountingLabeler(class_probs)
    gen = write(store, ids, first, kind="soft", num_classes=3, params={"T": 1.0})
    assert first.calls == math.ceil(256 / 32) * 2 + math.ceil(88 / 32)  # batches never cross shards
    second = CountingLabeler(class_probs)
    again = write(store, ids, second, kind="soft", num_classes=3, params={"T": 1.0})
    assert again.id == gen.id and second.calls == 0
    other = write(store, ids, class_probs, kind="soft", num_classes=3, params={"T": 2.0})
    assert other.id != gen.id
    files = sorted(p.name for p in gen.path.iterdir())
    assert files == ["manifest.json", "shard-00000.lbl", "shard-00001.lbl", "shard-00002.lbl"]
    assert len(files) <= math.ceil(len(ids) / 256) + 2
    assert [g.id for g in store.list()] == [gen.id, other.id]
    assert store.latest().id == other.id
    assert store.open(gen.id).id == gen.id and store.open(gen.path).id == gen.id


def test_manifest_fields(tmp_path):
    prior = np.array([0.5, 0.3, 0.2])
    gen = write(LabelStore(tmp_path), [f"x{i}" for i in range(50)], class_probs, kind="weighted",
                encoding="compact", num_classes=3, params={"tau": 0.7}, class_prior=prior, shard_size=16)
    m = gen.manifest
    for key in ("format_version", "kind", "num_classes", "encoding", "shape", "teacher_hash", "dataset_hash",
                "parent", "params", "shards", "samples", "created_at", "quality"):
        assert key in m
    assert m["encoding"] == "sparse-q8" and m["params"] == {"tau": 0.7} and m["samples"] == 50
    assert [s["file"] for s in m["shards"]] == [f"shard-{i:05d}.lbl" for i in range(4)]
    assert all(len(s["sha256"]) == 64 for s in m["shards"])
    assert gen.id.startswith("weighted-")


def test_quality_stats_match_numpy(tmp_path):
    ids = [f"x{i}" for i in range(40)]
    prior = np.array([0.2, 0.3, 0.1, 0.1, 0.3])
    gen = write(LabelStore(tmp_path), ids, dense_probs, kind="soft", num_classes=K_DENSE, class_prior=prior,
                shard_size=16, confidence_threshold=0.6)
    p = dense_probs(ids)
    conf = p.max(1)
    ent = -(p * np.log(p)).sum(1) / np.log(K_DENSE)
    q = gen.quality
    assert q["units"] == p[:, 0].size
    assert q["mean_confidence"] == pytest.approx(conf.mean(), rel=1e-5)
    assert q["mean_entropy"] == pytest.approx(ent.mean(), rel=1e-4)
    assert q["frac_below_threshold"] == pytest.approx((conf < 0.6).mean(), abs=1e-6)
    hist = np.bincount(p.argmax(1).ravel(), minlength=K_DENSE) / p[:, 0].size
    np.testing.assert_allclose(q["class_hist"], hist, atol=1e-6)
    np.testing.assert_allclose(q["prior_ratio"], hist / prior, rtol=1e-5)
    assert sum(q["entropy_hist"]) == pytest.approx(1.0)
    assert q["prior_tv"] == pytest.approx(0.5 * np.abs(hist - prior).sum(), abs=1e-6)


def test_bad_label_fn_output_is_rejected_and_nothing_committed(tmp_path):
    store = LabelStore(tmp_path)
    ids = ["a", "b", "c"]
    with pytest.raises(LabelStoreError, match="probabilities"):
        write(store, ids, lambda b: np.full((len(b), 3), 0.5, np.float32), kind="soft", num_classes=3)
    with pytest.raises(LabelStoreError, match="shape"):
        write(store, ids, lambda b: class_probs(b, k=4), kind="soft", num_classes=3)
    nan = lambda b: np.where(np.arange(3) == 0, np.nan, class_probs(b)).astype(np.float32)  # noqa: E731
    with pytest.raises(LabelStoreError, match="bad samples"):
        write(store, ids, nan, kind="hard", num_classes=3)
    negative = lambda b: np.tile(np.float32([1.2, -0.2, 0.0]), (len(b), 1))  # noqa: E731  sums to 1
    with pytest.raises(LabelStoreError, match="bad samples"):
        write(store, ids, negative, kind="soft", num_classes=3)
    def one_inf(b):
        p = dense_probs(b)
        p[0, 1, 5, 6] = np.inf  # a single non-finite pixel is enough
        return p
    with pytest.raises(LabelStoreError, match=r"bad samples: \['a'\]"):
        write(store, ids, one_inf, kind="soft", num_classes=K_DENSE)
    with pytest.raises(LabelStoreError, match="duplicate"):
        write(store, ["a", "a"], class_probs, kind="soft", num_classes=3)
    with pytest.raises(LabelStoreError, match="encoding"):
        write(store, ids, class_probs, kind="soft", encoding="hard", num_classes=3)
    assert store.list() == []
    assert not list(tmp_path.rglob("*.tmp-*"))


def test_incomplete_generation_is_refused(tmp_path):
    store = LabelStore(tmp_path)
    gen = write(store, ["a", "b"], class_probs, kind="soft", num_classes=3)
    (gen.path / "manifest.json").unlink()
    with pytest.raises(DamagedGenerationError, match="manifest.json"):
        Generation(gen.path)
    assert store.list() == [] and store.latest() is None


def test_torch_dataset_and_dataloader(tmp_path):
    ids = [f"x{i}" for i in range(10)]
    store = LabelStore(tmp_path)
    weighted = write(store, ids, dense_probs, kind="weighted", encoding="sparse-q8", num_classes=K_DENSE)
    hard = write(store, ids, dense_probs, kind="hard", num_classes=K_DENSE)
    ds = weighted.torch_dataset()
    item = ds[3]
    assert item["id"] == "x3" and item["target"].shape == (K_DENSE, *SHAPE) and item["target"].dtype == torch.float32
    assert item["weight"].shape == SHAPE and float(item["weight"].max()) <= 1.0
    loader = torch.utils.data.DataLoader(hard.torch_dataset(ids[:6]), batch_size=4, num_workers=1)
    batches = list(loader)
    assert batches[0]["target"].dtype == torch.int64 and batches[0]["target"].shape == (4, *SHAPE)
    assert torch.equal(batches[0]["weight"], torch.ones(4, *SHAPE))
    assert [i for b in batches for i in b["id"]] == ids[:6]
