"""AudioSet → VGGSound end to end on a tiny synthetic set in the real formats: prepare with
bad input quarantined, the splits and features, every stage, the figure, and the inbox
of the relabel service."""
import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mkepipe import stages
from mkepipe.config import load_params
from mkepipe.data.quarantine import read_quarantine
from mkepipe.data.split import DiskSplit
from mkepipe.experiments.vggsound.catalog import DEFAULT_CLASS_MAP
from mkepipe.experiments.vggsound.config import SYNTH_CLASSES, VggsoundSynthConfig
from mkepipe.experiments.vggsound.inbox import ClipInbox
from mkepipe.experiments.vggsound.synth import write_synthetic_vggsound
from mkepipe.media.encode import write_mp4
from tests.conftest import ROOT

TINY = VggsoundSynthConfig(labeled_clips=24, train_clips=40, test_clips=16, duration_s=1.5, size=32)
RATE = 16_000


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vggsound") / "source"
    write_synthetic_vggsound(root, TINY, workers=1)
    lines = [line for line in DEFAULT_CLASS_MAP.read_text().splitlines() if not line.startswith("#")]
    keep = [lines[0]] + [row for row in lines[1:] if row.split(",", 1)[0] in SYNTH_CLASSES]
    (root / "class_map.csv").write_text("# the synthetic classes only\n" + "\n".join(keep) + "\n")
    return root


def tiny_params(root: Path):
    params = load_params(ROOT / "params.yaml").model_copy(update={"experiment": "vggsound"})
    params = params.with_active("prepare", source="folder", audioset_dir=str(root / "audioset"),
                                vggsound_dir=str(root / "vggsound"), class_map=str(root / "class_map.csv"),
                                clip_s=1.5)
    params = params.with_active("teacher", epochs=1, loader_workers=0)
    return params.with_active("student", epochs=1, crop_frames=100, video_frames=2)


def _vgg_rows(root: Path) -> list[list[str]]:
    with open(root / "vggsound" / "vggsound.csv", newline="") as f:
        return list(csv.reader(f))


def _video(root: Path, row: list[str]) -> Path:
    return root / "vggsound" / "video" / f"{row[0]}_{int(row[1]):06d}.mp4"


def damage(root: Path) -> dict[str, str]:
    """Bad input of every kind the issue names; returns {quarantine id: expected reason}."""
    segments = root / "audioset" / "balanced_train_segments.csv"
    with open(segments, "a") as f:
        f.write("brokenrow, 12.0\n")
        f.write('unknownMid0, 10.000, 11.500, "/m/07y_7,/m/not_a_mid"\n')
        f.write('missingFile, 10.000, 11.500, "/m/01xqw"\n')
    bad_line = len(segments.read_text().splitlines()) - 2
    train = [r for r in _vgg_rows(root) if r[3] == "train"]
    frames = np.zeros((12, 32, 32, 3), np.uint8)
    write_mp4(_video(root, train[0]), frames, 8.0, None, RATE)  # no audio track
    mp4 = _video(root, train[1])
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])  # fails to decode mid-way
    write_mp4(_video(root, train[2]), frames, 8.0, np.zeros(int(1.5 * RATE), np.float32), RATE)  # silent
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(0.6 * RATE)) / RATE).astype(np.float32)
    write_mp4(_video(root, train[3]), frames[:5], 8.0, tone, RATE)  # 0.6 s: tiled, kept, noted
    with open(root / "vggsound" / "vggsound.csv", "a") as f:
        f.write("badStartRow,zero,playing cello,train\n")
        f.write("otherClass0,3,people marching,train\n")  # outside the class set: counted, not bad
    return {f"audioset:{segments.name}:{bad_line}": "bad_row", "as/unknownMid0_10": "unknown_label",
            "as/missingFile_10": "missing_clip", f"vgg/{train[0][0]}_{train[0][1]}": "no_audio",
            f"vgg/{train[1][0]}_{train[1][1]}": "unreadable", f"vgg/{train[2][0]}_{train[2][1]}": "empty_audio",
            f"vggsound:vggsound.csv:{len(train) + 16 + 1}": "bad_row"}


