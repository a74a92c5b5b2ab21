"""The media writers: the same input gives the same file (synthetic data is a function of
its parameters), and what is written decodes back."""
from __future__ import annotations

import hashlib

import numpy as np

from mkepipe.media.decode import read_audio_track, read_video
from mkepipe.media.encode import write_mp4


def _clip(n: int = 32, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A textured object drifting over a noisy background (motion for the encoder to
    search) and a tone: 4 s at 8 fps and 16 kHz."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:size, :size]
    base = (np.stack([xx, yy, xx + yy], axis=-1) * (60 / (2 * size)))
    frames = []
    for t in range(n):
        cx, cy = 20 + 1.7 * t, 30 + np.sin(t / 4) * 12
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 120.0)[..., None] * np.array([200, 120, 40])
        stripes = (np.sin((xx + 3 * t) / 3.0) * 30)[..., None]
        frames.append(np.clip(base + blob + stripes + rng.normal(0, 2, (size, size, 3)), 0, 255))
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(64_000) / 16_000)
    return np.stack(frames).astype(np.uint8), tone.astype(np.float32)


def test_mp4_is_a_function_of_its_input(tmp_path):
    frames, audio = _clip()
    digests = {hashlib.sha256(write_mp4(tmp_path / f"{k}.mp4", frames, 8.0, audio, 16_000).read_bytes()).hexdigest()
               for k in range(4)}
    assert len(digests) == 1
    video = read_video(tmp_path / "0.mp4", 1 / 8)
    assert video.frames.shape == frames.shape
    assert np.abs(video.frames.astype(int) - frames).mean() < 6
    samples, rate = read_audio_track(tmp_path / "0.mp4")
    assert rate == 16_000 and abs(len(samples) - len(audio)) < 2048
