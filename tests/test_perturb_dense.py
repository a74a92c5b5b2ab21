import pytest
import torch

from mkepipe.losses import IGNORE_INDEX
from mkepipe.perturb_dense import random_flip_scale


def blocks(n=4, h=24, w=32, size=8, seed=0):
    """Piecewise-constant label maps (blocks of ``size`` px, a void block) and two
    modalities (a 2-channel "rgb" and a 1-channel "depth") whose values equal the label id."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 7, (n, h // size, w // size), generator=g)
    labels = coarse.repeat_interleave(size, 1).repeat_interleave(size, 2)
    labels[:, :size, :size] = IGNORE_INDEX
    value = labels.clamp_min(0).float()[:, None]
    return {"rgb": value.repeat(1, 2, 1, 1), "depth": value.clone()}, labels


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[m], b[m]) for m in a)


def test_flip_only_is_an_exact_mirror():
    x, y = blocks()
    w = torch.rand(y.shape)
    out = random_flip_scale(x, y, w, scale_range=(1.0, 1.0), flip_p=1.0)
    assert same(out.x, {m: v.flip(-1) for m, v in x.items()}) and torch.equal(out.target, y.flip(-1))
    assert torch.equal(out.weight, w.flip(-1))
    assert out.valid.all()


def test_scale_one_without_flip_is_identity():
    x, y = blocks()
    probs = torch.softmax(torch.randn(4, 5, 24, 32), 1)
    out = random_flip_scale(x, probs, scale_range=(1.0, 1.0), flip_p=0.0)
    assert same(out.x, x) and torch.equal(out.target, probs) and out.weight is None


def test_hard_labels_stay_integer_ids_or_void():
    x, y = blocks()
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        out = random_flip_scale(x, y, generator=g)
        assert out.target.dtype == torch.int64 and out.target.shape == y.shape
        assert {m: v.shape for m, v in out.x.items()} == {m: v.shape for m, v in x.items()}
        assert set(out.target.unique().tolist()) <= set(y.unique().tolist()) | {IGNORE_INDEX}
        assert not out.valid[out.target != IGNORE_INDEX].logical_not().any()  # padding is always void


def test_image_depth_and_labels_stay_aligned():
    x, y = blocks(n=8)
    out = random_flip_scale(x, y, generator=torch.Generator().manual_seed(1))
    t = out.target
    interior = t != IGNORE_INDEX  # away from block edges bilinear must reproduce the id exactly
    for dy, dx in [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)]:
        interior[:, 1:-1, 1:-1] &= t[:, 1 + dy:t.shape[1] - 1 + dy, 1 + dx:t.shape[2] - 1 + dx] == t[:, 1:-1, 1:-1]
    interior[:, [0, -1]] = False
    interior[:, :, [0, -1]] = False
    assert interior.sum() > 500
    for m, c in (("rgb", 0), ("rgb", 1), ("depth", 0)):  # every modality moved with the labels
        assert torch.allclose(out.x[m][:, c][interior], t[interior].float(), atol=1e-4)


def test_downscale_pads_with_void_zero_weight_and_empty_probabilities():
    x, y = blocks(n=2)
    probs = torch.softmax(torch.randn(2, 5, 24, 32), 1)
    w = torch.ones(2, 24, 32)
    g = torch.Generator().manual_seed(0)
    hard = random_flip_scale(x, y, w, scale_range=(0.5, 0.5), generator=g)
    soft = random_flip_scale(x, probs, w, scale_range=(0.5, 0.5), generator=torch.Generator().manual_seed(0))
    assert (hard.valid.sum((1, 2)) == 12 * 16).all()
    assert (hard.target[~hard.valid] == IGNORE_INDEX).all() and (hard.weight[~hard.valid] == 0).all()
    for v in hard.x.values():
        assert (v[~hard.valid[:, None].expand_as(v)] == 0).all()
    sums = soft.target.sum(1)
    assert torch.allclose(sums[soft.valid], torch.ones(int(soft.valid.sum()))) and (sums[~soft.valid] == 0).all()
    assert torch.allclose(soft.weight[soft.valid], torch.ones(int(soft.valid.sum())))


def test_upscale_crops_to_input_or_requested_size():
    x, y = blocks(n=3)
    out = random_flip_scale(x, y, scale_range=(1.75, 1.75), generator=torch.Generator().manual_seed(0))
    assert out.x["rgb"].shape == x["rgb"].shape and out.valid.all()
    sized = random_flip_scale(x, y, out_size=(16, 20), generator=torch.Generator().manual_seed(0))
    assert sized.x["rgb"].shape == (3, 2, 16, 20) and sized.x["depth"].shape == (3, 1, 16, 20)
    assert sized.target.shape == (3, 16, 20)


def test_generator_makes_it_reproducible():
    x, y = blocks()
    a = random_flip_scale(x, y, generator=torch.Generator().manual_seed(7))
    b = random_flip_scale(x, y, generator=torch.Generator().manual_seed(7))
    c = random_flip_scale(x, y, generator=torch.Generator().manual_seed(8))
    assert same(a.x, b.x) and torch.equal(a.target, b.target)
    assert not same(a.x, c.x)


def test_float_hard_labels_are_refused():
    x, y = blocks()
    with pytest.raises(TypeError, match="integer"):
        random_flip_scale(x, y.float())


def test_modalities_of_another_size_are_refused():
    x, y = blocks()
    x["depth"] = x["depth"][..., :16]
    with pytest.raises(ValueError, match="differ"):
        random_flip_scale(x, y)
