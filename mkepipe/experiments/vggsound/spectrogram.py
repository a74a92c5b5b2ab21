"""The VGGSound reference audio features, in torch.

The reference loader computes ``scipy.signal.spectrogram(x, 16000, nperseg=512,
noverlap=353)`` — Tukey(0.25) window, each segment's mean removed, one-sided power
spectral density (257 bins, hop 159) — then ``log(S + 1e-7)`` and standardises each clip
with its own mean and standard deviation. A 5 s crop at 16 kHz (80000 samples) gives
257 × 500. :class:`Spectrogram` computes the same on CPU or GPU, for one clip or a batch.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy.signal import get_window

LOG_EPS = 1e-7
STD_EPS = 1e-9


def frames_for(seconds: float, sample_rate: int = 16_000, nperseg: int = 512, noverlap: int = 353) -> int:
    """STFT frames of a clip of ``seconds`` (5 s at 16 kHz with the defaults → 500)."""
    samples = int(round(seconds * sample_rate))
    if samples < nperseg:
        raise ValueError(f"{seconds:g} s ({samples} samples) is shorter than one {nperseg}-sample window")
    return (samples - nperseg) // (nperseg - noverlap) + 1


def tile_to(audio: np.ndarray, n: int) -> np.ndarray:
    """Repeat a clip shorter than ``n`` samples end to end and cut it to ``n`` (as the
    reference loader does); a clip of ``n`` samples or more is returned as it is."""
    if len(audio) == 0:
        raise ValueError("cannot tile an empty clip")
    if len(audio) >= n:
        return audio
    return np.tile(audio, math.ceil(n / len(audio)))[:n]


class Spectrogram:
    """``scipy.signal.spectrogram`` with its defaults (Tukey(0.25), constant detrend,
    density scaling, one-sided) in torch, and the reference's log-standardised features.

    Takes a mono numpy array (returns numpy float32 (freq_bins, frames)) or a tensor
    (..., samples) (returns a tensor (..., freq_bins, frames) on its device)."""

    def __init__(self, nperseg: int = 512, noverlap: int = 353, sample_rate: int = 16_000) -> None:
        if not 0 <= noverlap < nperseg:
            raise ValueError(f"need 0 <= noverlap < nperseg, got {noverlap}, {nperseg}")
        self.nperseg, self.noverlap, self.sample_rate = nperseg, noverlap, sample_rate
        self.hop = nperseg - noverlap
        self.bins = nperseg // 2 + 1
        window = get_window(("tukey", 0.25), nperseg)
        self.window = torch.from_numpy(window)  # float64; cast to each input's dtype
        self.scale = 1.0 / (sample_rate * float((window ** 2).sum()))

    def frames_for(self, seconds: float) -> int:
        """STFT frames of a clip of ``seconds``."""
        return frames_for(seconds, self.sample_rate, self.nperseg, self.noverlap)

    def psd(self, audio: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """The power spectral density, as ``scipy.signal.spectrogram(audio, sample_rate,
        nperseg=nperseg, noverlap=noverlap)[2]``."""
        return self._apply(audio, self._psd)

    def features(self, audio: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """``log(psd + 1e-7)``, standardised over each clip's whole spectrogram."""
        return self._apply(audio, self._features)

    __call__ = features

    @staticmethod
    def _apply(audio: np.ndarray | torch.Tensor,
               fn: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray | torch.Tensor:
        if isinstance(audio, torch.Tensor):
            return fn(audio if audio.is_floating_point() else audio.float())
        return fn(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))).contiguous().numpy()

    def _psd(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < self.nperseg:
            raise ValueError(f"{x.shape[-1]} samples is shorter than one {self.nperseg}-sample window; "
                             "tile the clip first")
        segments = x.unfold(-1, self.nperseg, self.hop)  # (..., frames, nperseg)
        segments = (segments - segments.mean(-1, keepdim=True)) * self.window.to(x)
        s = torch.fft.rfft(segments).abs().square() * self.scale
        # one-sided: every bin but DC (and Nyquist, for an even window) stands for two
        last = -1 if self.nperseg % 2 == 0 else None
        s[..., 1:last] *= 2
        return s.transpose(-1, -2)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.log(self._psd(x) + LOG_EPS)
        mean = s.mean(dim=(-2, -1), keepdim=True)
        std = s.std(dim=(-2, -1), correction=0, keepdim=True)
        return (s - mean) / (std + STD_EPS)
