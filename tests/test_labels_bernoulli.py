"""Bernoulli label family (multi-label): round trips, sparse-q8, refusals, lineage, parents, quality, diffs, CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from mkepipe.labels import Generation, LabelStore, LabelStoreError, compare, create_codec
from mkepipe.labels import cli as labels_cli
from mkepipe.labels.bernoulli import analyse, pack_bits, unpack_bits
from tests._label_writer_proc import class_probs, sample_rng

K = 11  # not a multiple of 8: the bitmask pads each unit to 2 bytes
SHAPE = (6, 7)
KINDS = [("hard", "hard"), ("soft", "float16"), ("soft", "sparse-q8"), ("weighted", "float16"),
         ("weighted", "sparse-q8"), ("weighted", "hard")]
Q8_ERROR = 1 / 510 + 3e-8  # round(255 p) / 255, plus float32 rounding (checked on every float32 in [0, 1])
LINEAGE = dict(teacher_hash="sha256:teacher", dataset_hash="sha256:data", progress=False)


def multilabel_probs(ids: list[str], k: int = K, shape: tuple = ()) -> np.ndarray:
    """Deterministic sigmoid outputs; a few classes per unit are clearly on, some values sit on 0, 0.5, 1."""
    out = []
    for sid in ids:
        rng = sample_rng(sid)
        logits = rng.normal(size=(k, *shape)) * 2 - 2
        logits[rng.choice(k, 3, replace=False)] += 5  # several classes true at once
        p = (1 / (1 + np.exp(-logits))).astype(np.float32)
        p.reshape(k, -1)[:4, 0] = [0.0, 1.0, 0.5, np.nextafter(np.float32(0.5), np.float32(0))]
        out.append(p)
    return np.stack(out)


def dense_ml(ids):
    return multilabel_probs(ids, shape=SHAPE)


def binary_entropy(p):
    p = p.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log(p), 0) + np.where(p < 1, (1 - p) * np.log(1 - p), 0))
    return h / np.log(2)


def write(store, ids, fn=multilabel_probs, **kw):
    kw = {**LINEAGE, "family": "bernoulli", "num_classes": K, **kw}
    return store.write(ids, fn, **kw)


@pytest.mark.parametrize("kind,encoding", KINDS)
@pytest.mark.parametrize("dense", [False, True], ids=["classification", "dense"])
def test_roundtrip_every_kind(tmp_path, kind, encoding, dense):
    fn, shape = (dense_ml, SHAPE) if dense else (multilabel_probs, ())
    ids = [f"x{i}" for i in range(21)]
    gen = write(LabelStore(tmp_path), ids, fn, kind=kind, encoding=encoding, shard_size=8, batch_size=3)
    ref = fn(ids)
    assert gen.family == "bernoulli" and gen.manifest["family"] == "bernoulli"
    out_ids, hard, probs, weight = gen.arrays()
    assert out_ids == ids and hard.shape == (21, K, *shape) and hard.dtype == np.uint8
    np.testing.assert_array_equal(hard, ref >= 0.5)  # from the teacher's float32, also next to 0.5
    assert (hard.sum(axis=1) >= 2).mean() > 0.9  # multi-hot: several classes on per unit
    assert (probs is None) == (encoding == "hard")
    if encoding == "float16":  # exactly: no renormalisation, no bump
        np.testing.assert_array_equal(probs, ref.astype(np.float16).astype(np.float32))
    if encoding == "sparse-q8":
        assert probs.dtype == np.float32 and np.abs(probs - ref).max() <= Q8_ERROR
        np.testing.assert_array_equal(hard, probs >= 0.5)
    assert (weight is None) == (kind != "weighted")
    if weight is not None:
        true_w = 1 - binary_entropy(ref).mean(axis=1)
        assert weight.shape == (21, *shape)
        assert np.abs(weight - true_w).max() <= (2**-12 if encoding == "float16" else 0.5 / 255) + 1e-5
    rec = gen.get("x13")
    np.testing.assert_array_equal(rec.hard, hard[13])
    if probs is not None:
        np.testing.assert_array_equal(rec.probs, probs[13])
    np.testing.assert_array_equal(gen.arrays(["x20", "x0"])[1], hard[[20, 0]])
    streamed = list(gen.iter_blocks())
    np.testing.assert_array_equal(np.concatenate([b[1] for b in streamed]), hard)
    item = gen.torch_dataset()[13]
    assert item["target"].dtype == torch.float32 and item["target"].shape == (K, *shape)
    expect = hard[13] if kind == "hard" or probs is None else probs[13]
    np.testing.assert_array_equal(item["target"].numpy(), expect)
    assert item["weight"].shape == shape
    assert gen.verify()["ok"]


def test_bitmask_packs_k_bits_per_unit():
    hard = (np.random.default_rng(0).random((3, 8, 5)) > 0.5).astype(np.uint8)
    bits = pack_bits(hard)
    assert bits.shape == (3, 5, 1)
    np.testing.assert_array_equal(unpack_bits(bits, 8), hard)
    np.testing.assert_array_equal(unpack_bits(pack_bits(hard[:, :3]), 3), hard[:, :3])


def sparse_tags(ids: list[str], k: int = 50) -> np.ndarray:
    """AudioSet-like sigmoid outputs: ~3 classes clearly present, the rest far below 1/510."""
    out = []
    for sid in ids:
        rng = sample_rng(sid)
        logits = rng.normal(-10, 1, size=k)
        logits[rng.choice(k, 3, replace=False)] = rng.normal(2, 2, size=3)
        out.append(1 / (1 + np.exp(-logits)))
    return np.stack(out).astype(np.float32)


def q8_roundtrip(probs: np.ndarray, kind: str = "soft"):
    codec = create_codec("sparse-q8", "bernoulli")
    streams = {name: np.array(arr) for name, arr in codec.encode(kind, probs, analyse(probs))}
    return streams, codec.decode(kind, streams, probs.shape[1])


@pytest.mark.parametrize("pixels", [1, 9])
def test_sparse_q8_roundtrip_edges(pixels):
    rng = np.random.default_rng(pixels)
    probs = (rng.random((6, K, pixels)) ** 6).astype(np.float32)  # most values near 0
    probs[0] = 0  # a unit with no class present stores no value
    probs[1] = 1
    probs[2, :6, 0] = [0.5, np.nextafter(np.float32(0.5), np.float32(0)), 1 / 510, 1.5 / 255, 254.5 / 255, 1e-30]
    streams, (hard, decoded, weight) = q8_roundtrip(probs, "weighted")
    assert streams["mask"].shape == (6, pixels, 2) and streams["vals"].size == (decoded > 0).sum()
    assert decoded.dtype == np.float32 and decoded.shape == probs.shape
    assert ((decoded >= 0) & (decoded <= 1)).all() and np.abs(decoded - probs).max() <= Q8_ERROR
    np.testing.assert_array_equal(decoded[0], 0)
    np.testing.assert_array_equal(decoded[1], 1)
    np.testing.assert_array_equal(decoded[2, :6, 0], np.array([128, 127, 0, 2, 254, 0], np.float32) / 255)
    np.testing.assert_array_equal(decoded == 0, np.rint(probs * 255) == 0)
    np.testing.assert_array_equal(hard, probs >= 0.5)  # the teacher's bits ...
    np.testing.assert_array_equal(hard, decoded >= 0.5)  # ... and those of the decoded values
    assert np.abs(weight - analyse(probs).weight).max() <= 0.5 / 255 + 1e-6


def test_sparse_q8_is_far_smaller_than_float16(tmp_path):
    store, ids = LabelStore(tmp_path), [f"clip{i:04d}" for i in range(512)]
    ref = sparse_tags(ids)
    assert ((ref > 1 / 510).sum(axis=1) <= 3).all()
    label_bytes, disk_bytes = {}, {}
    for encoding in ("float16", "sparse-q8"):
        codec = create_codec(encoding, "bernoulli")
        streams = codec.encode("weighted", ref[:, :, None], analyse(ref[:, :, None]))
        label_bytes[encoding] = sum(len(codec.compress(name, np.ascontiguousarray(arr).data)) for name, arr in streams)
        gen = write(store, ids, sparse_tags, kind="weighted", encoding=encoding, num_classes=50)
        disk_bytes[encoding] = sum(s["bytes"] for s in gen.manifest["shards"])
    assert label_bytes["sparse-q8"] < label_bytes["float16"] / 10  # ~6 vs ~83 B/sample
    assert disk_bytes["sparse-q8"] < disk_bytes["float16"] / 4  # both also hold ~14 B/sample of ids and index
    _, hard, probs, _ = gen.arrays()
    assert np.abs(probs - ref).max() <= Q8_ERROR and (hard == (ref >= 0.5)).all()
    assert gen.manifest["encoding_params"] == {"quantiser": "round(255*p)"} and gen.verify()["ok"]


def test_lineage_names_the_family_only_for_bernoulli(tmp_path):
    store = LabelStore(tmp_path)
    kw = dict(kind="soft", num_classes=K, teacher_hash=LINEAGE["teacher_hash"], dataset_hash=LINEAGE["dataset_hash"])
    simplex, bern = store.lineage(["a", "b"], **kw), store.lineage(["a", "b"], family="bernoulli", **kw)
    assert "family" not in simplex and bern == dict(simplex, family="bernoulli")
    assert store.generation_id(bern) != store.generation_id(simplex)
    assert write(store, ["a", "b"], kind="soft").id == store.generation_id(bern)


BAD_VALUES = {"above one": 1.5, "negative": -0.01, "nan": np.nan, "inf": np.inf}


@pytest.mark.parametrize("encoding", ["float16", "sparse-q8"])
@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_values_outside_the_unit_interval_are_refused(tmp_path, bad, encoding):
    def labeler(ids):
        p = dense_ml(ids)
        if "b" in ids:
            p[ids.index("b"), 4, 2, 3] = BAD_VALUES[bad]  # one value of one pixel is enough
        return p
    store = LabelStore(tmp_path)
    with pytest.raises(LabelStoreError, match=r"in \[0, 1\]\); bad samples: \['b'\]"):
        write(store, ["a", "b", "c"], labeler, kind="soft", encoding=encoding)
    assert store.list() == [] and not list(tmp_path.rglob("*.tmp-*"))


def test_refusals(tmp_path):
    store = LabelStore(tmp_path)
    for encoding in ("hard", "sparse-q16"):
        with pytest.raises(LabelStoreError, match="bernoulli labels of kind 'soft'; allowed: float16, sparse-q8"):
            write(store, ["a"], kind="soft", encoding=encoding)
    assert write(store, ["a"], kind="soft", encoding="compact").manifest["encoding"] == "sparse-q8"
    with pytest.raises(LabelStoreError, match="family"):
        write(store, ["a"], kind="soft", family="multinomial")
    with pytest.raises(LabelStoreError, match="class_prior"):
        write(store, ["a"], kind="soft", class_prior=np.full(K, 1.5))
    ok = write(store, ["a"], kind="soft", class_prior=np.full(K, 0.2))  # rates, need not sum to 1
    assert ok.quality["class_prior"] == [0.2] * K


def test_parent_and_child(tmp_path):
    store = LabelStore(tmp_path / "labels")
    old, new = [f"s{i:03d}" for i in range(30)], ["n1", "n2", "n3"]
    kw = dict(kind="weighted", encoding="float16", shard_size=8)
    parent = write(store, old, dense_ml, **kw)
    seen = []
    child = write(store, old + new, lambda b: seen.extend(b) or dense_ml(b), parent=parent,
                  **dict(kw, dataset_hash="v2"))
    assert seen == new and child.own_ids == new and child.ids == old + new
    ids, hard, probs, weight = child.arrays()
    np.testing.assert_array_equal(hard, dense_ml(ids) >= 0.5)
    np.testing.assert_array_equal(probs, dense_ml(ids).astype(np.float16).astype(np.float32))
    total = child.manifest["quality_total"]["accumulators"]
    assert total["class_counts"] == (hard.sum(axis=(0, 2, 3))).tolist()
    reopened = Generation(child.path)
    assert reopened.parent.family == "bernoulli" and reopened.verify()["parent"]["ok"]
    with pytest.raises(LabelStoreError, match="bernoulli"):  # a simplex child of a Bernoulli parent
        store.write(old + new, class_probs, kind="weighted", num_classes=K, parent=parent, **LINEAGE)
    simplex = store.write(old, class_probs, kind="soft", num_classes=3, **LINEAGE)
    with pytest.raises(LabelStoreError, match="simplex"):
        write(store, old + new, kind="soft", num_classes=3, parent=simplex)


def test_quality_matches_numpy(tmp_path):
    ids = [f"x{i}" for i in range(40)]
    prior = np.linspace(0.05, 0.9, K)
    gen = write(LabelStore(tmp_path), ids, dense_ml, kind="soft", class_prior=prior, shard_size=16,
                confidence_threshold=0.8)
    p = dense_ml(ids).astype(np.float64)
    units = p.shape[0] * p[0, 0].size
    counts = (p >= 0.5).sum(axis=(0, 2, 3))
    conf = np.maximum(p, 1 - p).mean(axis=1)
    ent = binary_entropy(p).mean(axis=1)
    q = gen.quality
    assert q["units"] == units
    assert gen.manifest["quality"]["accumulators"]["class_counts"] == counts.tolist()
    np.testing.assert_allclose(q["class_hist"], counts / units, atol=1e-6)
    assert q["mean_confidence"] == pytest.approx(conf.mean(), rel=1e-5)
    assert q["mean_entropy"] == pytest.approx(ent.mean(), rel=1e-4)
    assert q["mean_weight"] == pytest.approx(1 - ent.mean(), rel=1e-4)
    assert q["frac_below_threshold"] == pytest.approx((conf < 0.8).mean(), abs=1e-6)
    rate = counts / units
    np.testing.assert_allclose(q["prior_ratio"], rate / prior, rtol=1e-5)
    assert q["prior_tv"] == pytest.approx(np.abs(rate - prior).mean(), rel=1e-5)
    kl = rate * np.log(np.maximum(rate, 1e-12) / prior) + (1 - rate) * np.log(np.maximum(1 - rate, 1e-12) / (1 - prior))
    assert q["prior_kl"] == pytest.approx(kl.mean(), rel=1e-5)
    assert sum(q["confidence_hist"]) == pytest.approx(1.0)


def test_compare_counts_bits_and_binary_kl(tmp_path):
    store = LabelStore(tmp_path)
    ids = [f"s{i}" for i in range(30)]
    shifted = lambda b: np.clip(multilabel_probs(b) * 0.8 + 0.15, 0, 1).astype(np.float32)  # noqa: E731
    a = write(store, ids, kind="soft")
    b = write(store, ids, shifted, kind="soft", params={"shift": 1})
    _, ha, pa, _ = a.arrays()
    _, hb, pb, _ = b.arrays()
    result = compare(a, b)
    assert result["family"] == "bernoulli" and result["units"] == 30
    assert result["flip_rate"] == pytest.approx((ha != hb).mean(), abs=1e-6) and result["flip_rate"] > 0
    pa, pb = pa.astype(np.float64), np.clip(pb.astype(np.float64), 1e-12, 1 - 1e-12)
    kl = pa * np.log(np.maximum(pa, 1e-12) / pb) + (1 - pa) * np.log(np.maximum(1 - pa, 1e-12) / (1 - pb))
    assert result["mean_kl"] == pytest.approx(kl.mean(), rel=1e-4)
    np.testing.assert_allclose(result["class_shift"], hb.mean(axis=0) - ha.mean(axis=0), atol=1e-6)
    assert compare(a, a)["flip_rate"] == 0 and compare(a, a)["mean_kl"] == pytest.approx(0, abs=1e-9)
    simplex = store.write(ids, lambda b: class_probs(b, k=K), kind="soft", num_classes=K, **LINEAGE)
    with pytest.raises(ValueError, match="families"):
        compare(a, simplex)


def mke(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mke")
    labels_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_shows_both_families(tmp_path, capsys):
    root = tmp_path / "labels"
    ids = [f"s{i}" for i in range(12)]
    a = write(LabelStore(root / "r1"), ids, kind="weighted", encoding="hard", class_prior=np.full(K, 0.3))
    b = write(LabelStore(root / "r1"), ids, kind="weighted", encoding="hard", teacher_hash="t2")
    s = LabelStore(root / "r1").write(ids, class_probs, kind="soft", num_classes=3, **LINEAGE)
    assert mke("labels", "list", "--root", str(root), "--json") == 0
    assert {r["id"]: r["family"] for r in json.loads(capsys.readouterr().out)} == {
        a.id: "bernoulli", b.id: "bernoulli", s.id: "simplex"}
    assert mke("labels", "show", a.id, "--root", str(root)) == 0
    out = capsys.readouterr().out
    assert "bernoulli" in out and "positive rate" in out and "binary entropy" in out
    assert mke("labels", "verify", a.id, "--root", str(root)) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert mke("labels", "diff", a.id, b.id, "--root", str(root)) == 0
    assert "bit flip rate" in capsys.readouterr().out
    assert mke("labels", "diff", s.id, s.id, "--root", str(root)) == 0
    assert "argmax flip rate" in capsys.readouterr().out
