"""Speech synthesis for the synthetic RAVDESS: a source-filter model of one actor reading
one of the two statements with an emotion.

Every property has a physical reason (docs/ravdess_data.md):

* **Syllable train.** Each statement is a fixed sequence of 7 syllables (onset consonant,
  vowel, stress, coda), so the two statements differ in vowel order and fricative
  positions; a repetition redraws the durations (±10 % a syllable) and the start
  (0.45–0.85 s into the clip), as a speaker never reads a line twice alike. Stressed
  syllables are 30 % longer, the phrase-final one 40 % (final lengthening).
* **Voiced source.** A Rosenberg glottal pulse driven by the phase of F0(t), radiated
  (differentiated): harmonics of F0 whose strength falls with frequency. The *open
  quotient* (share of a cycle the folds are apart) and the *return phase* (how abruptly
  they close, a one-pole low-pass at ``return_hz``) set the spectral tilt: tense voice
  (short open phase, abrupt closure) has strong high harmonics, breathy voice a steep
  fall. Aspiration noise flows while the glottis is open.
* **Vocal tract.** A cascade of four formant resonators (Klatt's digital resonator) at
  the vowel's formants (Peterson & Barney / Hillenbrand male averages), scaled by the
  actor's vocal-tract length (women ~15 % shorter tracts: higher formants). Consonants
  are band-limited noise: stop bursts, /s/ (above 4 kHz), weak /ð/.
* **Actor.** Base F0 100–140 Hz (odd actors, male) or 180–240 Hz (female), personal
  pitch range and tempo, recording gain ±4 dB (microphone distance), a session noise
  floor of -68…-55 dBFS (a fixed room and preamp: the SNR then falls with quiet speech),
  mostly low-frequency rumble plus a flat hiss 14 dB below it.
* **Emotion** acts through prosody and voice quality, as measured in acted speech
  (Banse & Scherer 1996; Juslin & Laukka 2003), table :data:`PROSODY`: angry = high F0,
  loud, fast, tense (flat tilt); happy = high F0, wide range, fast, formants raised by the
  smile (lip spreading shortens the tract, Tartter 1980); sad = low F0, narrow range,
  quiet, slow, breathy; fearful = high F0, jitter, fast, breathy; surprised = high F0 with
  a final rise; disgust = low F0, slow, creaky (irregular periods) and quiet; calm =
  slightly lower, quieter and slower than neutral. Vocal effort raises F1 (a wider jaw
  opening). Normal intensity carries half of the strong deviation from neutral, scaled
  by the actor's vocal expressivity (0.6–1.2): some actors are hard to read by voice.
* **Levels.** Neutral speech at -30 dBFS RMS before the emotion's and actor's gains; a
  clip whose peak would pass 0.9 is scaled down to it (the engineer's gain), so no clip
  clips.

:func:`synthesize` also returns the vowel timing (:class:`Utterance`), from which the
face's mouth opens and closes with the same syllables.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import butter, lfilter

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
INTENSITY_SCALE = {1: 0.5, 2: 1.0}  # normal intensity carries half of the strong deviation from neutral

# vowel: (F1, F2, F3) Hz of adult male speakers, jaw openness 0..1 (~F1), lip spreading -1 (round) .. 1 (spread)
VOWELS = {
    "ih": ((390, 1990, 2550), 0.3, 0.6),
    "aa": ((730, 1090, 2440), 1.0, 0.0),
    "ao": ((570, 840, 2410), 0.65, -0.7),
    "ax": ((500, 1500, 2500), 0.45, 0.0),
    "ay": ((660, 1400, 2450), 0.85, 0.2),
}
F4_HZ = 3500.0
BANDWIDTHS = (60.0, 90.0, 150.0, 250.0)
CONSONANTS = {"stop": (1500.0, 6000.0, -8.0), "fric": (4000.0, 9000.0, -6.0), "dh": (1000.0, 5000.0, -20.0)}

# (onset consonant, vowel, stressed, coda consonant) per syllable
STATEMENTS = {
    1: (("stop", "ih", True, "fric"), (None, "aa", False, None), ("stop", "ao", True, None),  # Kids are tal-
        ("stop", "ih", False, None), ("stop", "ay", False, None), ("dh", "ax", False, None),  # king by the
        ("stop", "ao", True, None)),  # door
    2: (("stop", "ao", True, "fric"), (None, "aa", False, None), ("fric", "ih", True, None),  # Dogs are sit-
        ("stop", "ih", False, None), ("stop", "ay", False, None), ("dh", "ax", False, None),  # ting by the
        ("stop", "ao", True, None)),  # door
}


@dataclass(frozen=True)
class Prosody:
    """An emotion's voice at strong intensity (neutral: the reference)."""

    f0_st: float  # mean F0 shift, semitones
    range_x: float  # pitch-accent size relative to the actor's own
    level_db: float  # vocal effort
    rate_x: float  # syllables per second relative to neutral
    open_quotient: float  # share of a glottal cycle the folds are apart
    return_hz: float  # return-phase cut-off: low = smooth closure, steep tilt (breathy)
    breath: float  # aspiration noise relative to the voiced source
    jitter: float  # relative F0 perturbation
    final_st: float  # pitch movement over the last syllable
    formant_x: float = 1.0  # all formants (smile: shorter tract)


