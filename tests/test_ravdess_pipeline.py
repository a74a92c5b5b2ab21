"""RAVDESS end to end on a tiny synthetic set in the real formats: prepare with bad input
quarantined, the splits, every stage, the figures and the inbox of the relabel service."""
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from mkepipe import stages
from mkepipe.config import load_params
from mkepipe.data.quarantine import QuarantineLog, read_quarantine
from mkepipe.data.split import DiskSplit
from mkepipe.experiments.ravdess.catalog import scan
from mkepipe.experiments.ravdess.config import RavdessPrepareConfig, RavdessSynthConfig
from mkepipe.experiments.ravdess.inbox import ClipInbox
from mkepipe.experiments.ravdess.models import EmotionNet
from mkepipe.experiments.ravdess.prepare import assign_splits
from mkepipe.experiments.ravdess.synth import write_synthetic_ravdess
from mkepipe.media.encode import write_mp4
from tests.conftest import ROOT

TINY = RavdessSynthConfig(n_actors=2, height=48, width=64, duration_s=1.6, wav_actors=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ravdess") / "source"
    write_synthetic_ravdess(root, TINY)
    return root


def tiny_params(root: Path):
    params = load_params(ROOT / "params.yaml").model_copy(update={"experiment": "ravdess"})
    params = params.with_active("prepare", source="folder", root=str(root), image_size=24, mfcc_frames=48)
    params = params.with_active("teacher", epochs=2)
    return params.with_active("student", epochs=2)


def _wav_to(path: Path, rate: int, frames: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.astype("<i2").tobytes())


def damage(root: Path) -> dict[str, str]:
    """Bad input of every kind the issue names; returns {sample id: expected reason}."""
    a1, a2 = root / "Actor_01", root / "Actor_02"
    mp4 = a1 / "01-01-03-01-01-01-01.mp4"
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])  # truncated (its wav is intact)
    (a2 / "01-01-04-01-01-01-02.mp4").unlink()  # replaced by a silent-track-free mp4 and no wav
    frames = np.zeros((48, 48, 64, 3), np.uint8)
    write_mp4(a2 / "01-01-04-01-01-01-02.mp4", frames, 30.0, None, 48_000)
    write_mp4(a2 / "01-01-05-01-01-01-02.mp4", frames[:9], 30.0, np.zeros(14_400, np.float32) + 0.1, 48_000)
    (a1 / "not-a-ravdess-name.mp4").write_bytes(b"x")
    shutil.copy(a1 / "01-01-02-01-01-01-01.mp4", a1 / "01-01-02-01-01-01-01.MP4")  # duplicate identifier
    shutil.copy(a1 / "01-01-01-01-01-01-01.mp4", a1 / "01-01-01-02-01-01-01.mp4")  # neutral claiming "strong"
    _wav_to(a1 / "03-01-06-01-01-01-01.wav", 48_000, np.zeros(0))  # empty wav; its mp4 has an AAC track
    with wave.open(str(a1 / "03-01-07-01-01-01-01.wav")) as w:  # the same speech at 44.1 kHz
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    _wav_to(a1 / "03-01-07-01-01-01-01.wav", 44_100, pcm[::48].repeat(44))
    return {"01-01-03-01-01-01-01": "unreadable", "01-01-04-01-01-01-02": "no_audio",
            "01-01-05-01-01-01-02": "too_short", "Actor_01/not-a-ravdess-name.mp4": "bad_name",
            "Actor_01/01-01-02-01-01-01-01.mp4": "duplicate_id", "Actor_01/01-01-01-02-01-01-01.mp4": "bad_name"}


def test_prepare_quarantines_bad_input_and_keeps_clips_whole(source, tmp_path):
    root = tmp_path / "source"
    shutil.copytree(source, root)
    expected = damage(root)
    params = tiny_params(root)
    manifest = stages.prepare(params, tmp_path / "data")
    report = read_quarantine(tmp_path / "data")
    got = {e["id"]: e["reason"] for e in report["samples"]}
    for sid, reason in expected.items():
        assert got.get(sid) == reason, (sid, got)
    assert len(got) == len(expected), got
    notes = {row["clip"]: row.get("notes", []) for row in manifest["samples"].values()}
    assert any("44100 Hz" in n for n in notes["01-01-07-01-01-01-01"])
    assert any("mp4's audio track" in n for n in notes["01-01-06-01-01-01-01"])

    data = tmp_path / "data"
    splits = {name: DiskSplit(data, name) for name in ("labeled", "unlabeled", "val", "test")}
    assert splits["labeled"].modality_names == ("face",)
    for name in ("unlabeled", "val", "test"):
        assert set(splits[name].modality_names) == {"face", "mfcc"}
        assert splits[name].channels() == {"face": 3, "mfcc": 1}
    assert splits["unlabeled"].labels([0]) is None
    assert DiskSplit(data, "unlabeled_truth").ids == splits["unlabeled"].ids
    clip_split = {}
    for name, split in splits.items():
        for sid in split.ids:
            assert clip_split.setdefault(sid.rsplit("/", 1)[0], name) == name, "a clip's frames share one split"
    frames = splits["val"].read(range(len(splits["val"])), ("face", "mfcc"))
    assert frames["face"].shape[1:] == (3, 24, 24) and 0 <= frames["face"].min() and frames["face"].max() <= 1
    assert frames["mfcc"].shape[1:] == (1, 40, 48)
    same_clip = [i for i, sid in enumerate(splits["val"].ids) if sid.startswith(splits["val"].ids[0][:-3])]
    assert len(same_clip) in (3, 4), "1.6 s ± 15 % clips give frames at 0, 0.5, 1.0 (and 1.5) s"
    np.testing.assert_array_equal(frames["mfcc"][same_clip[0]], frames["mfcc"][same_clip[-1]])
    assert manifest["face_crop"]["method"] == "centre"
    assert manifest["clips"]["labeled"] + manifest["clips"]["unlabeled"] + manifest["clips"]["val"] + \
        manifest["clips"]["test"] == 120 - 3  # 3 clips quarantined; the other bad files are extra ones


