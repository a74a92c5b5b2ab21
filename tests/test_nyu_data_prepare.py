"""prepare_nyu on a tiny synthetic default: the arrays, the manifest, the readers."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from mkepipe.data.arrays import NpyFile
from mkepipe.data.manifest import read_manifest, sha256_bytes
from mkepipe.data.split import DiskSplit
from mkepipe.experiments.nyu._layout import SCENE_TYPES
from mkepipe.experiments.nyu.classes import IGNORE_INDEX
from mkepipe.experiments.nyu.config import NyuPrepareConfig
from mkepipe.experiments.nyu.experiment import Nyu
from mkepipe.experiments.nyu.labeled_mat import LabeledMat
from mkepipe.experiments.nyu.prepare import prepare_nyu
from mkepipe.experiments.nyu.raw_scenes import scan_raw

SYNTH = {"n_labeled": 6, "n_test": 3, "n_val": 2, "n_scenes": 2, "frames_per_scene": 5, "height": 48, "width": 64,
         "seed": 3, "rgb_drop": 0.2}
CFG = {"source": "synthetic", "height": 24, "width": 32, "synthetic": SYNTH}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    cfg = {**CFG, "hha_cache_dir": str(root / "cache")}
    return root / "data", prepare_nyu(cfg, root / "data"), cfg, root


def stored(split_dir, name):
    return NpyFile(split_dir / f"{name}.npy").read_all()


def test_arrays_on_disk(prepared):
    out, manifest, _, _ = prepared
    rgb, depth, y = (stored(out / "labeled", m) for m in ("rgb", "depth", "y"))
    assert rgb.shape == (6, 3, 24, 32) and rgb.dtype == np.uint8
    assert depth.shape == (6, 3, 24, 32) and depth.dtype == np.uint8
    assert y.shape == (6, 24, 32) and y.dtype == np.uint8
    assert set(np.unique(y)) <= set(range(40)) | {255} and (y == 255).any()
    assert np.array_equal(np.load(out / "labeled" / "rgb.npy"), rgb)  # plain .npy files
    assert not (out / "unlabeled" / "y.npy").exists() and stored(out / "unlabeled", "rgb").shape[1:] == (3, 24, 32)
    assert manifest["counts"]["labeled"] == 6 and manifest["counts"]["test"] == 3 and manifest["counts"]["val"] == 2
    dropped = json.loads((out / "source" / "synth.json").read_text())["rgb_frames_dropped"]
    assert manifest["counts"]["unlabeled"] == 10 - dropped
    assert manifest["quarantine"]["by_reason"].get("no_rgb_in_sync_tolerance", 0) == dropped


def test_manifest_hashes_and_sources(prepared):
    out, manifest, _, _ = prepared
    assert read_manifest(out)["sha256"] == manifest["sha256"] and manifest["dataset"] == "nyu"
    labeled = DiskSplit(out, "labeled")
    row = manifest["samples"][labeled.ids[0]]
    assert row["split"] == "labeled" and row["sources"][0].endswith(".mat#" + labeled.ids[0][-4:].lstrip("0"))
    first = [stored(out / "labeled", m)[0].tobytes() for m in ("rgb", "depth", "y")]
    assert row["sha256"] == sha256_bytes(b"".join(first))
    with LabeledMat(out / "source" / "nyu_depth_v2_labeled.mat") as mat:
        f = mat.frame(int(labeled.ids[0].split("/")[1]))
        assert row["source_sha256"] == sha256_bytes(f.rgb.tobytes() + f.depth.tobytes() + f.labels.tobytes())
    u = [r for r in manifest["samples"].values() if r["split"] == "unlabeled"][0]
    assert len(u["sources"]) == 2 and u["sources"][0].endswith(".pgm") and u["sources"][1].endswith(".ppm")
    assert 1 <= len(manifest["classes_present"]) <= 13 and manifest["depth_channels"] == 3


def test_load_split_and_truth(prepared):
    out, manifest, _, _ = prepared
    exp = Nyu()
    lab = exp.load(out, "labeled")
    x, y = lab.read(range(len(lab))), lab.labels(range(len(lab)))
    assert x["rgb"].dtype == np.float32 and 0 <= x["rgb"].min() <= x["rgb"].max() <= 1
    assert np.array_equal(x["rgb"], stored(out / "labeled", "rgb").astype(np.float32) / 255.0)
    assert x["depth"].shape == (6, 3, 24, 32) and y.dtype == np.int64
    assert (y == IGNORE_INDEX).any() and y.max() < 40 and manifest["depth_encoding"] == "hha"
    assert np.array_equal(lab.read([4, 1])["depth"], x["depth"][[4, 1]])  # by row, any order
    unl = exp.load(out, "unlabeled")
    assert not unl.has_labels
    truth = exp.load_unlabeled_truth(out)
    t = truth.labels(range(len(truth)))
    assert truth.ids == unl.ids[:len(truth)] and t.shape == (len(truth), 24, 32) and t.dtype == np.int64
    assert (t >= 0).mean() > 0.5
    with pytest.raises(ValueError):
        exp.load(out, "train")


def test_deterministic_and_source_reuse(prepared, tmp_path):
    out, manifest, cfg, _ = prepared
    again = prepare_nyu(cfg, tmp_path / "again")
    assert again["sha256"] == manifest["sha256"]
    mat = out / "source" / "nyu_depth_v2_labeled.mat"
    stamp = mat.stat().st_mtime_ns
    assert prepare_nyu(cfg, out)["sha256"] == manifest["sha256"] and mat.stat().st_mtime_ns == stamp  # reused
    other = prepare_nyu({**cfg, "synthetic": {**SYNTH, "seed": 4}}, tmp_path / "other")
    assert other["sha256"] != manifest["sha256"]


def test_depth_encoding_cap_and_an_outside_synthetic_dir(prepared, tmp_path):
    out, _, cfg, _ = prepared
    src = out / "source"
    stamp = (src / "synth.json").stat().st_mtime_ns
    m = prepare_nyu({**cfg, "depth_encoding": "depth", "max_unlabeled": 4, "synthetic_dir": str(src)}, tmp_path / "d")
    assert (src / "synth.json").stat().st_mtime_ns == stamp and not (tmp_path / "d" / "source").exists()
    depth = DiskSplit(tmp_path / "d", "test").read(range(3), ["depth"])["depth"]
    assert depth.shape == (3, 1, 24, 32) and m["depth_encoding"] == "depth"
    assert 0 < depth.max() <= 1 and m["counts"]["unlabeled"] <= 4
    assert m["config"]["raw_dir"] == str(src / "raw") and m["depth_channels"] == 1
    pairs = scan_raw(src / "raw", 0.05)
    assert len(pairs) == 10 and {p.scene.rsplit("_", 1)[0] for p in pairs} <= set(SCENE_TYPES)


def test_never_replaces_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not written by the synthetic generator"):
        prepare_nyu({**CFG, "synthetic_dir": str(tmp_path / "mine")}, tmp_path / "out")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_config_is_strict():
    with pytest.raises(ValidationError, match="extra"):
        NyuPrepareConfig(sourse="synthetic")
    with pytest.raises(ValidationError, match="mat_path"):
        NyuPrepareConfig(source="mat", raw_dir="x")
    with pytest.raises(ValidationError):
        NyuPrepareConfig(depth_encoding="disparity")
    cfg = NyuPrepareConfig()
    assert (cfg.source, cfg.depth_encoding, cfg.synthetic.n_labeled) == ("synthetic", "hha", 120)
