"""Bad input is quarantined with its reason and the prepare run goes on: one case each."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mkepipe.data.quarantine import read_quarantine
from mkepipe.data.split import DiskSplit as load_split
from mkepipe.experiments.nyu.prepare import prepare_nyu
from tests.test_nyu_data_loaders import pgm_bytes, ppm_bytes, write_real_mat

H, W = 12, 16
T = 1294439283.0


def _frame(seed: int):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = rng.uniform(1.0, 4.0, (H, W)).astype(np.float32)
    return rgb, depth


def _raw_dir(root):
    """One scene: a good pair and one pair per kind of bad raw input."""
    scene = root / "raw" / "living_room_0001"
    scene.mkdir(parents=True)
    rgb, _ = _frame(0)
    good_depth = np.full((H, W), 700, np.uint16)
    frames = {  # name: (t, ppm bytes or None, pgm bytes)
        "good": (0.0, ppm_bytes(rgb), pgm_bytes(good_depth)),
        "ppm_truncated": (1.0, ppm_bytes(rgb)[:-40], pgm_bytes(good_depth)),
        "pgm_truncated": (2.0, ppm_bytes(rgb), pgm_bytes(good_depth)[:30]),
        "size_mismatch": (3.0, ppm_bytes(rgb[: H // 2]), pgm_bytes(good_depth)),
        "no_rgb": (4.0, None, pgm_bytes(good_depth)),
        "all_invalid": (5.0, ppm_bytes(rgb), pgm_bytes(np.full((H, W), 2047, np.uint16))),
    }
    ids = {}
    for k, (name, (t, ppm, pgm)) in enumerate(frames.items()):
        if ppm is not None:
            (scene / f"r-{T + t + 0.01:.6f}-{100 + k}.ppm").write_bytes(ppm)
        stem = f"d-{T + t:.6f}-{200 + k}"
        (scene / f"{stem}.pgm").write_bytes(pgm)
        ids[name] = f"living_room_0001/{stem}"
    return root / "raw", ids


def _mat(root):
    frames = [_frame(i) for i in range(6)]
    rgb = np.stack([f[0] for f in frames])
    depth = np.stack([f[1] for f in frames])
    labels = np.full((6, H, W), 21, np.uint16)
    depth[1, 2, 3] = np.nan
    depth[2, 0, 0] = -0.5
    labels[3, 1, 1] = 900
    write_real_mat(root / "labeled.mat", rgb, depth, labels)
    (root / "splits").mkdir()
    (root / "splits" / "train_indices_1based.txt").write_text("1\n2\n3\n4\n")
    (root / "splits" / "test_indices_1based.txt").write_text("5\n")
    (root / "splits" / "val_indices_1based.txt").write_text("6\n")  # else the good train frame is held out
    return root / "labeled.mat", root / "splits"


def _png(root):
    def put(split, stem, rgb=None, depth_mm=None, labels=None):
        for folder, arr in (("rgb", rgb), ("depth", depth_mm), ("labels_40", labels)):
            if arr is not None:
                (root / split / folder).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / split / folder / f"{stem}.png"), arr)

    rgb, _ = _frame(7)
    mm, lab = np.full((H, W), 3000, np.uint16), np.full((H, W), 5, np.uint8)
    put("train", "0001", rgb, mm, lab)
    put("train", "0002", rgb, mm, np.full((H, W), 41, np.uint8))
    put("train", "0003", rgb[:, : W // 2], mm, lab)
    put("train", "0004", rgb, None, lab)
    put("train", "0005", rgb, mm, lab)
    path = root / "train" / "rgb" / "0005.png"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    put("test", "0001", rgb, mm, lab)
    put("val", "0001", rgb, mm, lab)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu_bad")
    raw, raw_ids = _raw_dir(root)
    mat, splits = _mat(root)
    png = _png(root / "png")
    common = {"raw_dir": str(raw), "height": 9, "width": 12, "hha_cache_dir": None}
    out_mat, out_png = root / "out_mat", root / "out_png"
    manifest = prepare_nyu({"source": "mat", "mat_path": str(mat), "split_dir": str(splits), **common}, out_mat)
    prepare_nyu({"source": "png", "png_dir": str(png), "depth_encoding": "depth", **common}, out_png)
    return {"mat": out_mat, "png": out_png, "raw_ids": raw_ids, "manifest": manifest}


CASES = [  # (run, sample id or raw key, split, reason)
    ("mat", "mat/0002", "labeled", "nan_depth"),
    ("mat", "mat/0003", "labeled", "negative_depth"),
    ("mat", "mat/0004", "labeled", "label_out_of_range"),
    ("mat", "raw:ppm_truncated", "unlabeled", "unreadable"),
    ("mat", "raw:pgm_truncated", "unlabeled", "unreadable"),
    ("mat", "raw:size_mismatch", "unlabeled", "size_mismatch"),
    ("mat", "raw:no_rgb", "unlabeled", "no_rgb_in_sync_tolerance"),
    ("mat", "raw:all_invalid", "unlabeled", "empty_depth"),
    ("png", "png/train/0002", "labeled", "label_out_of_range"),
    ("png", "png/train/0003", "labeled", "size_mismatch"),
    ("png", "png/train/0004", "labeled", "missing_modality"),
    ("png", "png/train/0005", "labeled", "unreadable"),
]


@pytest.mark.parametrize("run,sample,split,reason", CASES, ids=[f"{c[0]}-{c[3]}-{c[1]}" for c in CASES])
def test_bad_sample_is_quarantined_with_its_reason(runs, run, sample, split, reason):
    sid = runs["raw_ids"][sample[4:]] if sample.startswith("raw:") else sample
    report = read_quarantine(runs[run])
    entries = [e for e in report["samples"] if e["id"] == sid]
    assert len(entries) == 1, f"{sid} not quarantined: {json.dumps(report['samples'], indent=1)}"
    e = entries[0]
    assert (e["split"], e["reason"]) == (split, reason) and e["sources"] and e["detail"]
    assert sid not in load_split(runs[run], split).ids


def test_the_run_goes_on_and_counts_are_reported(runs):
    assert load_split(runs["mat"], "labeled").ids == ["mat/0001"]
    assert load_split(runs["mat"], "test").ids == ["mat/0005"]
    assert load_split(runs["mat"], "val").ids == ["mat/0006"]
    assert load_split(runs["mat"], "unlabeled").ids == [runs["raw_ids"]["good"]]
    assert load_split(runs["png"], "labeled").ids == ["png/train/0001"]
    q = runs["manifest"]["quarantine"]
    assert q["count"] == 8 and q["by_reason"]["unreadable"] == 2 and q["by_split"] == {"labeled": 3, "unlabeled": 5}
    assert read_quarantine(runs["mat"])["count"] == 8
    assert set(runs["manifest"]["samples"]) == {"mat/0001", "mat/0005", "mat/0006", runs["raw_ids"]["good"]}
