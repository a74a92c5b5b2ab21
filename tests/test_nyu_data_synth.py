"""The synthetic default: real formats, the 894-id space, and depth that beats colour."""
from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from mkepipe.data.split import DiskSplit as load_split
from mkepipe.experiments.nyu.prepare import prepare_nyu
from mkepipe.experiments.nyu.synth import frame_lights, _rng, render_frame, write_synthetic_nyu
from mkepipe.experiments.nyu._layout import CLASSES, camera_path, sample_room
from mkepipe.experiments.nyu._render import cast, smooth_noise
from mkepipe.experiments.nyu.hha import NYU_RGB
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


TINY = {"n_labeled": 3, "n_test": 2, "n_scenes": 2, "frames_per_scene": 3, "height": 48, "width": 64, "seed": 5,
        "rgb_drop": 0.2}
MATERIAL_DIGEST = "754fb113da4b3418ad7f1c3aae331c9832edaf6d4f73d93ae68519145260add4"  # TINY, before `appearance`


def _digest(out, parts=("rgb", "depth", "labels")) -> str:
    """sha256 over the raw frames' files and the .mat frames' arrays (``parts`` of them)."""
    suffixes = {"rgb": (".ppm",), "depth": (".pgm",), "labels": (".png",)}
    h = hashlib.sha256()
    files = sorted((out / "raw").rglob("*")) + sorted((out / "raw_truth").rglob("*.png"))
    for p in files:
        if p.suffix in sum((suffixes[k] for k in parts), ()):
            h.update(p.read_bytes())
    with LabeledMat(out / "nyu_depth_v2_labeled.mat") as mat:
        for i in range(1, len(mat) + 1):
            f = mat.frame(i)
            h.update(b"".join(getattr(f, k).tobytes() for k in parts))
    return h.hexdigest()


def test_material_appearance_is_byte_identical_to_the_old_generator(tmp_path):
    write_synthetic_nyu(tmp_path, **TINY, appearance="material")
    assert _digest(tmp_path) == MATERIAL_DIGEST


def test_illumination_is_deterministic_and_leaves_depth_and_labels_alone(tmp_path):
    a, b, m = tmp_path / "a", tmp_path / "b", tmp_path / "m"
    write_synthetic_nyu(a, **TINY)
    write_synthetic_nyu(b, **TINY, appearance="illumination")
    write_synthetic_nyu(m, **TINY, appearance="material")
    assert json.loads((a / "synth.json").read_text())["appearance"] == "illumination"
    assert _digest(a) == _digest(b)
    assert _digest(a, ("depth", "labels")) == _digest(m, ("depth", "labels"))  # depth, its holes, truth
    assert _digest(a, ("rgb",)) != _digest(m, ("rgb",))
    with pytest.raises(ValueError, match="appearance"):
        write_synthetic_nyu(tmp_path / "x", **TINY, appearance="sunny")


def _scene(mode: str, scene: int, shape=(60, 80)) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rgb, depth, surface index) of a raw scene's four frames, drawn as the generator draws them."""
    rng = _rng(0, "raw", scene)
    room, light, _ = sample_room(rng, palette_size=3, class_affinity=0.8)
    lights = frame_lights(mode, _rng(0, "raw_light", scene), light)
    noise, frames = smooth_noise(_rng(0, "noise")), []
    for cam in camera_path(rng, room.size, 4):
        rgb, depth, _, _ = render_frame(room, light, cam, shape, rng, noise, next(lights))
        frames.append((rgb / 255.0, depth, cast(room, cam, NYU_RGB.scaled(*shape), shape).surface))
    return frames


def test_illumination_moves_a_surfaces_colour_between_frames_but_not_its_depth():
    drift = {"material": [], "illumination": []}
    for scene in range(4):
        frames = {mode: _scene(mode, scene) for mode in drift}
        for (_, d_mat, _), (_, d_ill, _) in zip(frames["material"], frames["illumination"]):
            assert np.array_equal(d_mat, d_ill)  # same camera, same depth and depth noise
        for mode, views in frames.items():
            for sid in np.unique(views[0][2]):
                seen = [rgb[surface == sid].mean(axis=0) for rgb, _, surface in views if (surface == sid).sum() > 30]
                if len(seen) > 1:  # the std over frames of the surface's mean colour
                    drift[mode].append(np.linalg.norm(np.std(seen, axis=0)))
    ill, mat = np.mean(drift["illumination"]), np.mean(drift["material"])
    assert ill > 2 * mat, (ill, mat)


def test_prepare_regenerates_when_the_appearance_changes(tmp_path):
    synth = {**TINY, "n_scenes": 1, "rgb_drop": 0.0}
    cfg = {"height": 24, "width": 32, "hha_cache_dir": None, "synthetic": {**synth, "appearance": "material"}}
    prepare_nyu(cfg, tmp_path)
    material = load_split(tmp_path, "labeled").read(range(synth["n_labeled"]))
    prepare_nyu({**cfg, "synthetic": synth}, tmp_path)
    assert json.loads((tmp_path / "source" / "synth.json").read_text())["appearance"] == "illumination"
    lit = load_split(tmp_path, "labeled").read(range(synth["n_labeled"]))
    assert not np.array_equal(lit["rgb"], material["rgb"]) and np.array_equal(lit["depth"], material["depth"])
