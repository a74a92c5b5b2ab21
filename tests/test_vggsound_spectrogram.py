"""The torch spectrogram against the VGGSound reference (``scipy.signal.spectrogram``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import chirp, spectrogram

from mkepipe.experiments.vggsound.spectrogram import Spectrogram, frames_for, tile_to

RATE = 16_000


def clip(seed: int = 0, seconds: float = 5.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.5 * chirp(t, 100, seconds, 6000) + 0.1 * noise + 0.05).astype(np.float32)


def reference_features(x: np.ndarray, nperseg: int = 512, noverlap: int = 353) -> np.ndarray:
    s = np.log(spectrogram(x, RATE, nperseg=nperseg, noverlap=noverlap)[2] + 1e-7)
    return (s - s.mean()) / (s.std() + 1e-9)


def test_psd_matches_scipy():
    x = clip()
    ours = Spectrogram().psd(x)
    ref = spectrogram(x, RATE, nperseg=512, noverlap=353)[2]
    assert ours.shape == ref.shape == (257, 500)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * ref.max())


@pytest.mark.parametrize("nperseg, noverlap", [(256, 96), (255, 100)])
def test_psd_matches_scipy_other_windows(nperseg, noverlap):
    x = clip(seconds=1.0)
    ref = spectrogram(x, RATE, nperseg=nperseg, noverlap=noverlap)[2]
    np.testing.assert_allclose(Spectrogram(nperseg, noverlap).psd(x), ref, rtol=0, atol=1e-4 * ref.max())


def test_features_are_the_reference_log_standardised():
    x = clip()
    feats = Spectrogram()(x)
    assert feats.shape == (257, 500) and feats.dtype == np.float32
    assert abs(float(feats.mean())) < 1e-4 and abs(float(feats.std()) - 1) < 1e-4
    np.testing.assert_allclose(feats, reference_features(x), atol=1e-3)


def test_batch_equals_one_at_a_time():
    spec = Spectrogram()
    a, b = clip(1), 3 * clip(2)
    batch = spec.features(torch.from_numpy(np.stack([a, b])))
    assert isinstance(batch, torch.Tensor) and batch.shape == (2, 257, 500)
    for i, x in enumerate((a, b)):
        torch.testing.assert_close(batch[i], torch.from_numpy(spec.features(x)), atol=1e-5, rtol=1e-5)


def test_frame_counts():
    assert frames_for(5.0) == 500
    assert Spectrogram().frames_for(5.0) == 500
    assert Spectrogram(256, 96).frames_for(2.0) == (32_000 - 256) // 160 + 1
    with pytest.raises(ValueError, match="shorter"):
        frames_for(0.01)
    with pytest.raises(ValueError, match="shorter"):
        Spectrogram().psd(np.zeros(100, np.float32))


def test_tile_to():
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(tile_to(x, 8), [0, 1, 2, 0, 1, 2, 0, 1])
    long = np.arange(10, dtype=np.float32)
    assert tile_to(long, 8) is long
    assert len(tile_to(clip(seconds=1.2), 80_000)) == 80_000
    with pytest.raises(ValueError, match="empty"):
        tile_to(np.zeros(0, np.float32), 8)
