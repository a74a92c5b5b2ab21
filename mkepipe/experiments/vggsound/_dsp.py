"""Signal helpers of the synthetic sound: random draws, levels, spectral shapes applied in
the frequency domain on the whole signal (zero phase), shaped noise, impulse trains and
resonators. Levels are RMS."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import fft
from scipy.signal import lfilter


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _u(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(rng.uniform(*span))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) + 1e-12


def _unit(x: np.ndarray) -> np.ndarray:
    return x / _rms(x)


def _bumps_db(f: np.ndarray, bumps: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    """Resonances as Gaussian bumps in log frequency: (centre Hz, width octaves, gain dB)."""
    lf = np.log2(np.maximum(f, 1.0))
    return sum((g * np.exp(-0.5 * ((lf - np.log2(c)) / w) ** 2) for c, w, g in bumps), np.zeros_like(lf))


def _cut_db(f: np.ndarray, low_hz: float, low_slope: float, high_hz: float, high_slope: float) -> np.ndarray:
    """dB/octave roll-offs below ``low_hz`` and above ``high_hz``."""
    lf = np.log2(np.maximum(f, 1.0))
    return -low_slope * np.maximum(np.log2(low_hz) - lf, 0) - high_slope * np.maximum(lf - np.log2(high_hz), 0)


def _filter(x: np.ndarray, sr: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return fft.irfft(fft.rfft(x) * gain(fft.rfftfreq(len(x), 1 / sr)), len(x))


def _noise(n: int, sr: int, rng: np.random.Generator, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Gaussian noise of spectrum |gain(f)|², unit RMS (drawn as its spectrum: one FFT)."""
    m = n // 2 + 1
    spectrum = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    return _unit(fft.irfft(spectrum * gain(fft.rfftfreq(n, 1 / sr)), n))


def _band(lo: float, hi: float, slope: float = 12.0) -> Callable[[np.ndarray], np.ndarray]:
    return lambda f: 10 ** (_cut_db(f, lo, slope, hi, slope) / 20)


def _slow(n: int, sr: int, rng: np.random.Generator, hz: float, control: int = 200) -> np.ndarray:
    """A smooth random process with unit standard deviation and ~``hz`` bandwidth (drawn at
    ``control`` samples/s, interpolated to ``sr``)."""
    m = max(int(n * control / sr), 2)
    coarse = _noise(m, control, rng, lambda f: np.exp(-0.5 * (f / hz) ** 2))
    return np.interp(np.arange(n) * (control / sr), np.arange(m), coarse)


def _train(n: int, sr: int, rng: np.random.Generator, rate: float, sigma: float) -> np.ndarray:
    """Poisson impulses at ``rate``/s with log-normal amplitudes."""
    k = rng.poisson(rate * n / sr)
    out = np.zeros(n)
    np.add.at(out, rng.integers(0, n, k), rng.lognormal(0.0, sigma, k))
    return out


def _ring(train: np.ndarray, sr: int, hz: float, tau: float) -> np.ndarray:
    """Each impulse rings exp(-t/tau)·sin(2π·hz·t): a two-pole resonator."""
    r, w = np.exp(-1 / (tau * sr)), 2 * np.pi * hz / sr
    return lfilter([0.0, r * np.sin(w)], [1.0, -2 * r * np.cos(w), r * r], train)


def _decay(train: np.ndarray, sr: int, tau: float) -> np.ndarray:
    """Each impulse starts an exponential decay with time constant ``tau``."""
    return lfilter([1.0], [1.0, -np.exp(-1 / (tau * sr))], train)
