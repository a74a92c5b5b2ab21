"""The synthetic default: real formats, the 894-id space, and depth that beats colour."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from mkepipe.data.split import DiskSplit as load_split
from mkepipe.experiments.nyu.prepare import prepare_nyu
from mkepipe.experiments.nyu.synth import write_synthetic_nyu
from mkepipe.experiments.nyu._layout import CLASSES
from mkepipe.experiments.nyu.classes import class_id40, lut894to40
from mkepipe.experiments.nyu.cli import add_parser
from mkepipe.experiments.nyu.labeled_mat import LabeledMat, read_split_indices
from mkepipe.experiments.nyu.png_layout import decode_png
from mkepipe.experiments.nyu.config import NyuSynthConfig
from mkepipe.experiments.nyu.raw_scenes import decode_depth, decode_rgb, scan_raw, scan_scene


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = write_synthetic_nyu(out, n_labeled=4, n_test=2, n_scenes=5, frames_per_scene=3, height=48, width=64,
                                  seed=1, rgb_drop=0.0)
    return out, summary


def test_labeled_mat_and_split(synth):
    out, summary = synth
    assert summary["n_labeled"] == 4 and json.loads((out / "synth.json").read_text()) == summary
    split = read_split_indices(out / "splits")
    assert sorted(split["train"].tolist() + split["test"].tolist()) == list(range(1, 7)) and len(split["test"]) == 2
    allowed = {class_id40(c) for c in CLASSES}
    with LabeledMat(out / "nyu_depth_v2_labeled.mat") as mat:
        assert len(mat) == 6 and mat.size == (48, 64) and len(mat.scenes) == 6
        raw_ids = np.unique(np.concatenate([mat.frame(i).labels.ravel() for i in range(1, 7)]))
        f = mat.frame(1)
        assert f.depth.dtype == np.float32 and 0.3 < f.depth.min() and f.depth.max() < 10
    assert 0 in raw_ids and raw_ids.max() > 40  # 894-id space, with unlabeled boundaries
    assert set(lut894to40()[raw_ids[raw_ids > 0]].tolist()) <= allowed
    assert 21 in raw_ids and 11 in raw_ids  # wall and floor, by their 894 ids


def test_raw_scenes_and_truth(synth):
    out, _ = synth
    pairs = scan_raw(out / "raw", 0.05)
    assert len(pairs) == 15 and all(p.rgb is not None and p.dt < 0.02 for p in pairs)
    p = pairs[0]
    rgb, depth = decode_rgb(p.rgb.path.read_bytes()), decode_depth(p.depth.path.read_bytes())
    assert rgb.shape == (48, 64, 3) and depth.shape == (48, 64) and 0 < (depth > 0).mean() <= 1
    truth = decode_png((out / "raw_truth" / p.scene / f"{p.depth.stem}.png").read_bytes(), "t")
    assert truth.shape == (48, 64) and truth.dtype == np.uint8 and truth.max() <= 40
    assert p.depth.stem.startswith("d-1294") and len(p.depth.stem.split("-")[1].split(".")[1]) == 6
    scenes = sorted((out / "raw").iterdir())
    assert sum((s / "INDEX.txt").exists() for s in scenes) == 4  # one scene without, as in some real dumps
    assert all(len(scan_scene(s)["a"]) == 3 for s in scenes)


def _tree_miou(tmp_path, class_affinity: float) -> dict[str, float]:
    """Test mIoU of a per-pixel decision tree on RGB, on HHA and on both."""
    synth = {"n_labeled": 24, "n_test": 12, "n_scenes": 1, "frames_per_scene": 1, "height": 96, "width": 128, "rgb_drop": 0.0,
             "class_affinity": class_affinity}
    prepare_nyu({"height": 48, "width": 64, "hha_cache_dir": None, "synthetic": synth}, tmp_path)
    train, test = load_split(tmp_path, "labeled"), load_split(tmp_path, "test")

    def pixels(split, mods):
        rows = split.read(range(len(split)), mods)
        x = np.concatenate([rows[m] for m in mods], axis=1)
        return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]), split.labels(range(len(split))).reshape(-1)

    def miou(*mods: str) -> float:
        x, y = pixels(train, mods)
        clf = DecisionTreeClassifier(max_depth=10, min_samples_leaf=20, random_state=0).fit(x[y >= 0], y[y >= 0])
        xt, yt = pixels(test, mods)
        pred, yt = clf.predict(xt[yt >= 0]), yt[yt >= 0]
        ious = [((pred == c) & (yt == c)).sum() / ((pred == c) | (yt == c)).sum() for c in np.unique(yt)]
        return 100 * float(np.mean(ious))

    return {"rgb": miou("rgb"), "hha": miou("depth"), "both": miou("rgb", "depth")}


def test_depth_separates_the_classes_better_than_colour(tmp_path):
    untied = _tree_miou(tmp_path / "untied", 0.0)  # colour independent of the class
    assert untied["hha"] > untied["rgb"] + 10, untied
    default = _tree_miou(tmp_path / "default", NyuSynthConfig().class_affinity)  # typical colours, usually
    assert default["hha"] > default["rgb"] and default["both"] > default["rgb"] + 5, default


def test_cli_synth_nyu(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="mke")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "synth-nyu", "--out", str(tmp_path / "s"), "--n-labeled", "2", "--n-test", "1",
                              "--n-scenes", "1", "--frames-per-scene", "2", "--height", "24", "--width", "32"])
    assert args.func(args) == 0
    assert "wrote 3 labeled frames" in capsys.readouterr().out
    assert json.loads((tmp_path / "s" / "synth.json").read_text())["height"] == 24
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "synth-nyu"])  # --out is required


@pytest.mark.parametrize("affinity", [0.0, 1.0])
def test_class_affinity_ties_materials_to_classes(affinity):
    from mkepipe.experiments.nyu._layout import GLASS, ID, PAINTING, TYPICAL, sample_room

    name_of = {v: k for k, v in ID.items()}
    typical, fixed = 0, 0
    for i in range(20):
        room, _, _ = sample_room(np.random.default_rng(i), palette_size=2, class_affinity=affinity)
        faces = [(name_of[c], m) for c, m in room.materials.items()] + [(name_of[b.label40], b.material)
                                                                       for b in room.boxes]
        for name, material in faces:
            if material in (GLASS, PAINTING):
                fixed += 1
            else:
                typical += material == TYPICAL[name]
        if affinity == 0.0:  # with two palette materials per room, at most two non-fixed materials appear
            assert len({m for _, m in faces if m not in (GLASS, PAINTING)}) <= 2
    surfaces = sum(len(sample_room(np.random.default_rng(i), palette_size=2, class_affinity=affinity)[0].boxes) + 3
                   for i in range(20)) - fixed
    if affinity == 1.0:
        assert typical == surfaces
    else:
        assert typical < surfaces / 2
