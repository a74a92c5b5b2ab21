"""Sound sources and recording conditions for the synthetic AudioSet → VGGSound data.

Every property has a physical reason (docs/vggsound_data.md, "The synthetic default"):

* **Four pairs of sources an ear confuses.** Bowed strings (violin, cello): Helmholtz
  motion of the string gives a sawtooth-like harmonic series (amplitudes ~1/k) with rosin
  noise, coloured by the body's air and wood modes, a bridge hill and many narrow plate
  modes (a jagged response); the cello is a violin about twice as large, so its air and
  wood modes sit ×0.45 lower and its bridge hill lower too, its notes are longer and its
  bow attacks slower, but the pitch ranges overlap. Lip- and reed-driven winds (trumpet,
  saxophone): both bores carry the full harmonic series; the trumpet's mouthpiece cup
  gives a formant near 1.2 kHz, its bell radiates the low harmonics poorly and loud
  playing flattens its spectrum (brassiness), while the saxophone's reed gives a steeper
  slope, a formant near 800 Hz and audible breath noise; the concert ranges overlap from
  165 to 830 Hz. Falling water (rain, waterfall), one model in different proportions:
  drops hitting a surface, a share ringing entrained bubbles (Minnaert resonance,
  f ≈ 3.26 m·Hz / radius: small bubbles, 1.5–8 kHz), water in bulk roaring, and a plunge
  pool's larger bubbles (0.25–3 kHz); heavy rain merges into steady noise like a small
  cascade. Periodic engines (helicopter, lawn mower): a main rotor's blade-passage
  frequency (2–5 blades × 4–7 rev/s = 11–26 Hz) modulates broadband noise (blade slap)
  over a tail-rotor buzz and a turbine whine or piston exhaust, dulled by 30–300 m of
  air; a mower's single cylinder fires at rpm/120 (four-stroke, 23–29 Hz) or rpm/60
  (two-stroke, 47–58 Hz), each exhaust pulse ringing in the muffler, with blade-tip buzz
  and grass-cutting bursts. Per clip, pitch, tempo, rates and timbre are drawn within
  these ranges.

Recording conditions: :mod:`._recording`. Filters act in the frequency domain on the whole
clip (zero phase); levels are RMS.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import fft

from mkepipe.experiments.vggsound._dsp import (
    _band,
    _bumps_db,
    _cut_db,
    _decay,
    _filter,
    _log_uniform,
    _noise,
    _ring,
    _slow,
    _train,
    _u,
    _unit,
)

TABLE = 2048  # samples of one period of a note's waveform
MAJOR = (0, 2, 4, 5, 7, 9, 11)


@dataclass
class Source:
    """A rendered source: dry audio at unit RMS and what the picture moves with."""

    audio: np.ndarray
    notes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (onset s, end s, f0 Hz) per note
    rate: float = 0.0  # rotor rev/s, engine firing Hz, rain drops/s or waterfall flow (heights/s)
    blades: int = 0


def _period(amps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One period, :data:`TABLE` samples, of Σ amps[k-1] sin(kθ + φ_k) with random phases."""
    k = np.arange(1, len(amps) + 1)
    spectrum = np.zeros(TABLE // 2 + 1, complex)
    spectrum[k] = TABLE / 2 * amps * np.exp(1j * (rng.uniform(0, 2 * np.pi, len(k)) - np.pi / 2))
    return fft.irfft(spectrum, TABLE)


def _lookup(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """The periodic waveform ``table`` at running cycle counts (linear interpolation)."""
    pos = cycles * TABLE
    i = pos.astype(np.int64)
    frac = pos - i
    return table[i % TABLE] * (1 - frac) + table[(i + 1) % TABLE] * frac


# --- instruments: notes of a harmonic series shaped by a body / bore ------------------------------------------

@dataclass(frozen=True)
class Instrument:
    """Ranges of one instrument's clips; each clip draws its player's values."""

    centre_hz: tuple[float, float]  # centre of the melody (log-uniform)
    floor_hz: float  # lowest note
    ceil_hz: float  # highest note
    note_s: tuple[float, float]  # typical note length: tempo
    attack_s: tuple[float, float]
    release_s: tuple[float, float]
    vibrato_hz: tuple[float, float]
    vibrato_cents: tuple[float, float]
    slope: tuple[float, float]  # harmonic k has amplitude k^-slope before the body
    bumps: tuple[tuple[float, float, float], ...]  # body resonances / formants (Hz, octaves, dB)
    low: tuple[float, float]  # (corner Hz, dB/octave) roll-off below
    high: tuple[float, float]  # (corner Hz, dB/octave) roll-off above
    noise_db: tuple[float, float]  # bow or breath noise relative to the tone
    noise_band: tuple[float, float]
    rest_p: float  # chance of a pause (bow change, breath) after a note
    blip: float = 0.0  # attack overshoot of lip-reed instruments
    modes: int = 0  # narrow body modes between the lowest resonance and the high roll-off


VIOLIN_BUMPS = ((280.0, 0.25, 6.0), (500.0, 0.4, 8.0), (2500.0, 0.7, 8.0))  # A0 air mode, B1 wood modes, bridge hill
CELLO_BUMPS = ((125.0, 0.25, 6.0), (225.0, 0.4, 8.0), (1600.0, 0.7, 8.0))  # body modes ×0.45; the bridge less so
INSTRUMENTS = {
    "violin": Instrument((220, 660), 196, 2100, (0.18, 0.45), (0.03, 0.08), (0.04, 0.10), (5.5, 7.0), (10, 30),
                         (0.9, 1.1), VIOLIN_BUMPS, (250, 12), (4500, 12), (-30, -22), (1000, 5000), 0.08, modes=24),
    "cello": Instrument((130, 440), 65, 1000, (0.28, 0.70), (0.05, 0.12), (0.06, 0.15), (4.5, 6.5), (10, 30),
                        (0.9, 1.1), CELLO_BUMPS, (110, 12), (4000, 12), (-30, -22), (700, 4000), 0.08, modes=24),
    "trumpet": Instrument((260, 700), 165, 1000, (0.15, 0.45), (0.015, 0.04), (0.03, 0.08), (5.0, 6.5), (0, 12),
                          (0.6, 1.4), ((1200.0, 0.6, 10.0),), (500, 6), (5000, 10), (-40, -32), (1500, 6000), 0.15,
                          blip=0.5),
    "saxophone": Instrument((150, 520), 104, 830, (0.15, 0.45), (0.025, 0.07), (0.04, 0.10), (4.5, 6.0), (10, 40),
                            (1.0, 1.8), ((800.0, 0.6, 8.0),), (150, 6), (4000, 10), (-26, -18), (1500, 6000), 0.15,
                            blip=0.15),
}


def _melody(rng: np.random.Generator, inst: Instrument, duration: float) -> np.ndarray:
    """(onset, end, f0) of a diatonic random walk around the player's centre; the clip is
    cut from a longer performance, so the first note may have begun before it."""
    centre, note_s = _log_uniform(rng, *inst.centre_hz), _u(rng, inst.note_s)
    notes, degree, t = [], 0, -rng.uniform(0, note_s)
    while t < duration:
        d = note_s * rng.lognormal(0.0, 0.3)
        degree = int(np.clip(degree + rng.choice((-2, -1, -1, 0, 1, 1, 2)), -4, 4))
        semis = 12 * (degree // 7) + MAJOR[degree % 7]
        notes.append((t, t + d, float(np.clip(centre * 2 ** (semis / 12), inst.floor_hz, inst.ceil_hz))))
        t += d + (rng.uniform(0.05, 0.3) if rng.random() < inst.rest_p else 0.0)
    return np.array(notes)


def _instrument(name: str, n: int, sr: int, rng: np.random.Generator) -> Source:
    inst = INSTRUMENTS[name]
    # this instrument's resonances: ±8 % in frequency, ±2 dB (no two bodies or mouthpieces are alike)
    bumps = tuple((c * rng.lognormal(0, 0.08), w, g + rng.uniform(-2, 2)) for c, w, g in inst.bumps)
    if inst.modes:  # a wooden body's many plate modes: a jagged response, a smooth bore's has none
        lo, hi = inst.bumps[0][0], inst.high[0]
        bumps += tuple((_log_uniform(rng, lo, hi), rng.uniform(0.04, 0.1), rng.uniform(-6, 6))
                       for _ in range(inst.modes))
    slope = _u(rng, inst.slope)
    attack, release = _u(rng, inst.attack_s), _u(rng, inst.release_s)
    vib_hz, cents = _u(rng, inst.vibrato_hz), _u(rng, inst.vibrato_cents)

    def body_db(f: np.ndarray) -> np.ndarray:
        return _bumps_db(f, bumps) + _cut_db(f, *inst.low, *inst.high)

    notes = _melody(rng, inst, n / sr)
    tone, env = np.zeros(n), np.zeros(n)
    for t0, t1, f0 in notes:
        i0, i1 = max(int(t0 * sr), 0), min(int((t1 + release) * sr), n)
        if i1 <= i0:
            continue
        k = np.arange(1, max(int(0.45 * sr / (f0 * 2 ** (cents / 1200))), 1) + 1)
        amps = k ** -slope * 10 ** (body_db(k * f0) / 20)
        tt = np.arange(i0, i1) / sr - t0
        delayed = np.clip((tt - 0.1) / 0.2, 0, 1)  # players start vibrato after the attack
        f = f0 * 2 ** (cents / 1200 * delayed * np.sin(2 * np.pi * vib_hz * tt + rng.uniform(0, 2 * np.pi)))
        wave = _lookup(_period(amps, rng), np.cumsum(f) / sr + rng.random())
        e = np.sin(0.5 * np.pi * np.clip(tt / attack, 0, 1)) ** 2
        e *= np.cos(0.5 * np.pi * np.clip((tt - (t1 - t0)) / release, 0, 1)) ** 2
        e *= 1 + inst.blip * np.exp(-np.maximum(tt - attack, 0) / 0.03) * (tt >= attack)
        e *= rng.lognormal(0.0, 0.2)  # phrasing: every note its own dynamic
        tone[i0:i1] += wave / (np.sqrt(0.5 * np.sum(amps ** 2)) + 1e-12) * e
        env[i0:i1] += e
    noise = _noise(n, sr, rng, lambda f: _band(*inst.noise_band)(f) * 10 ** (body_db(f) / 40)) * env
    return Source(_unit(tone + 10 ** (_u(rng, inst.noise_db) / 20) * noise), notes=notes)


# --- water ------------------------------------------------------------------------------------------------------

def _bubbles(n: int, sr: int, rng: np.random.Generator, rate: float, lo: float, hi: float,
             q: tuple[float, float], bands: int = 6) -> np.ndarray:
    """Entrained bubbles ringing at their Minnaert frequency with quality factor ``q``
    (decay time q / πf), drawn in ``bands`` log-spaced groups of radii."""
    edges = np.geomspace(lo, min(hi, 0.42 * sr), bands + 1)
    out = np.zeros(n)
    for a, b in zip(edges[:-1], edges[1:]):
        hz = _log_uniform(rng, a, b)
        out += _ring(_train(n, sr, rng, rate / bands, 0.8), sr, hz, _u(rng, q) / (np.pi * hz))
    return out


def _water(n: int, sr: int, rng: np.random.Generator, drops: float, roar_db: float, roar_hz: float,
           pool: float) -> np.ndarray:
    """Falling water, three mechanisms in the proportions of the source: ``drops``/s hitting
    a surface (a broadband burst decaying in ~1 ms; a share entrain small bubbles that ring
    at 1.5–8 kHz); water in bulk roaring ``roar_db`` against the drops (turbulent flow,
    coloured noise peaked at ``roar_hz`` falling 3–6 dB/octave above, swelling slowly);
    ``pool``/s larger bubbles (0.25–3 kHz) entrained where a jet plunges into a pool."""
    burst = _decay(_train(n, sr, rng, drops, 0.9), sr, rng.uniform(3e-4, 1.5e-3)) * rng.standard_normal(n)
    splash = _unit(_filter(burst, sr, _band(300, 0.45 * sr, 6)))
    splash += 0.6 * _unit(_bubbles(n, sr, rng, drops * rng.uniform(0.2, 0.5), 1500, 8000, (15, 40)))
    tilt = rng.uniform(3, 6)
    roar = _noise(n, sr, rng, lambda f: 10 ** ((_bumps_db(f, ((roar_hz, 1.5, 10.0),))
                                                 - tilt * np.maximum(np.log2(np.maximum(f, 1) / roar_hz), 0)) / 20))
    roar *= np.exp(rng.uniform(0.1, 0.3) * _slow(n, sr, rng, rng.uniform(0.2, 2.0)))
    audio = _unit(splash) + 10 ** (roar_db / 20) * _unit(roar)
    if pool > 0:
        audio += rng.uniform(0.3, 0.8) * _unit(_bubbles(n, sr, rng, pool, 250, 3000, (5, 15)))
    return _unit(audio)


def _rain(n: int, sr: int, rng: np.random.Generator) -> Source:
    rate = _log_uniform(rng, 300, 8000)  # drops/s within earshot: drizzle … downpour
    # runoff and rain drumming on leaves and roofs grow with the rain: -25 dB in a drizzle, -10 dB in a downpour
    roar_db = -25 + 15 * np.log(rate / 300) / np.log(8000 / 300)
    return Source(_water(n, sr, rng, rate, roar_db, _log_uniform(rng, 400, 2000), 0.0), rate=rate)


def _waterfall(n: int, sr: int, rng: np.random.Generator) -> Source:
    # a tall fall roars low over its plunge pool; a small cascade mostly splashes, brighter
    audio = _water(n, sr, rng, _log_uniform(rng, 2000, 20000), rng.uniform(-6, 6), _log_uniform(rng, 150, 1500),
                   _log_uniform(rng, 3000, 20000))
    return Source(audio, rate=rng.uniform(0.5, 2.0))


# --- engines ------------------------------------------------------------------------------------------------------

def _cycles(n: int, sr: int, rng: np.random.Generator, hz: float, wander: float) -> np.ndarray:
    """Running cycle count of a rate that wanders slowly by ±``wander`` (governor, pilot)."""
    return np.cumsum(hz * (1 + wander * _slow(n, sr, rng, 0.5))) / sr + rng.random()


def _harmonics(cycles: np.ndarray, count: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    return _unit(_lookup(_period(np.arange(1, count + 1) ** -slope, rng), cycles))


def _exhaust(n: int, sr: int, rng: np.random.Generator, cyc: np.ndarray) -> np.ndarray:
    """A piston engine's exhaust: a pressure pulse at every firing (one per cycle of ``cyc``,
    ±15 % cycle to cycle) ringing the muffler's two lowest modes."""
    fires = np.nonzero(np.diff(np.floor(cyc)))[0] + 1
    train = np.zeros(n)
    train[fires] = rng.lognormal(0, 0.15, len(fires))
    return _unit(_ring(train, sr, min(_u(rng, (120, 350)), 0.4 * sr), rng.uniform(0.008, 0.02))
                 + _ring(train, sr, min(_u(rng, (500, 1300)), 0.4 * sr), rng.uniform(0.003, 0.008)))


def _air(x: np.ndarray, sr: int, metres: float) -> np.ndarray:
    """Atmospheric absorption over ``metres`` (≈ ISO 9613 at 20 °C, 70 % RH: 0.005·(f/kHz)^1.5 dB/m)."""
    return _filter(x, sr, lambda f: 10 ** (-metres * 0.005 * (f / 1000) ** 1.5 / 20))


def _helicopter(n: int, sr: int, rng: np.random.Generator) -> Source:
    blades = int(rng.choice((2, 3, 4, 5), p=(0.35, 0.2, 0.3, 0.15)))
    bpf = rng.uniform(11, 26)  # blade-passage frequency
    cyc = _cycles(n, sr, rng, bpf, 0.01)
    d = cyc - np.round(cyc)
    # each blade's slap a little different (track and balance), sharp (vortex interaction) to soft
    per_blade = rng.lognormal(0, 0.1, blades)[np.round(cyc).astype(np.int64) % blades]
    pulse = per_blade * np.exp(-0.5 * (d / rng.uniform(0.04, 0.12)) ** 2)
    centre = _log_uniform(rng, 300, 700)
    broadband = _noise(n, sr, rng, lambda f: 10 ** (_bumps_db(f, ((centre, 1.2, 8.0),)) / 20) * _band(80, 2500)(f))
    slap = broadband * (0.15 + rng.uniform(0.5, 4.0) * pulse)  # mild in level flight, strong in descent
    thump = _filter(pulse - pulse.mean(), sr, _band(20, 400))  # thickness noise: low harmonics of the bpf
    tail = _harmonics(cyc / blades * rng.uniform(5, 6.5) * rng.choice((2, 4)), 8, 1.5, rng)
    if rng.random() < 2 / 3:  # a turboshaft's whine
        engine = np.sin(2 * np.pi * min(_u(rng, (3000, 6500)), 0.4 * sr) * np.arange(n) / sr) * np.sqrt(2)
        engine_db = _u(rng, (-28, -18))
    else:  # a piston engine (the small trainers): 4–6 cylinders firing at 80–140 Hz
        engine, engine_db = _exhaust(n, sr, rng, _cycles(n, sr, rng, rng.uniform(80, 140), 0.01)), _u(rng, (-12, -4))
    audio = (_unit(slap) + rng.uniform(0.4, 1.0) * _unit(thump) + 10 ** (_u(rng, (-14, -6)) / 20) * tail
             + 10 ** (engine_db / 20) * engine)
    return Source(_unit(_air(audio, sr, _log_uniform(rng, 30, 300))), rate=bpf / blades, blades=blades)


def _lawn_mower(n: int, sr: int, rng: np.random.Generator) -> Source:
    rpm = rng.uniform(2800, 3500)
    firing = rpm / (120 if rng.random() < 0.75 else 60)  # four-stroke fires every second revolution
    cyc = _cycles(n, sr, rng, firing, 0.02)
    crank = cyc * (rpm / 60 / firing)
    clatter = _noise(n, sr, rng, _band(2000, 0.45 * sr)) * (0.3 + np.exp(-0.5 * ((crank - np.round(crank)) / 0.1) ** 2))
    blade = _harmonics(2 * crank, 4, 1.0, rng)  # two blade tips pass per revolution
    cutting = _noise(n, sr, rng, _band(500, 4000)) * np.clip(_slow(n, sr, rng, 1.5) - 0.5, 0, None)  # into grass
    audio = (_exhaust(n, sr, rng, cyc) + 10 ** (_u(rng, (-30, -20)) / 20) * _unit(clatter)
             + 10 ** (_u(rng, (-18, -10)) / 20) * blade + 10 ** (_u(rng, (-10, -2)) / 20) * cutting)
    return Source(_unit(audio), rate=firing)


SOURCES: dict[str, Callable[[int, int, np.random.Generator], Source]] = {
    "violin": lambda n, sr, rng: _instrument("violin", n, sr, rng),
    "cello": lambda n, sr, rng: _instrument("cello", n, sr, rng),
    "trumpet": lambda n, sr, rng: _instrument("trumpet", n, sr, rng),
    "saxophone": lambda n, sr, rng: _instrument("saxophone", n, sr, rng),
    "rain": _rain, "waterfall": _waterfall, "helicopter": _helicopter, "lawn_mower": _lawn_mower,
}


def render_source(name: str, n: int, sr: int, rng: np.random.Generator) -> Source:
    """``n`` samples at ``sr`` of the sound source ``name`` (a key of :data:`SOURCES`)."""
    return SOURCES[name](n, sr, rng)
