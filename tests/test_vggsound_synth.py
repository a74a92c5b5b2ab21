"""The synthetic AudioSet → VGGSound: real layouts and formats, determinism, and physical properties."""
from __future__ import annotations

import argparse
import csv
import json
import re
import wave

import av
import numpy as np
import pytest
from scipy.signal import spectrogram

from mkepipe.data.synthetic import MARKER, is_synthetic_dir, read_synth_params
from mkepipe.experiments.ravdess.cli import add_parser as add_ravdess_parser
from mkepipe.experiments.vggsound._sound import render_source
from mkepipe.experiments.vggsound.cli import add_parser
from mkepipe.experiments.vggsound.config import SYNTH_CLASSES, VggsoundSynthConfig
from mkepipe.experiments.vggsound.synth import (
    SYNTH_VERSION,
    class_entries,
    clip_specs,
    render_vggsound_clip,
    write_synthetic_vggsound,
)
from mkepipe.media.decode import read_audio_track, read_video, read_wav

CFG = VggsoundSynthConfig(labeled_clips=16, train_clips=8, test_clips=8, two_label_share=0.5, duration_s=1.5,
                          size=32, seed=3)
YTID = re.compile(r"^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$")
SEGMENT = re.compile(r'^([A-Za-z0-9_-]{11}), (\d+)\.000, (\d+\.\d{3}), "(/[mtg]/[^",]+(?:,/[mtg]/[^",]+)*)"$')
PAIRS = (("violin", "cello"), ("trumpet", "saxophone"), ("rain", "waterfall"), ("helicopter", "lawn_mower"))


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("vggsound")
    return out, write_synthetic_vggsound(out, CFG, workers=1)


def _segments(out):
    lines = (out / "audioset" / "balanced_train_segments.csv").read_text().splitlines()
    return lines[:3], [SEGMENT.match(line) for line in lines[3:]]


def test_layout_and_names(synth):
    out, summary = synth
    assert summary["clips"] == {"labeled": 16, "train": 8, "test": 8} and summary["files"] == 32
    assert summary["version"] == SYNTH_VERSION and read_synth_params(out) == summary
    assert (out / MARKER).exists() and is_synthetic_dir(out)
    assert json.loads((out / "synth.json").read_text())["classes"] == list(SYNTH_CLASSES)
    _, rows = _segments(out)
    wavs = sorted(p.name for p in (out / "audioset" / "audio").iterdir())
    assert wavs == sorted(f"{m[1]}_{m[2]}.wav" for m in rows)
    vgg = list(csv.reader((out / "vggsound" / "vggsound.csv").open()))
    mp4s = sorted(p.name for p in (out / "vggsound" / "video").iterdir())
    assert mp4s == sorted(f"{r[0]}_{int(r[1]):06d}.mp4" for r in vgg)
    ids = [m[1] for m in rows] + [r[0] for r in vgg]
    assert len(set(ids)) == 32 and all(YTID.match(i) for i in ids)
    assert any("-" in i or "_" in i for i in ids)
    assert all(0 <= int(r[1]) <= 290 for r in vgg) and not any(".tmp" in n for n in wavs + mp4s)


def test_audioset_csvs(synth):
    out, _ = synth
    text = (out / "audioset" / "class_labels_indices.csv").read_text()
    assert text.startswith("index,mid,display_name\n")
    assert '191,/m/07y_7,"Violin, fiddle"\n' in text and '0,/m/09x0r,"Speech"\n' in text
    classes = {r["mid"]: r["display_name"] for r in csv.DictReader(text.splitlines())}
    assert classes["/m/07y_7"] == "Violin, fiddle" and classes["/m/04rlf"] == "Music"
    head, rows = _segments(out)
    assert head[0].startswith("# Segments csv created ")
    assert head[2] == "# YTID, start_seconds, end_seconds, positive_labels"
    assert all(rows)
    labels = [m[4].split(",") for m in rows]
    n_labels = sum(map(len, labels))
    assert head[1] == (f"# num_ytids=16, num_segs=16, num_unique_labels={len({x for ls in labels for x in ls})}, "
                       f"num_positive_labels={n_labels}")
    assert all(float(m[3]) - int(m[2]) == pytest.approx(1.5) for m in rows)
    assert [m[1] for m in rows] == sorted(m[1] for m in rows)
    rendered = {e.mid for e in class_entries(CFG.classes)}
    assert set().union(*labels) <= set(classes)
    assert any(len(set(ls) & rendered) == 2 for ls in labels)  # two sources
    assert any(set(ls) - rendered for ls in labels)  # labels outside the class map, e.g. Music
    assert all(len(set(ls) & rendered) >= 1 for ls in labels)


