"""Simplex encodings: every registered codec round-trips within its documented error bounds."""

from __future__ import annotations

import numpy as np
import pytest

from mkepipe.labels import LabelStore, codec_names, create_codec
from mkepipe.labels.codecs import SparseQ8Codec, analyse, hard_dtype, to_float16
from mkepipe.labels.families import FAMILIES

ENCODINGS = FAMILIES["simplex"].encodings


def dirichlet(n: int, k: int, p: int, alpha: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.dirichlet(np.full(k, alpha), size=n * p).astype(np.float32)
    x /= x.sum(1, keepdims=True)
    return np.ascontiguousarray(x.reshape(n, p, k).transpose(0, 2, 1))


def kl_units(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p64 = p.astype(np.float64)
    return (p64 * (np.log(np.maximum(p64, 1e-300)) - np.log(q.astype(np.float64)))).sum(1)


def roundtrip(codec, kind, probs):
    a = analyse(probs, codec.threshold)
    streams = {name: np.array(arr) for name, arr in codec.encode(kind, probs, a)}
    return analyse(probs), codec.decode(kind, streams, probs.shape[1])


KL_BOUND = {"float16": 1e-5, "sparse-q8": SparseQ8Codec.TAU * np.log(40) + 40 * 2 / 510**2 + 1e-4}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_codec_is_offered(family):
    offered = FAMILIES[family].encodings.values()
    assert sorted({n for names in offered for n in names}) == codec_names(family)


@pytest.mark.parametrize("kind,name", [(kind, name) for kind, names in ENCODINGS.items() for name in names])
@pytest.mark.parametrize("k,alpha", [(2, 0.5), (5, 0.05), (40, 0.02), (40, 0.3), (40, 3.0)])
def test_codec_bounds(name, kind, k, alpha):
    probs = dirichlet(3, k, 50, alpha)
    truth, (hard, decoded, weight) = roundtrip(create_codec(name), kind, probs)
    np.testing.assert_array_equal(hard, probs.argmax(1))
    assert hard.dtype == hard_dtype(k) and hard.dtype.itemsize == 1  # <= 1 byte/pixel before compression
    if decoded is not None:
        assert decoded.dtype == np.float32 and (decoded > 0).all()
        np.testing.assert_allclose(decoded.sum(1), 1, atol=1e-5)
        np.testing.assert_array_equal(decoded.argmax(1), probs.argmax(1))
        assert kl_units(probs, decoded).max() <= KL_BOUND[name]
    if kind == "weighted":
        assert np.abs(weight - truth.weight).max() <= 0.5 / 255 + 1e-6
    else:
        assert weight is None


def test_exact_ties_keep_the_first_argmax():
    probs = np.full((1, 4, 3), 0.25, np.float32)
    probs[0, :, 1] = [0.1, 0.4, 0.4, 0.1]
    for name in ("float16", "sparse-q8"):
        _, (hard, decoded, _) = roundtrip(create_codec(name), "soft", probs)
        np.testing.assert_array_equal(hard, [[0, 1, 0]])
        np.testing.assert_array_equal(decoded.argmax(1), [[0, 1, 0]])


def test_float16_conversion_is_bit_exact():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.random(5000) ** 12, [0, 2**-14, 2**-24, 2**-25, 3 * 2**-26, 6.1e-5, 0.5, 1.0]])
    x = x.astype(np.float32).reshape(1, 1, -1)
    np.testing.assert_array_equal(to_float16(x).view(np.uint16), x.astype(np.float16).view(np.uint16))


def test_hard_dtype_grows_with_classes():
    assert hard_dtype(256) == np.uint8 and hard_dtype(257) == np.uint16


def segmentation_softmax(n: int, k: int, height: int, width: int, encoder: str, temperature: float = 12.0):
    """Softmax of a randomly initialised DeepLabV3+ on structured synthetic scenes (see bench)."""
    import segmentation_models_pytorch as smp
    import torch

    from bench.label_store import scene
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = smp.DeepLabV3Plus(encoder_name=encoder, encoder_weights=None, classes=k).eval()
    x = torch.from_numpy(np.stack([scene(rng, height, width) for _ in range(n)]))
    with torch.no_grad():
        logits = net((x - 0.45) / 0.25)
    logits = logits - logits.mean(1, keepdim=True)
    return torch.softmax(logits * (temperature / logits.std()), dim=1).numpy()


def check_compact_acceptance(tmp_path, probs):
    n, k, h, w = probs.shape
    ids = [f"img{i}" for i in range(n)]
    rows = dict(zip(ids, probs))
    store = LabelStore(tmp_path)
    kw = dict(num_classes=k, teacher_hash="t", dataset_hash="d", progress=False, batch_size=1)
    gen = store.write(ids, lambda b: np.stack([rows[i] for i in b]), kind="weighted", encoding="sparse-q8", **kw)
    shard_bytes = sum(s["bytes"] for s in gen.manifest["shards"])
    _, hard, decoded, weight = gen.arrays()
    truth = analyse(probs.reshape(n, k, -1))
    assert shard_bytes / (n * h * w) <= 6.0
    assert (decoded.argmax(1) == probs.argmax(1)).all() and (hard == probs.argmax(1)).all()
    assert kl_units(probs, decoded).mean() <= 0.02
    assert np.abs(weight.reshape(n, -1) - truth.weight).max() <= 1 / 255
    hard_gen = store.write(ids, lambda b: np.stack([rows[i] for i in b]), kind="hard", **kw)
    assert hard_gen.arrays()[1].itemsize == 1
    return shard_bytes / (n * h * w)


def test_compact_encoding_on_segmentation_softmax_small(tmp_path):
    probs = segmentation_softmax(2, 40, 96, 128, "resnet18")
    check_compact_acceptance(tmp_path, probs)


@pytest.mark.slow
def test_compact_encoding_acceptance_480x640(tmp_path):
    probs = segmentation_softmax(2, 40, 480, 640, "resnet34")
    assert check_compact_acceptance(tmp_path, probs) <= 6.0