PROSODY = {
    "neutral": Prosody(0.0, 1.0, 0.0, 1.0, 0.60, 2000, 0.06, 0.005, -1.5),
    "calm": Prosody(-1.0, 0.8, -3.0, 0.9, 0.66, 1500, 0.10, 0.005, -2.0),
    "happy": Prosody(4.0, 1.7, 5.0, 1.1, 0.55, 2800, 0.06, 0.008, -1.0, 1.04),
    "sad": Prosody(-2.0, 0.5, -7.0, 0.8, 0.72, 900, 0.22, 0.012, -3.0, 0.98),
    "angry": Prosody(5.0, 1.3, 10.0, 1.15, 0.40, 4500, 0.03, 0.010, -3.0),
    "fearful": Prosody(7.0, 1.1, 2.0, 1.2, 0.68, 1300, 0.20, 0.035, 1.0),
    "disgust": Prosody(-3.0, 0.8, -3.0, 0.85, 0.50, 1600, 0.08, 0.030, -2.5),
    "surprised": Prosody(5.0, 1.8, 3.0, 1.0, 0.55, 2600, 0.08, 0.010, 5.0),
}
REF_DBFS = -30.0  # neutral speech RMS
PEAK_MAX = 0.9
SYLLABLE_S = 0.19  # ~5 syllables/s, read speech


@dataclass(frozen=True)
class VoiceActor:
    f0_hz: float
    vtl_x: float  # formant scale: 1 / relative vocal-tract length
    range_st: float  # habitual pitch-accent size
    rate_x: float
    gain_db: float
    noise_dbfs: float
    expressivity: float


def sample_voice_actor(rng: np.random.Generator, male: bool) -> VoiceActor:
    return VoiceActor(f0_hz=float(rng.uniform(100, 140) if male else rng.uniform(180, 240)),
                      vtl_x=float(rng.uniform(0.93, 1.05) if male else rng.uniform(1.10, 1.22)),
                      range_st=float(2.5 * rng.uniform(0.7, 1.3)), rate_x=float(rng.uniform(0.9, 1.1)),
                      gain_db=float(rng.uniform(-4, 4)), noise_dbfs=float(rng.uniform(-68, -55)),
                      expressivity=float(rng.uniform(0.6, 1.2)))


def blend(emotion: str, k: float) -> Prosody:
    """Neutral plus ``k`` times the emotion's deviation (log scale for ratios)."""
    a, b = PROSODY["neutral"], PROSODY[emotion]
    lin = lambda x, y: x + k * (y - x)  # noqa: E731
    geo = lambda x, y: x * (y / x) ** k  # noqa: E731
    return Prosody(lin(a.f0_st, b.f0_st), geo(a.range_x, b.range_x), lin(a.level_db, b.level_db),
                   geo(a.rate_x, b.rate_x), lin(a.open_quotient, b.open_quotient), geo(a.return_hz, b.return_hz),
                   geo(a.breath, b.breath), geo(a.jitter, b.jitter), lin(a.final_st, b.final_st),
                   geo(a.formant_x, b.formant_x))


