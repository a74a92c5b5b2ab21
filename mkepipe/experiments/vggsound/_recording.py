"""How the synthetic AudioSet → VGGSound clips were recorded (docs/vggsound_data.md).

:data:`CONDITIONS`, :data:`DOMAINS`: a *close* recording (high SNR, mostly direct sound,
quiet room or preamp noise, a flat microphone) or a *camera* recording, filmed where the
camera sees the source, at a distance with its own microphone (lower SNR, more of the
room's reverberation, crowd, traffic, wind or mains-hum backgrounds, the small capsule's
low cut and presence peak). Indoors a room reverberates (RT60 0.2–1.2 s), outdoors only
nearby surfaces reflect (0.05–0.3 s), and the background fits the place. Both datasets
come from YouTube, but VGGSound kept only clips whose source is visible: all its clips
are camera recordings, while two thirds of the AudioSet-style clips are close ones. This
covariate shift is what a student trained on VGGSound pseudo labels adapts to and its
AudioSet-trained teacher does not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from mkepipe.experiments.vggsound._dsp import _bumps_db, _cut_db, _filter, _log_uniform, _noise, _rms, _slow, _u, _unit


@dataclass(frozen=True)
class Conditions:
    """How one dataset's clips were recorded (ranges, drawn per clip)."""

    snr_db: tuple[float, float]  # audible source over background, RMS
    drr_db: tuple[float, float]  # direct-to-reverberant energy: distance to the source
    rt60_s: tuple[float, float]  # reverberation time indoors (outdoors: OUTDOOR_RT60_S)
    indoor: tuple[str, ...]  # backgrounds
    outdoor: tuple[str, ...]
    highpass_hz: tuple[float, float]  # microphone low cut
    presence_db: tuple[float, float]  # small-capsule peak at 2–5 kHz
    tilt_db: tuple[float, float]  # dB/octave about 1 kHz
    level_dbfs: tuple[float, float]  # RMS of the file


OUTDOOR_RT60_S = (0.05, 0.3)  # only the ground, walls and trees reflect
CONDITIONS = {
    "close": Conditions((15, 35), (4, 14), (0.2, 0.6), ("room", "hiss"), ("hiss", "wind", "traffic"), (20, 60),
                        (0, 1), (-1, 1), (-24, -16)),
    "camera": Conditions((3, 20), (-6, 4), (0.3, 1.2), ("room", "babble", "hum"), ("wind", "traffic", "babble"),
                         (60, 150), (2, 6), (-1, 1), (-32, -18)),
}
DOMAINS = {"audioset": {"close": 0.5, "camera": 0.5}, "vggsound": {"camera": 1.0}}  # share of each condition


