"""NYU loaders on tiny files written here, byte for byte in the real formats (not through
the package's own writers, so a symmetric writer/reader bug cannot hide)."""
from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from mkepipe.data.quarantine import BadSample
from mkepipe.experiments.nyu.classes import (
    VOID,
    class_id40,
    classes40,
    labels40_to_train,
    labels894_to_train,
    lut40to13,
    lut894to40,
    standard_split,
)
from mkepipe.experiments.nyu.labeled_mat import LabeledMat, LabeledMatWriter, read_split_indices
from mkepipe.experiments.nyu.png_layout import read_png_sample, scan_png_split
from mkepipe.experiments.nyu.raw_scenes import (
    decode_depth,
    decode_pnm,
    decode_rgb,
    metres_to_raw,
    pair_frames,
    parse_frame_name,
    raw_to_metres,
    scan_raw,
    scan_scene,
)

H, W = 6, 8


def test_label_spaces_and_standard_split():
    assert len(classes40()) == 40 and classes40()[0] == "wall" and class_id40("table") == 7
    lut = lut894to40()
    assert lut.shape == (895,) and lut[0] == 0 and lut[21] == 1 and lut[157] == 4 and lut[894] == 40
    assert labels894_to_train(np.array([0, 21, 11, 894], np.uint16)).tolist() == [VOID, 0, 1, 39]
    assert labels40_to_train(np.array([0, 1, 40], np.uint8)).tolist() == [VOID, 0, 39]
    assert lut40to13()[1] == 12 and lut40to13()[0] == 0
    split = standard_split()
    assert len(split["train"]) == 795 and len(split["test"]) == 654
    assert sorted(np.concatenate([split["train"], split["test"]]).tolist()) == list(range(1, 1450))


def _cellstr(f: h5py.File, name: str, strings: list[str]) -> None:
    refs = []
    for k, s in enumerate(strings):
        ds = f.create_dataset(f"#refs#/{name}{k}", data=np.array([[ord(c)] for c in s], np.uint16))
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        refs.append(ds.ref)
    f.create_dataset(name, data=np.array([refs], dtype=h5py.ref_dtype))


def write_real_mat(path: Path, rgb: np.ndarray, depth: np.ndarray, labels: np.ndarray, raw: np.ndarray | None = None,
                   scenes: list[str] | None = None) -> None:
    """The labeled .mat as MATLAB writes it, seen through h5py: every axis reversed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("images", data=rgb.transpose(0, 3, 2, 1))
        f.create_dataset("depths", data=depth.transpose(0, 2, 1).astype(np.float32))
        f.create_dataset("labels", data=labels.transpose(0, 2, 1).astype(np.uint16))
        if raw is not None:
            f.create_dataset("rawDepths", data=raw.transpose(0, 2, 1).astype(np.float32))
        f.create_dataset("accelData", data=np.zeros((4, len(rgb)), np.float32))
        if scenes:
            _cellstr(f, "scenes", scenes)


def test_labeled_mat_axes_and_optional_datasets(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.0, (3, H, W)).astype(np.float32)
    labels = rng.integers(0, 895, (3, H, W)).astype(np.uint16)
    write_real_mat(tmp_path / "a.mat", rgb, depth, labels, raw=depth * 0, scenes=["kitchen_0001", "bedroom_0002", "x"])
    write_real_mat(tmp_path / "b.mat", rgb, depth, labels)
    with LabeledMat(tmp_path / "a.mat") as mat:
        assert len(mat) == 3 and mat.size == (H, W) and mat.scenes[1] == "bedroom_0002"
        f = mat.frame(2)
        assert f.rgb.shape == (H, W, 3) and (f.rgb == rgb[1]).all()
        assert (f.depth == depth[1]).all() and (f.labels == labels[1]).all() and (f.raw_depth == 0).all()
        with pytest.raises(IndexError):
            mat.frame(4)
    with LabeledMat(tmp_path / "b.mat") as mat:
        f = mat.frame(3)
        assert f.raw_depth is None and f.scene is None and mat.scenes is None and (f.labels == labels[2]).all()


def test_labeled_mat_writer_matches_the_real_layout(tmp_path):
    rgb = np.arange(H * W * 3, dtype=np.uint8).reshape(1, H, W, 3)
    with LabeledMatWriter(tmp_path / "w.mat", 1, H, W) as w:
        w.write(0, rgb[0], np.ones((H, W)), np.full((H, W), 21))
        w.write_cellstr("scenes", ["office_0003"])
        w.write_cellstr("sceneTypes", [""])
    assert (tmp_path / "w.mat").read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(tmp_path / "w.mat") as f:
        assert f["images"].shape == (1, 3, W, H) and f["labels"].dtype == np.uint16
        assert (f["images"][0].transpose(2, 1, 0) == rgb[0]).all()
    with LabeledMat(tmp_path / "w.mat") as mat:
        assert mat.scenes == ["office_0003"] and mat.scene_types == [""]


def test_split_files(tmp_path):
    assert len(read_split_indices(None)["train"]) == 795
    (tmp_path / "train_indices_1based.txt").write_text("1\n3\n")
    (tmp_path / "test_indices_1based.txt").write_text("2\n")
    s = read_split_indices(tmp_path)
    assert s["train"].tolist() == [1, 3] and s["test"].tolist() == [2]
    (tmp_path / "test_indices_1based.txt").write_text("3\n")
    with pytest.raises(ValueError, match="both train and test"):
        read_split_indices(tmp_path)


def pgm_bytes(raw: np.ndarray) -> bytes:
    """A Kinect dump's d-*.pgm: a P5 header, then the samples little-endian (byte-swapped)."""
    return f"P5\n{raw.shape[1]} {raw.shape[0]}\n65535\n".encode() + raw.astype("<u2").tobytes()


