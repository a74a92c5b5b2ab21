"""The synthetic RAVDESS: real layout and formats, determinism, and physical properties."""
from __future__ import annotations

import argparse
import wave

import av
import numpy as np
import pytest

from mkepipe.experiments.nyu.cli import add_parser as add_nyu_parser
from mkepipe.experiments.ravdess._face import AUS, PROTOTYPES, FaceRenderer, clip_motion
from mkepipe.experiments.ravdess.cli import add_parser
from mkepipe.experiments.ravdess.config import RavdessSynthConfig
from mkepipe.experiments.ravdess.synth import actor_traits, file_name, render_trial, trials, write_synthetic_ravdess

CFG = RavdessSynthConfig(n_actors=2, height=48, width=64, duration_s=1.5, wav_actors=1, seed=3)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("ravdess")
    return out, write_synthetic_ravdess(out, CFG, workers=1)


def test_layout_and_names(synth):
    out, summary = synth
    assert summary["clips"] == 120 and summary["files"] == 180
    grid = trials()
    assert len(grid) == len(set(grid)) == 60 and (1, 2, 1, 1) not in grid
    for actor in (1, 2):
        names = sorted(p.name for p in (out / f"Actor_{actor:02d}").iterdir())
        mp4 = sorted(file_name(1, *t, actor) for t in grid)
        wav = sorted(file_name(3, *t, actor) for t in grid) if actor == 1 else []
        assert names == sorted(mp4 + wav)
    assert "01-01-06-01-02-01-02.mp4" in names and not any(".tmp-" in n for n in names)


def test_files_decode(synth):
    out, _ = synth
    with av.open(str(out / "Actor_01" / "01-01-03-02-01-02-01.mp4")) as c:
        (video,), (audio,) = c.streams.video, c.streams.audio
        assert video.codec_context.name == "h264" and video.average_rate == CFG.fps
        assert (video.codec_context.height, video.codec_context.width) == (48, 64)
        assert audio.codec_context.name == "aac" and audio.rate == 48_000
        n_aac = sum(f.samples for f in c.decode(audio=0))
    with wave.open(str(out / "Actor_01" / "03-01-03-02-01-02-01.wav")) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (48_000, 2, 1)
        n_wav = w.getnframes()
        pcm = np.frombuffer(w.readframes(n_wav), "<i2")
    assert abs(n_aac - n_wav) <= 3 * 1024  # AAC priming and last-frame padding
    assert 0 < np.abs(pcm).max() < 32767  # audible, with headroom
    assert 1.5 * 0.85 * 48_000 <= n_wav <= 1.5 * 1.15 * 48_000


def test_deterministic_by_seed(synth, tmp_path):
    out, _ = synth
    name = "03-01-05-02-02-01-01.wav"
    small = CFG.model_copy(update={"n_actors": 1})
    again = write_synthetic_ravdess(tmp_path / "a", small, workers=1)
    assert again["clips"] == 60
    assert (tmp_path / "a" / "Actor_01" / name).read_bytes() == (out / "Actor_01" / name).read_bytes()
    _, audio_other = render_trial(small.model_copy(update={"seed": 4}), 1, (5, 2, 2, 1))
    _, audio_same = render_trial(small, 1, (5, 2, 2, 1))
    assert audio_other.shape != audio_same.shape or not np.array_equal(audio_other, audio_same)


def test_expressions_differ_at_apex():
    """Same actor, light, pose and noise; only the AUs at a strong apex change."""
    actor = actor_traits(0, 2)[0]
    motion = clip_motion(actor, "neutral", 2, np.zeros(1), np.random.default_rng(0))
    motion.blink[:] = 0
    renderer = FaceRenderer(actor, 96, 128)
    noise = np.zeros((96, 128, 3), np.float32)
    apex = {}
    for name, proto in PROTOTYPES.items():
        motion.aus[0] = [proto.get(au, 0.0) for au in AUS]
        apex[name] = renderer.frame(motion, 0, noise).astype(float)
    diff = lambda a, b: np.abs(apex[a] - apex[b]).mean()  # noqa: E731
    names = list(apex)
    assert all(diff(a, b) > 0.05 for i, a in enumerate(names) for b in names[i + 1:])
    assert diff("happy", "sad") > diff("neutral", "calm")  # calm is the closest to neutral


def test_angry_strong_louder_than_sad_normal():
    for actor in (1, 2):
        _, angry = render_trial(CFG, actor, (5, 2, 1, 1))
        _, sad = render_trial(CFG, actor, (4, 1, 1, 1))
        rms = lambda x: float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))  # noqa: E731
        assert rms(angry) > 2.0 * rms(sad)  # ~+10 dB of effort against -3.5 dB
        assert np.abs(angry).max() <= 0.9 + 1e-6


def test_cli_shares_data_command(tmp_path):
    parser = argparse.ArgumentParser(prog="mke")
    sub = parser.add_subparsers(dest="command")
    add_nyu_parser(sub)
    add_parser(sub)
    args = parser.parse_args(["data", "synth-ravdess", "--out", str(tmp_path), "--n-actors", "1", "--height", "48",
                              "--width", "64", "--duration-s", "1.0", "--wav-actors", "0"])
    assert args.n_actors == 1 and args.duration_s == 1.0 and args.func.__name__ == "synth_ravdess"
    assert parser.parse_args(["data", "synth-nyu", "--out", str(tmp_path)]).func.__name__ == "synth_nyu"
    fresh = argparse.ArgumentParser(prog="mke").add_subparsers(dest="command")
    add_parser(fresh)
    assert "synth-ravdess" in fresh.choices["data"]._actions[-1].choices