@dataclass
class Utterance:
    audio: np.ndarray  # float32 mono in [-PEAK_MAX, PEAK_MAX]
    sample_rate: int
    vowels: list[tuple[float, float, float, float]]  # (start s, end s, openness × effort, lip spreading)

    def mouth(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Jaw opening (0..~1) and lip spreading at times ``t``: the articulators lead the
        sound by ~40 ms and move smoothly between vowels."""
        opening, spread = np.zeros_like(t, dtype=np.float64), np.zeros_like(t, dtype=np.float64)
        for start, end, open_, spr in self.vowels:
            s, e = start - 0.07, end - 0.01
            w = np.clip((t - s) / (e - s), 0.0, 1.0)
            bump = np.sin(np.pi * w) ** 2 * ((t > s) & (t < e))
            opening = np.maximum(opening, open_ * bump)
            spread += spr * bump
        return opening, spread


@lru_cache(maxsize=16)
def _band(lo: float, hi: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    hi = min(hi, 0.45 * sr)
    return butter(2, [lo, hi], btype="bandpass", fs=sr)


def _resonators(formants: tuple[float, ...], sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Klatt cascade: unity gain at DC, one pole pair per formant."""
    den, gain = np.array([1.0]), 1.0
    for f, bw in zip(formants, BANDWIDTHS):
        c = -np.exp(-2 * np.pi * bw / sr)
        b = 2 * np.exp(-np.pi * bw / sr) * np.cos(2 * np.pi * f / sr)
        den = np.convolve(den, [1.0, -b, -c])
        gain *= 1.0 - b - c
    return np.array([gain]), den


def _glottal_flow(phase: np.ndarray, oq: float) -> np.ndarray:
    """Rosenberg pulse over one period (phase 0..1): opening 60 % of the open phase."""
    tp, te = 0.6 * oq, oq
    g = np.zeros_like(phase)
    rise = phase < tp
    g[rise] = 0.5 * (1 - np.cos(np.pi * phase[rise] / tp))
    fall = (phase >= tp) & (phase < te)
    g[fall] = np.cos(0.5 * np.pi * (phase[fall] - tp) / (te - tp))
    return g


def _plan(statement: int, p: Prosody, actor: VoiceActor, duration: float, rng: np.random.Generator):
    """Onset, vowel and coda intervals (s) per syllable; compressed to fit the clip."""
    sylls = STATEMENTS[statement]
    unit = SYLLABLE_S / (actor.rate_x * p.rate_x)
    lengths = []
    for i, (onset, _, stressed, coda) in enumerate(sylls):
        d = unit * rng.uniform(0.9, 1.1) * (1.3 if stressed else 1.0) * (1.4 if i == len(sylls) - 1 else 1.0)
        on = {"stop": 0.05, "fric": 0.09, "dh": 0.04, None: 0.0}[onset]
        cd = 0.08 if coda else 0.0
        lengths.append((on, max(d - on, 0.06), cd))
    start = rng.uniform(0.45, 0.85)
    total = sum(sum(x) for x in lengths)
    squeeze = min(1.0, (duration - 0.12 - start) / total)
    if squeeze < 0.5:  # very short clips: start earlier rather than gabble
        start = max(0.05, duration - 0.12 - total * 0.5)
        squeeze = min(1.0, (duration - 0.12 - start) / total)
    t, plan = start, []
    for on, v, cd in lengths:
        on, v, cd = on * squeeze, v * squeeze, cd * squeeze
        plan.append((t, t + on, t + on + v, t + on + v + cd))
        t += on + v + cd
    return plan


def synthesize(actor: VoiceActor, emotion: str, intensity: int, statement: int, duration: float, sample_rate: int,
               rng: np.random.Generator) -> Utterance:
    """One clip's audio (``duration`` s at ``sample_rate``) and its vowel timing."""
    sr = int(sample_rate)
    p = blend(emotion, INTENSITY_SCALE[intensity] * actor.expressivity)
    n = int(round(duration * sr))
    plan = _plan(statement, p, actor, duration, rng)
    sylls = STATEMENTS[statement]
    t = np.arange(n) / sr

    # F0 contour: declination, pitch accents on stressed syllables, a final movement, jitter
    knots_t, knots_st = [plan[0][1]], [0.5]
    t_end = plan[-1][2]
    for (s0, v0, v1, _), (_, _, stressed, _) in zip(plan, sylls):
        mid = 0.5 * (v0 + v1)
        decl = -2.0 * (mid - plan[0][1]) / max(t_end - plan[0][1], 1e-3)
        accent = p.range_x * actor.range_st * rng.uniform(0.7, 1.0) if stressed else 0.0
        knots_t.append(mid)
        knots_st.append(decl + accent)
    knots_t.append(t_end)
    knots_st.append(knots_st[-1] + p.final_st)
    contour = np.interp(t, knots_t, knots_st)
    step = max(sr // 100, 1)  # jitter: an independent perturbation every ~10 ms, i.e. about per cycle
    coarse = rng.standard_normal(n // step + 2)
    jit = np.interp(np.arange(n) / step, np.arange(len(coarse)), coarse)
    f0 = actor.f0_hz * 2.0 ** ((p.f0_st + contour) / 12.0) * (1.0 + p.jitter * jit)
    phase = np.cumsum(f0 / sr) % 1.0

    flow = _glottal_flow(phase, p.open_quotient)
    a = np.exp(-2 * np.pi * p.return_hz / sr)
    source = lfilter([1 - a], [1, -a], np.diff(flow, prepend=0.0))
    source *= 1.0 + 2.0 * p.jitter * jit[::-1]  # shimmer travels with jitter in irregular voice
    source /= np.sqrt(np.mean(source ** 2)) + 1e-12
    aspiration = np.diff(rng.standard_normal(n), prepend=0.0) * (flow > 0.05) * p.breath
    excitation = source + aspiration

    speech = np.zeros(n)
    voiced_mask = np.zeros(n, bool)
    vowels, consonants = [], []
    formant_x = actor.vtl_x * p.formant_x
    effort = 1.0 + 0.012 * p.level_db  # F1 rises with vocal effort (wider jaw)
    for (s0, v0, v1, c1), (onset, vowel, stressed, coda) in zip(plan, sylls):
        (f1, f2, f3), openness, spreading = VOWELS[vowel]
        i0, i1 = int(v0 * sr), min(int(v1 * sr), n)
        tail = min(int(0.03 * sr), n - i1)
        env = np.ones(i1 - i0)
        att, rel = min(int(0.025 * sr), len(env) // 3), min(int(0.04 * sr), len(env) // 3)
        env[:att] = np.sin(0.5 * np.pi * np.arange(att) / max(att, 1)) ** 2
        env[len(env) - rel:] = np.cos(0.5 * np.pi * np.arange(rel) / max(rel, 1)) ** 2
        env *= 1.4 if stressed else 1.0
        seg = np.concatenate([excitation[i0:i1] * env, np.zeros(tail)])
        b, den = _resonators((f1 * formant_x * effort, f2 * formant_x, f3 * formant_x, F4_HZ * formant_x), sr)
        speech[i0:i1 + tail] += lfilter(b, den, seg)
        voiced_mask[i0:i1] = True
        vowels.append((v0, v1, openness * min(effort, 1.3), spreading + 0.5 * (p.formant_x - 1) / 0.04))
        consonants += [(kind, c0, c_end) for kind, c0, c_end in ((onset, s0, v0), (coda, v1, c1))
                       if kind is not None and c_end > c0]

    level = np.sqrt(np.mean(speech[voiced_mask] ** 2)) if voiced_mask.any() else 1.0
    for kind, c0, c_end in consonants:
        j0, j1 = int(c0 * sr), min(int(c_end * sr), n)
        if kind == "stop":  # closure silence, then a 12 ms burst
            j0 = max(j0, j1 - int(0.012 * sr))
        lo, hi, rel_db = CONSONANTS[kind]
        if j1 - j0 >= 8:
            noise = lfilter(*_band(lo, hi, sr), rng.standard_normal(j1 - j0))
            speech[j0:j1] += noise * np.hanning(j1 - j0) * level * 10 ** (rel_db / 20) / (np.std(noise) + 1e-12)

    target = 10 ** ((REF_DBFS + p.level_db + actor.gain_db + rng.uniform(-1, 1)) / 20)
    speech *= target / (level + 1e-12)

    white = rng.standard_normal(n)
    room = lfilter([1.0], [1.0, -0.98], white)  # ventilation rumble: energy mostly below ~150 Hz
    room = room / (np.std(room) + 1e-12) + 0.2 * white  # plus the preamp's flat hiss, 14 dB below
    room *= 10 ** ((actor.noise_dbfs + rng.uniform(-2, 2)) / 20) / (np.std(room) + 1e-12)
    audio = speech + room
    peak = np.max(np.abs(audio))
    if peak > PEAK_MAX:
        audio *= PEAK_MAX / peak
    return Utterance(audio.astype(np.float32), sr, vowels)
