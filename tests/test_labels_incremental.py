"""Incremental child generations: only new ids are labeled; reading the child reads through."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from mkepipe.labels import Generation, LabelStore, LabelStoreError, compare
from tests._label_writer_proc import K_DENSE, CountingLabeler, class_probs, dense_probs

LINEAGE = dict(teacher_hash="sha256:teacher", progress=False)


def digest(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.mark.parametrize("fn,k", [(class_probs, 3), (dense_probs, K_DENSE)], ids=["classification", "dense"])
def test_child_holds_exactly_the_new_ids(tmp_path, fn, k):
    store = LabelStore(tmp_path / "labels")
    old = [f"s{i:04d}" for i in range(200)]
    parent_labeler = CountingLabeler(fn)
    parent = store.write(old, parent_labeler, kind="weighted", encoding="sparse-q8", num_classes=k,
                         dataset_hash="data-v1", shard_size=64, **LINEAGE)
    before = digest(parent.path)

    new = [f"n{i:04d}" for i in range(20)]  # +10%
    corpus = old + new
    random.Random(0).shuffle(corpus)
    child_labeler = CountingLabeler(fn)
    child = store.write(corpus, child_labeler, kind="weighted", encoding="sparse-q8", num_classes=k,
                        dataset_hash="data-v2", shard_size=64, parent=parent, **LINEAGE)

    expected_new = [i for i in corpus if i in set(new)]
    assert child.own_ids == expected_new and child.manifest["samples"] == 20
    assert sorted(child_labeler.seen) == sorted(new)  # labeling cost: the new samples only
    assert len(child_labeler.seen) / len(parent_labeler.seen) == pytest.approx(0.1)
    assert child.ids == parent.ids + expected_new and len(child) == 220
    assert child.manifest["parent"]["id"] == parent.id
    assert child.manifest["quality_total"]["summary"]["units"] == (
        parent.quality["units"] + child.quality["units"])

    ids, hard, probs, weight = child.arrays()
    assert ids == old + expected_new
    np.testing.assert_array_equal(hard, fn(ids).argmax(1))
    np.testing.assert_allclose(probs, fn(ids), atol=0.01)
    np.testing.assert_array_equal(child.get(old[5]).hard, parent.get(old[5]).hard)
    assert digest(parent.path) == before  # the parent is never touched

    reopened = Generation(child.path)  # parent resolved from the manifest alone
    assert reopened.parent.id == parent.id and reopened.ids == child.ids
    assert reopened.verify()["parent"]["ok"]


def test_chain_and_noop_and_mismatch(tmp_path):
    store = LabelStore(tmp_path)
    g1 = store.write(["a", "b"], class_probs, kind="soft", num_classes=3, dataset_hash="v1", **LINEAGE)
    g2 = store.write(["a", "b", "c"], class_probs, kind="soft", num_classes=3, dataset_hash="v2", parent=g1,
                     **LINEAGE)
    g3 = store.write(["c", "d", "a"], class_probs, kind="soft", num_classes=3, dataset_hash="v3", parent=g2,
                     **LINEAGE)
    assert g3.own_ids == ["d"] and g3.ids == ["a", "b", "c", "d"]
    np.testing.assert_allclose(g3.arrays()[2], class_probs(["a", "b", "c", "d"]), atol=1e-3)
    same = store.write(["a", "b"], class_probs, kind="soft", num_classes=3, dataset_hash="v2", parent=g2,
                       **LINEAGE)
    assert same.id == g2.id  # nothing new: the parent is the answer
    with pytest.raises(LabelStoreError, match="parent"):
        store.write(["z"], class_probs, kind="hard", num_classes=3, dataset_hash="v4", parent=g3, **LINEAGE)


def test_compare_generations(tmp_path):
    store = LabelStore(tmp_path)
    ids = [f"s{i}" for i in range(30)]
    a = store.write(ids, class_probs, kind="soft", num_classes=3, dataset_hash="d", **LINEAGE)
    flipped = lambda b: class_probs(b)[:, ::-1].copy()  # noqa: E731  every argmax moves unless it is class 1
    b = store.write(ids, flipped, kind="soft", num_classes=3, dataset_hash="d", params={"flip": 1}, **LINEAGE)
    pa, pb = class_probs(ids), flipped(ids)
    result = compare(a, b)
    assert result["common_samples"] == 30
    assert result["flip_rate"] == pytest.approx((pa.argmax(1) != pb.argmax(1)).mean(), abs=1e-6)
    kl = (pa * np.log(pa / pb)).sum(1).mean()
    assert result["mean_kl"] == pytest.approx(kl, rel=1e-2)
    frac = lambda p: np.bincount(p.argmax(1), minlength=3) / 30  # noqa: E731
    np.testing.assert_allclose(result["class_shift"], frac(pb) - frac(pa), atol=1e-6)
    assert compare(a, a)["flip_rate"] == 0 and compare(a, a)["mean_kl"] == pytest.approx(0, abs=1e-6)
