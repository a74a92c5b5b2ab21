"""prepare_nyu on a tiny synthetic default: the arrays, the manifest, the readers."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from mkepipe.data.manifest import read_manifest, sha256_bytes
from mkepipe.experiments.nyu.classes import IGNORE_INDEX
from mkepipe.experiments.nyu.config import NyuPrepareConfig
from mkepipe.experiments.nyu.dataset import has_unlabeled_truth, load_split, load_unlabeled_truth
from mkepipe.experiments.nyu.prepare import prepare_nyu
from mkepipe.experiments.nyu._layout import SCENE_TYPES
from mkepipe.experiments.nyu.labeled_mat import LabeledMat
from mkepipe.experiments.nyu.raw_scenes import scan_raw

SYNTH = {"n_labeled": 6, "n_test": 3, "n_scenes": 2, "frames_per_scene": 5, "height": 48, "width": 64, "seed": 3,
         "rgb_drop": 0.2}
CFG = {"source": "synthetic", "height": 24, "width": 32, "synthetic": SYNTH}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    cfg = {**CFG, "hha_cache_dir": str(root / "cache")}
    return root / "data", prepare_nyu(cfg, root / "data"), cfg, root


def test_arrays_on_disk(prepared):
    out, manifest, _, _ = prepared
    with np.load(out / "labeled.npz") as z:
        assert z["rgb"].shape == (6, 3, 24, 32) and z["rgb"].dtype == np.uint8
        assert z["depth"].shape == (6, 3, 24, 32) and z["depth"].dtype == np.uint8
        assert z["y"].shape == (6, 24, 32) and z["y"].dtype == np.uint8
        assert set(np.unique(z["y"])) <= set(range(40)) | {255} and (z["y"] == 255).any()
    with np.load(out / "unlabeled.npz") as z:
        assert "y" not in z.files and z["rgb"].shape[1:] == (3, 24, 32)
    assert manifest["counts"]["labeled"] == 6 and manifest["counts"]["test"] == 3
    dropped = json.loads((out / "source" / "synth.json").read_text())["rgb_frames_dropped"]
    assert manifest["counts"]["unlabeled"] == 10 - dropped
    assert manifest["quarantine"]["by_reason"].get("no_rgb_in_sync_tolerance", 0) == dropped


def test_manifest_hashes_and_sources(prepared):
    out, manifest, _, _ = prepared
    assert read_manifest(out)["sha256"] == manifest["sha256"] and manifest["dataset"] == "nyu"
    labeled = load_split(out, "labeled")
    row = manifest["samples"][labeled.ids[0]]
    assert row["split"] == "labeled" and row["sources"][0].endswith(".mat#" + labeled.ids[0][-4:].lstrip("0"))
    with np.load(out / "labeled.npz") as z:
        assert row["sha256"] == sha256_bytes(z["rgb"][0].tobytes() + z["depth"][0].tobytes() + z["y"][0].tobytes())
    with LabeledMat(out / "source" / "nyu_depth_v2_labeled.mat") as mat:
        f = mat.frame(int(labeled.ids[0].split("/")[1]))
        assert row["source_sha256"] == sha256_bytes(f.rgb.tobytes() + f.depth.tobytes() + f.labels.tobytes())
    u = [r for r in manifest["samples"].values() if r["split"] == "unlabeled"][0]
    assert len(u["sources"]) == 2 and u["sources"][0].endswith(".pgm") and u["sources"][1].endswith(".ppm")
    assert 1 <= len(manifest["classes_present"]) <= 13 and manifest["depth_channels"] == 3


def test_load_split_and_truth(prepared):
    out, _, _, _ = prepared
    lab = load_split(out, "labeled")
    rgb = lab.modalities["rgb"]
    assert rgb.dtype == np.float32 and 0 <= rgb.min() <= rgb.max() <= 1
    assert lab.modalities["depth"].shape == (6, 3, 24, 32) and lab.y.dtype == np.int64
    assert (lab.y == IGNORE_INDEX).any() and lab.y.max() < 40 and lab.meta["depth_encoding"] == "hha"
    unl = load_split(out, "unlabeled")
    assert unl.y is None and has_unlabeled_truth(out)
    truth = load_unlabeled_truth(out)
    assert truth.shape == (len(unl), 24, 32) and truth.dtype == np.int64 and (truth >= 0).mean() > 0.5
    with pytest.raises(ValueError):
        load_split(out, "train")


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
    split = load_split(tmp_path / "d", "test")
    assert split.modalities["depth"].shape == (3, 1, 24, 32) and split.meta["depth_encoding"] == "depth"
    assert 0 < split.modalities["depth"].max() <= 1 and m["counts"]["unlabeled"] <= 4
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