def test_vggsound_csv(synth):
    out, _ = synth
    raw = (out / "vggsound" / "vggsound.csv").read_text()
    rows = list(csv.reader(raw.splitlines()))
    assert all(len(r) == 4 and r[1].isdigit() for r in rows)  # no header
    assert ',"playing violin, fiddle",' in raw
    labels = {e.vggsound_label for e in class_entries(CFG.classes)}
    for split in ("train", "test"):  # single label, class balanced
        assert sorted(r[2] for r in rows if r[3] == split) == sorted(labels)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_files_decode(synth):
    out, _ = synth
    mp4 = next((out / "vggsound" / "video").iterdir())
    with av.open(str(mp4)) as c:
        (video,), (audio,) = c.streams.video, c.streams.audio
        assert video.codec_context.name == "h264" and video.average_rate == CFG.fps
        assert (video.codec_context.height, video.codec_context.width) == (32, 32)
        assert audio.codec_context.name == "aac" and audio.rate == 16_000 and audio.channels == 1
    clip = read_video(mp4, 1 / CFG.fps)
    assert clip.frames.shape == (12, 32, 32, 3)
    sound, rate = read_audio_track(mp4)
    assert rate == 16_000 and abs(len(sound) - 24_000) <= 3 * 1024  # AAC priming and padding
    wav = next((out / "audioset" / "audio").iterdir())
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()) == (16_000, 2, 1, 24_000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert 0 < np.abs(pcm).max() < 32767


def test_same_output_with_two_workers(synth, tmp_path):
    out, summary = synth
    again = write_synthetic_vggsound(tmp_path, CFG, workers=2)
    assert again == summary
    for name in ("audioset/class_labels_indices.csv", "audioset/balanced_train_segments.csv", "vggsound/vggsound.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
    for wav in (out / "audioset" / "audio").iterdir():
        assert (tmp_path / "audioset" / "audio" / wav.name).read_bytes() == wav.read_bytes()
    for mp4 in sorted((out / "vggsound" / "video").iterdir())[:4]:
        twin = tmp_path / "vggsound" / "video" / mp4.name
        assert np.array_equal(read_audio_track(twin)[0], read_audio_track(mp4)[0])
        # the rendered frames are equal (below); the encoded ones may differ by a level or two
        diff = read_video(twin, 0.5).frames.astype(int) - read_video(mp4, 0.5).frames
        assert np.abs(diff).mean() < 4
    spec = next(s for s in clip_specs(CFG, class_entries(CFG.classes)) if s.split == "train")
    first, second = render_vggsound_clip(CFG, spec), render_vggsound_clip(CFG, spec)
    assert np.array_equal(first.frames, second.frames) and np.array_equal(first.audio, second.audio)
    other = write_synthetic_vggsound(tmp_path / "seed4", CFG.model_copy(update={"seed": 4}), workers=1)
    assert other["clips"] == summary["clips"]
    assert read_wav(sorted((tmp_path / "seed4" / "audioset" / "audio").iterdir())[0])[0].shape == (24_000,)
    csv_name = "vggsound/vggsound.csv"
    assert (tmp_path / "seed4" / csv_name).read_bytes() != (out / csv_name).read_bytes()


def test_faint_stretch_is_fainter():
    cfg = CFG.model_copy(update={"duration_s": 4.0, "test_clips": 16})
    specs = [s for s in clip_specs(cfg, class_entries(cfg.classes)) if s.split == "test"]
    ratios = []
    for spec in specs:
        clip = render_vggsound_clip(cfg, spec)
        t = np.arange(len(clip.audio)) / cfg.sample_rate
        t0, t1 = clip.faint
        assert 0.2 * 4.0 - 1e-6 <= t1 - t0 <= 0.6 * 4.0 + 1e-6 and len(clip.frames) == 32
        rms = [np.sqrt(np.mean(clip.audio[m].astype(float) ** 2))
               for m in ((t > t0 + 0.2) & (t < t1 - 0.2), (t < t0 - 0.2) | (t > t1 + 0.2))]
        ratios.append(rms[0] / rms[1])
    assert max(ratios) < 0.7 and np.median(ratios) < 0.4


def _sound_features(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral envelope (mean log spectrum) and envelope modulation spectrum, 8–70 Hz."""
    f, _, s = spectrogram(audio, sr, nperseg=512, noverlap=256)
    envelope = np.log(s.mean(1) + 1e-10)
    f, _, s = spectrogram(audio, sr, nperseg=128, noverlap=64)  # 250 frames/s
    power = s[(f > 100) & (f < 4000)].sum(0)
    m = np.abs(np.fft.rfft((power - power.mean()) * np.hanning(len(power)))) ** 2
    fm = np.fft.rfftfreq(len(power), 64 / sr)
    m = m[(fm >= 8) & (fm <= 70)]
    return envelope - envelope.mean(), np.log(m / m.sum() + 1e-12)


def test_pairs_overlap_more_than_unpaired_classes():
    """Sources of a pair are closer in spectral envelope and temporal modulation than the
    typical unrelated source: what makes an audio-only model confuse them."""
    sr, n = 16_000, 32_000
    feats = {}
    for c, name in enumerate(SYNTH_CLASSES):
        parts = [_sound_features(render_source(name, n, sr, np.random.default_rng([c, i])).audio, sr) for i in range(8)]
        feats[name] = [np.mean([p[k] for p in parts], 0) for k in (0, 1)]

    def dist(a, b):
        return sum(np.sqrt(np.mean((feats[a][k] - feats[b][k]) ** 2)) for k in (0, 1))

    partner = {a: b for pair in PAIRS for a, b in (pair, pair[::-1])}
    for a in SYNTH_CLASSES:
        unpaired = [dist(a, b) for b in SYNTH_CLASSES if b not in (a, partner[a])]
        assert dist(a, partner[a]) < np.median(unpaired), a


def test_unknown_class_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dog"):
        write_synthetic_vggsound(tmp_path, CFG.model_copy(update={"classes": ("violin", "dog")}))


def test_cli_writes_a_dataset(tmp_path):
    parser = argparse.ArgumentParser(prog="mke")
    sub = parser.add_subparsers(dest="command")
    add_ravdess_parser(sub)
    add_parser(sub)
    args = parser.parse_args(["data", "synth-vggsound", "--out", str(tmp_path / "d"), "--classes", "violin", "rain",
                              "--labeled-clips", "8", "--train-clips", "8", "--test-clips", "8", "--duration-s", "1.0",
                              "--size", "32", "--figure", str(tmp_path / "f.png"), "--workers", "1"])
    assert args.classes == ["violin", "rain"] and args.func.__name__ == "synth_vggsound"
    assert parser.parse_args(["data", "synth-ravdess", "--out", str(tmp_path)]).func.__name__ == "synth_ravdess"
    assert args.func(args) == 0
    params = read_synth_params(tmp_path / "d")
    assert params["classes"] == ["violin", "rain"] and params["clips"] == {"labeled": 8, "train": 8, "test": 8}
    assert len(list((tmp_path / "d" / "vggsound" / "video").iterdir())) == 16
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