def ppm_bytes(rgb: np.ndarray) -> bytes:
    return f"P6\n# a comment\n{rgb.shape[1]} {rgb.shape[0]}\n255\n".encode() + rgb.tobytes()


def test_pnm_decoding_and_kinect_depth():
    rgb = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    assert (decode_rgb(ppm_bytes(rgb)) == rgb).all()
    raw = np.full((H, W), 741, np.uint16)  # 351.3 / (1092.5 − 741) = 0.99943 m
    raw[0, 0], raw[0, 1], raw[0, 2] = 2047, 1092, 1
    z = decode_depth(pgm_bytes(raw))
    assert z[1, 1] == pytest.approx(351.3 / (1092.5 - 741), rel=1e-6)
    assert z[0, 0] == 0.0 and z[0, 1] == 10.0  # invalid → missing, beyond range → 10 m (NYU toolbox)
    assert z[0, 2] == pytest.approx(351.3 / 1091.5)
    assert (decode_pnm(pgm_bytes(raw)) == raw.byteswap()).all()  # a standard reader sees swapped bytes
    assert (metres_to_raw(raw_to_metres(np.array([[600, 900, 2047]], np.uint16))) == [[600, 900, 2047]]).all()
    with pytest.raises(BadSample, match="truncated"):
        decode_depth(pgm_bytes(raw)[:-5])
    with pytest.raises(BadSample, match="header"):
        decode_rgb(b"P3\n1 1\n255\n0 0 0")


def _touch_scene(scene: Path, rgb_ts: list[float], depth_ts: list[float], size=(H, W), index: bool = True) -> None:
    scene.mkdir(parents=True)
    for k, t in enumerate(rgb_ts):
        (scene / f"r-{t:.6f}-{2016681662 + k}.ppm").write_bytes(ppm_bytes(np.zeros((*size, 3), np.uint8)))
    for k, t in enumerate(depth_ts):
        (scene / f"d-{t:.6f}-{2016681000 + k}.pgm").write_bytes(pgm_bytes(np.full(size, 700, np.uint16)))
        (scene / f"a-{t:.6f}-{2016681500 + k}.dump").write_bytes(b"\0" * 16)
    if index:
        (scene / "INDEX.txt").write_text("".join(f"{p.name}\n" for p in sorted(scene.iterdir())))


def test_raw_scene_names_and_nearest_timestamp_pairing(tmp_path):
    f = parse_frame_name("r-1294439283.377657-2016681662.ppm")
    assert (f.kind, f.timestamp, f.counter) == ("r", 1294439283.377657, 2016681662)
    assert parse_frame_name("r-1294439283.377657-2016681662.pgm") is None and parse_frame_name("INDEX.txt") is None
    t = 1294439283.0
    _touch_scene(tmp_path / "raw" / "bedroom_0001", [t + 0.00, t + 0.10, t + 0.21], [t + 0.012, t + 0.095, t + 0.40])
    _touch_scene(tmp_path / "raw" / "office_0002", [t + 5], [t + 5.01], index=False)  # INDEX.txt absent
    pairs = scan_raw(tmp_path / "raw", tolerance_s=0.05)
    assert [p.id.split("/")[0] for p in pairs] == ["bedroom_0001"] * 3 + ["office_0002"]
    assert pairs[0].rgb.timestamp == pytest.approx(t) and pairs[1].rgb.timestamp == pytest.approx(t + 0.10)
    assert pairs[2].rgb is None and pairs[2].dt == pytest.approx(0.19)  # nearest RGB beyond the tolerance
    assert pairs[3].rgb is not None
    frames = scan_scene(tmp_path / "raw" / "bedroom_0001")
    assert len(frames["a"]) == 3 and [fr.timestamp for fr in frames["d"]] == sorted(fr.timestamp for fr in frames["d"])
    assert pair_frames("s", [], frames["d"], 0.05)[0].rgb is None


def test_png_layout(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
    mm = np.full((H, W), 2500, np.uint16)
    labels = np.full((H, W), 7, np.uint8)
    for split in ("train", "test"):
        for folder, arr in (("rgb", rgb[:, :, ::-1]), ("depth", mm), ("labels_40", labels)):
            (tmp_path / split / folder).mkdir(parents=True)
            cv2.imwrite(str(tmp_path / split / folder / "0001.png"), arr)
    cv2.imwrite(str(tmp_path / "train" / "rgb" / "0002.png"), rgb)  # no depth, no labels
    samples = scan_png_split(tmp_path, "train")
    assert [s.id for s in samples] == ["png/train/0001", "png/train/0002"]
    got_rgb, depth, got_labels, raw = read_png_sample(samples[0])
    assert (got_rgb == rgb).all() and depth.dtype == np.float32 and depth[0, 0] == pytest.approx(2.5)
    assert (got_labels == 7).all() and len(raw) > 0
    with pytest.raises(BadSample) as err:
        read_png_sample(samples[1])
    assert err.value.reason == "missing_modality"