def test_splits_by_clip_are_stratified_and_by_actor_speaker_independent(source):
    clips = scan(source, QuarantineLog())
    by_clip = assign_splits(clips, RavdessPrepareConfig())
    counts = {s: sum(v == s for v in by_clip.values()) for s in ("labeled", "unlabeled", "val", "test")}
    assert counts["labeled"] == pytest.approx(0.2 * len(clips), abs=8)
    for emotion in range(1, 9):
        mine = [by_clip[c.key] for c in clips if c.ident.emotion == emotion]
        assert "labeled" in mine and "unlabeled" in mine
    by_actor = assign_splits(clips, RavdessPrepareConfig(split_by="actor", labeled_share=0.5))
    for actor in (1, 2):
        assert len({by_actor[c.key] for c in clips if c.ident.actor == actor}) == 1
    assert {by_actor[c.key] for c in clips} == {"labeled", "unlabeled"}
    assert assign_splits(clips, RavdessPrepareConfig()) == by_clip, "seeded"
    assert assign_splits(clips, RavdessPrepareConfig(split_seed=1)) != by_clip


def test_every_stage_on_the_tiny_set(source, tmp_path):
    params = tiny_params(source)
    data, teacher = tmp_path / "data", tmp_path / "teacher.pt"
    stages.prepare(params, data)
    stages.teacher(params, data, teacher)
    gen = stages.pseudolabel(params, data, teacher, tmp_path / "labels")
    assert gen.kind == "soft" and len(gen) == len(DiskSplit(data, "unlabeled"))
    saved = stages.student(params, data, tmp_path / "labels", tmp_path / "round1")
    cfg = params.active("student")
    assert set(saved) == {cfg.method, *cfg.baselines}
    report = tmp_path / "report"
    metrics = stages.evaluate(params, data, teacher, tmp_path / "round1", tmp_path / "labels", report)
    assert metrics["metric"] == "accuracy" and set(metrics["methods"]) == set(saved)
    assert set(metrics["validation"]) == {"teacher", *saved}
    assert len(metrics["details"]["mm_student"]["recall_per_class"]) == 8
    clip = json.loads((report / "clip_accuracy.json").read_text())
    assert set(clip) == {"teacher", *saved}
    assert clip["teacher"]["frame_accuracy"] == pytest.approx(metrics["teacher_accuracy"])
    assert clip["teacher"]["clips"] == len({sid.rsplit("/", 1)[0] for sid in DiskSplit(data, "test").ids})
    assert (report / "confusion.png").stat().st_size > 10_000


@pytest.mark.parametrize("preset", ["cpu", "paper"])
def test_emotion_net_reads_face_and_mfcc(preset):
    net = EmotionNet(8, {"face": 3, "mfcc": 1}, ("face", "mfcc"), preset=preset, dropout=0.5).eval()
    out = net({"face": torch.rand(2, 3, 48, 48), "mfcc": torch.randn(2, 1, 40, 96) * 100})
    assert out.shape == (2, 8) and torch.isfinite(out).all()
    face_only = EmotionNet(8, {"face": 3}, ("face",), preset=preset).eval()
    assert face_only({"face": torch.rand(2, 3, 48, 48)}).shape == (2, 8)
    with pytest.raises(ValueError, match="no branch"):
        EmotionNet(8, {"depth": 1}, ("depth",))


def test_inbox_ingests_new_actor_clips_and_quarantines_bad_files(source, tmp_path):
    params = tiny_params(source)
    data = tmp_path / "data"
    stages.prepare(params, data)
    inbox = tmp_path / "inbox"
    (inbox / "Actor_02").mkdir(parents=True)
    for name in ("01-01-03-02-01-01-02.mp4", "01-01-05-02-02-02-02.mp4"):
        shutil.copy(source / "Actor_02" / name, inbox / "Actor_02" / name)
    (inbox / "Actor_02" / "01-01-09-01-01-01-02.mp4").write_bytes(b"not a video")  # emotion 09 does not exist
    (inbox / "Actor_02" / "02-01-04-01-01-01-02.mp4").write_bytes(b"video-only, no wav")
    box = ClipInbox()
    samples = box.scan(inbox, params.active("prepare"))
    problems = {s.id: s.problem for s in samples if s.problem}
    assert problems == {"inbox/Actor_02/01-01-09-01-01-01-02.mp4": "bad_name",
                        "inbox/Actor_02/02-01-04-01-01-01-02": "no_audio"}
    good = [s for s in samples if not s.problem]
    result = box.ingest(data, tmp_path / "v2", samples, [], tmp_path)
    assert set(result.added) == {s.id for s in good}
    assert {e.reason for e in result.quarantine.entries} == {"bad_name", "no_audio"}
    before, after = DiskSplit(data, "unlabeled"), DiskSplit(tmp_path / "v2", "unlabeled")
    assert after.ids[: len(before)] == before.ids
    new = after.ids[len(before):]
    assert 6 <= len(new) <= 8 and {sid.rsplit("/", 1)[0] for sid in new} == set(result.added)
    assert after.ids[-1].startswith("inbox/Actor_02/01-01-05-02-02-02-02/")
    assert DiskSplit(tmp_path / "v2", "test").ids == DiskSplit(data, "test").ids