def _background(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS ambience of a scene."""
    if kind == "hiss":  # preamp and converter noise
        return _noise(n, sr, rng, lambda f: 10 ** (-1.5 * np.log2(np.maximum(f, 20) / 1000) / 20))
    if kind == "room":  # ventilation rumble over pink noise
        rumble = _log_uniform(rng, 60, 200)
        return _noise(n, sr, rng, lambda f: 10 ** ((_bumps_db(f, ((rumble, 1.0, 12.0),))
                                                    - 3 * np.log2(np.maximum(f, 20) / 1000)) / 20))
    if kind == "wind":  # gusts buffeting the microphone: low-frequency, strongly modulated
        corner = rng.uniform(100, 300)
        rumble = _noise(n, sr, rng, lambda f: 10 ** (_cut_db(f, 10, 0, corner, 9) / 20))
        return _unit(rumble * np.exp(0.7 * _slow(n, sr, rng, rng.uniform(0.2, 1.0))))
    if kind == "babble":  # several talkers at a distance: speech-shaped noise with syllabic modulation
        t = np.arange(n) / sr
        talkers = sum(np.abs(np.sin(np.pi * rng.uniform(3, 6) * t + rng.uniform(0, np.pi))) ** 2
                      * np.exp(0.5 * _slow(n, sr, rng, 0.3)) for _ in range(int(rng.integers(3, 7))))
        return _unit(_noise(n, sr, rng, lambda f: 10 ** ((_bumps_db(f, ((500.0, 1.3, 15.0),))
                                                          + _cut_db(f, 150, 12, 4000, 12)) / 20)) * talkers)
    if kind == "traffic":  # road noise with vehicles passing
        t = np.arange(n) / sr
        swells = 0.3 + sum(np.exp(-0.5 * ((t - rng.uniform(-2, n / sr + 2)) / rng.uniform(1, 3)) ** 2)
                           for _ in range(int(rng.integers(1, 4))))
        return _unit(_noise(n, sr, rng, lambda f: 10 ** (-5 * np.log2(np.maximum(f, 30) / 100) / 20)) * swells)
    if kind == "hum":  # mains hum (odd harmonics strongest) and a fan
        mains = rng.choice((50.0, 60.0))
        t = np.arange(n) / sr
        hum = sum(np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi)) / k ** (0.5 if k % 2 else 1.2)
                  for k in range(1, 8))
        blade = _log_uniform(rng, 200, 800)
        fan = _noise(n, sr, rng, lambda f: 10 ** (_bumps_db(f, ((blade, 1.0, 10.0),)) / 20))
        return _unit(_unit(hum) + rng.uniform(0.5, 2.0) * fan)
    raise ValueError(f"unknown background {kind!r}")


def _room(sr: int, rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    """Impulse response: the direct sound, then a diffuse tail decaying 60 dB in ``rt60`` s
    (exponentially decaying noise after a few ms) at ``drr_db`` below the direct sound."""
    t = np.arange(int(rt60 * sr)) / sr
    tail = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60)
    tail[:int(0.004 * sr)] = 0
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail ** 2) + 1e-12))
    tail[0] = 1.0
    return tail


def record(dry: np.ndarray, sr: int, rng: np.random.Generator, domain: str, outdoor: bool,
           audible: np.ndarray | None = None) -> np.ndarray:
    """The sources ``dry`` (at the source) as a clip of ``domain`` (a key of :data:`DOMAINS`)
    records them indoors or outdoors: room → the scene's background at the clip's SNR
    (against the sources where ``audible``, a mask; default everywhere) → microphone → file
    level. Mono float32 in [-0.95, 0.95]."""
    kinds = DOMAINS[domain]
    c = CONDITIONS[str(rng.choice(list(kinds), p=list(kinds.values())))]
    n = len(dry)
    rt60 = _u(rng, OUTDOOR_RT60_S if outdoor else c.rt60_s)
    wet = fftconvolve(dry, _room(sr, rng, rt60, _u(rng, c.drr_db)))[:n]
    ref = wet if audible is None or not audible.any() else wet[audible]
    bg = _background(str(rng.choice(c.outdoor if outdoor else c.indoor)), n, sr, rng)
    mix = wet + bg * _rms(ref) * 10 ** (-_u(rng, c.snr_db) / 20)
    hp, tilt = _u(rng, c.highpass_hz), _u(rng, c.tilt_db)
    presence = ((min(_u(rng, (2000, 5000)), 0.4 * sr), 0.6, _u(rng, c.presence_db)),)

    def mic(f: np.ndarray) -> np.ndarray:
        butter2 = (f / hp) ** 2 / np.sqrt(1 + (f / hp) ** 4)
        return butter2 * 10 ** ((_bumps_db(f, presence) + tilt * np.log2(np.maximum(f, 1) / 1000)) / 20)

    y = _filter(mix, sr, mic)
    y *= 10 ** (_u(rng, c.level_dbfs) / 20) / _rms(y)
    peak = float(np.abs(y).max())
    return (y * min(1.0, 0.95 / peak)).astype(np.float32)
