import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import jaccard_score

from mkepipe.evaluation.seg_figures import colorize, confusion_png, palette, qualitative_panels
from mkepipe.evaluation.segmentation import SegMetrics, confusion_matrix, iou_per_class, mean_iou, pixel_accuracy
from mkepipe.losses import IGNORE_INDEX

K = 6


def random_maps(seed=0, shape=(3, 20, 24)):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, K - 1, shape)  # class K-1 never in the ground truth
    target[rng.random(shape) < 0.2] = IGNORE_INDEX
    wrong = rng.integers(0, K - 2, shape)  # K-1 never predicted either
    pred = np.where(rng.random(shape) < 0.6, np.maximum(target, 0), wrong)
    return pred, target


def test_matches_sklearn_on_random_data_with_void():
    pred, target = random_maps()
    keep = target != IGNORE_INDEX
    cm = confusion_matrix(pred, target, K)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, sk_confusion(target[keep], pred[keep], labels=list(range(K))))
    present = sorted(set(target[keep].tolist()) | set(pred[keep].tolist()))
    assert K - 1 not in present
    expected = jaccard_score(target[keep], pred[keep], labels=present, average="macro") * 100
    assert mean_iou(cm) == pytest.approx(expected, abs=1e-10)
    per = iou_per_class(cm)
    np.testing.assert_allclose(per[present], jaccard_score(target[keep], pred[keep], labels=present, average=None))
    assert np.isnan(per[K - 1])
    assert pixel_accuracy(cm) == pytest.approx((pred[keep] == target[keep]).mean() * 100)


def test_hand_checked_case():
    target = np.array([[0, 0, 1, IGNORE_INDEX]])
    pred = np.array([[0, 1, 1, 2]])  # the void pixel's prediction does not count
    cm = confusion_matrix(pred, target, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(iou_per_class(cm), [0.5, 0.5, np.nan])
    assert mean_iou(cm) == pytest.approx(50.0) and pixel_accuracy(cm) == pytest.approx(200 / 3)
    predicted_only = confusion_matrix(np.array([2, 0]), np.array([0, 0]), 3)
    assert iou_per_class(predicted_only)[2] == 0.0  # predicted but absent from the truth counts as 0
    assert np.isnan(mean_iou(np.zeros((3, 3), dtype=np.int64)))


def test_torch_and_numpy_inputs_agree_and_bad_labels_raise():
    pred, target = random_maps(1)
    np.testing.assert_array_equal(confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), K),
                                  confusion_matrix(pred, target, K))
    with pytest.raises(ValueError, match="target holds labels outside"):
        confusion_matrix(pred, np.where(target == 0, 255, target), K)
    with pytest.raises(ValueError, match="pred holds labels outside"):
        confusion_matrix(pred + K, target, K)


def test_streaming_accumulator_equals_one_shot():
    pred, target = random_maps(2)
    logits = torch.nn.functional.one_hot(torch.from_numpy(pred), K).permute(0, 3, 1, 2).float()
    metrics = SegMetrics(K)
    for i in range(len(pred)):
        metrics.update(logits[i:i + 1], torch.from_numpy(target[i:i + 1]))
    result = metrics.compute()
    cm = confusion_matrix(pred, target, K)
    np.testing.assert_array_equal(metrics.confusion, cm)
    assert result["miou"] == pytest.approx(mean_iou(cm))
    assert result["pixel_accuracy"] == pytest.approx(pixel_accuracy(cm))
    np.testing.assert_allclose(result["iou_per_class"], iou_per_class(cm))
    metrics.reset()
    metrics.update(pred, target)  # label maps are taken as they are
    np.testing.assert_array_equal(metrics.confusion, cm)


def test_palette_and_void_colour():
    colours = palette(40)
    assert colours.shape == (40, 3) and len({tuple(c) for c in colours}) == 40 and colours.sum(1).min() > 0
    rgb = colorize(np.array([[0, 39, IGNORE_INDEX, 255]]), 40)
    assert (rgb[0, 2] == 0).all() and (rgb[0, 3] == 0).all() and (rgb[0, 0] == colours[0]).all()


def test_figures_are_written_atomically(tmp_path):
    names = [f"class {i}" for i in range(40)]
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 40, (30, 40))
    gt[:5] = IGNORE_INDEX
    rows = [{"title": "a", "rgb": rng.random((30, 40, 3)), "depth": rng.random((30, 40)) * 4,
             "teacher": rng.integers(0, 40, (30, 40)), "um_student": gt, "mm_student": gt, "ground_truth": gt},
            {"rgb": rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), "depth": rng.integers(0, 256, (30, 40, 3)),
             "teacher": torch.from_numpy(gt), "ground_truth": np.where(gt < 0, 255, gt)}]
    panels = qualitative_panels(tmp_path / "fig" / "panels.png", rows, names)
    cm = confusion_png(tmp_path / "cm.png", confusion_matrix(rows[0]["teacher"], gt, 40), names)
    cm13 = confusion_png(tmp_path / "cm13.png", np.arange(169).reshape(13, 13), names[:13], normalise=False)
    for path in (panels, cm, cm13):
        image = mpimg.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["cm.png", "cm13.png", "panels.png"]