def test_prepare_quarantines_bad_input(source, tmp_path):
    root = tmp_path / "source"
    shutil.copytree(source, root)
    expected = damage(root)
    manifest = stages.prepare(tiny_params(root), tmp_path / "data")
    got = {e["id"]: e["reason"] for e in read_quarantine(tmp_path / "data")["samples"]}
    assert got == expected
    tiled = [row for row in manifest["samples"].values() if row.get("notes")]
    fourth = [r for r in _vgg_rows(root) if r[3] == "train"][3]
    assert len(tiled) == 1 and tiled[0]["file"] == _video(root, fourth).name
    assert re.fullmatch(r"0\.6\d s of audio tiled to 1\.5 s \(under 1 s\)", tiled[0]["notes"][0])
    assert manifest["outside_class_set"] == {"labeled": 0, "vggsound": 1}
    one = stages.prepare(tiny_params(root).with_active("prepare", workers=1), tmp_path / "data1")
    assert one["samples"] == manifest["samples"], "two decoding processes (the default here) or one: same data"
    assert read_quarantine(tmp_path / "data1") == read_quarantine(tmp_path / "data")
    assert manifest["classes"] == list(SYNTH_CLASSES)
    data = tmp_path / "data"
    splits = {name: DiskSplit(data, name) for name in ("labeled", "unlabeled", "val", "test")}
    assert sum(len(s) for s in splits.values()) == 24 + 40 + 16 - 3  # the added rows were extra
    assert splits["labeled"].modality_names == ("spec",)
    assert len(splits["test"]) == 16 and len(splits["val"]) >= 2
    frames = 1 + (int(1.5 * RATE) - 256) // 160
    for name in ("unlabeled", "val", "test"):
        assert splits[name].channels() == {"spec": 1, "video": 3}
        x = splits[name].read([0])
        assert x["spec"].shape == (1, 1, 129, frames) and x["video"].shape == (1, 3, 3, 64, 64)
        assert 0 <= x["video"].min() and x["video"].max() <= 1
    assert splits["unlabeled"].labels([0]) is None
    y = splits["labeled"].labels(range(len(splits["labeled"])))
    assert y.dtype == np.float32 and y.shape[1] == 8 and (y.sum(1) >= 1).all() and (y.sum(1) == 2).any()
    assert (splits["test"].labels(range(16)).sum(1) == 1).all(), "a VGGSound clip has one label"
    assert DiskSplit(data, "unlabeled_truth").ids == splits["unlabeled"].ids


def test_every_stage_on_the_tiny_set(source, tmp_path):
    params = tiny_params(source)
    data, teacher = tmp_path / "data", tmp_path / "teacher.pt"
    stages.prepare(params, data)
    stages.teacher(params, data, teacher)
    gen = stages.pseudolabel(params, data, teacher, tmp_path / "labels")
    assert gen.kind == "soft" and gen.family == "bernoulli" and gen.manifest["encoding"] == "sparse-q8"
    saved = stages.student(params, data, tmp_path / "labels", tmp_path / "round1")
    cfg = params.active("student")
    assert set(saved) == {cfg.method, *cfg.baselines}
    report = tmp_path / "report"
    metrics = stages.evaluate(params, data, teacher, tmp_path / "round1", tmp_path / "labels", report)
    assert metrics["metric"] == "map" and set(metrics["methods"]) == set(saved)
    for name, d in metrics["details"].items():
        assert 0 <= d["map"] <= 100 and 0 <= d["mauc"] <= 100 and 0 <= d["top1"] <= 100, name
    assert len(metrics["details"]["teacher"]["ap_per_class"]) == 8
    assert (report / "ap_per_class.png").stat().st_size > 10_000


def test_inbox_ingests_new_clips_and_quarantines_bad_files(source, tmp_path):
    params = tiny_params(source)
    data = tmp_path / "data"
    stages.prepare(params, data)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    test_rows = [r for r in _vgg_rows(source) if r[3] == "test"]
    for row in test_rows[:2]:
        shutil.copy(_video(source, row), inbox / f"new{row[0]}.mp4")
    write_mp4(inbox / "mute.mp4", np.zeros((12, 32, 32, 3), np.uint8), 8.0, None, RATE)
    (inbox / "notes.txt").write_text("not a clip")
    box = ClipInbox()
    samples = box.scan(inbox, params.active("prepare"))
    assert {s.id: s.problem for s in samples if s.problem} == {"inbox/notes.txt": "unreadable"}
    result = box.ingest(data, tmp_path / "v2", samples, [], tmp_path)
    assert set(result.added) == {f"inbox/new{row[0]}" for row in test_rows[:2]}
    assert {e.reason for e in result.quarantine.entries} == {"unreadable", "no_audio"}
    before, after = DiskSplit(data, "unlabeled"), DiskSplit(tmp_path / "v2", "unlabeled")
    assert after.ids == before.ids + sorted(result.added)
    np.testing.assert_array_equal(after.read([len(before)])["spec"], DiskSplit(data, "test").read(
        [DiskSplit(data, "test").ids.index(f"vgg/{test_rows[0][0]}_{test_rows[0][1]}")])["spec"])
    assert DiskSplit(tmp_path / "v2", "test").ids == DiskSplit(data, "test").ids
    assert json.loads((tmp_path / "v2" / "manifest.json").read_text())["ingested"]["added"] == 2
