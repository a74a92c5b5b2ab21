"""The synthetic RAVDESS: actors reading the real speech trial grid, written in the real
layout and formats.

:func:`write_synthetic_ravdess` writes ``Actor_01 … Actor_NN/`` with, per actor, the 60
speech trials (emotions 01–08, intensity 01 normal / 02 strong — neutral only 01 —,
statements 01 "Kids are talking by the door" / 02 "Dogs are sitting by the door",
repetitions 01/02), named ``MM-CC-EE-II-SS-RR-AA``:

* ``01-01-…mp4`` for every trial: H.264 yuv420p video at ``fps`` + AAC audio;
* ``03-01-…wav`` for actors 1…``wav_actors``: the same audio as 16-bit PCM;
* ``synth.json`` (the parameters, written last: a complete dataset has it) and a marker
  file (``.mke-synthetic``: the folder may be deleted and regenerated).

What the data must be and why (DESIGN §2.6): MKE corrects a teacher only where its
mistakes are *inconsistent* across inputs the multimodal student sees as close. Here a
sample is one face frame (every 0.5 s) plus its clip's MFCCs, so the frames of a clip
share their audio. The face (:mod:`._face`) therefore carries per-frame nuisances that
make single frames ambiguous in different ways — the expression's onset (a neutral face
for the first 0.3–0.8 s), the mouth moving with the syllables, blinks, head pose, light
drifting within the clip, sensor noise, H.264 — while the voice (:mod:`._voice`) carries
the emotion through prosody and voice quality with its own, different confusions. Some
confusion is systematic per actor (resting face, low expressivity) and stays: it is a
fixed function of the frame. Audio and video come from one :class:`Utterance`, so the
mouth opens on the syllables heard.

Every clip draws from generators seeded by (seed, actor, trial): the output is a
function of the parameters alone, whatever the order or the number of worker processes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mkepipe.data.synthetic import begin_synthetic_dir, finish_synthetic_dir, map_with_progress
from mkepipe.experiments.ravdess._face import FaceRenderer, clip_motion, render_clip, sample_face_actor
from mkepipe.experiments.ravdess._voice import EMOTIONS, sample_voice_actor, synthesize
from mkepipe.experiments.ravdess.config import RavdessSynthConfig
from mkepipe.media.encode import write_mp4, write_wav

SYNTH_VERSION = 2
DURATION_SPREAD = 0.15  # clip length varies ±15 % around duration_s
_ACTOR, _CLIP = 1, 2


def trials() -> list[tuple[int, int, int, int]]:
    """The 60 speech trials of an actor: (emotion, intensity, statement, repetition)."""
    return [(e, i, s, r) for e in range(1, 9) for i in ((1,) if e == 1 else (1, 2)) for s in (1, 2) for r in (1, 2)]


def file_name(modality: int, emotion: int, intensity: int, statement: int, repetition: int, actor: int) -> str:
    ext = "wav" if modality == 3 else "mp4"
    return f"{modality:02d}-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.{ext}"


def _clip_seeds(seed: int, actor: int, trial: tuple[int, int, int, int]) -> tuple[np.random.Generator, ...]:
    """(voice, face) generators of one clip: independent, and each independent of order."""
    voice, face = np.random.SeedSequence([seed, _CLIP, actor, *trial]).spawn(2)
    return np.random.default_rng(voice), np.random.default_rng(face)


def actor_traits(seed: int, actor: int):
    """(face, voice) traits of an actor; odd actor numbers are male, as in RAVDESS."""
    face, voice = np.random.SeedSequence([seed, _ACTOR, actor]).spawn(2)
    male = actor % 2 == 1
    return sample_face_actor(np.random.default_rng(face), male), sample_voice_actor(np.random.default_rng(voice), male)


def render_trial(cfg: RavdessSynthConfig, actor: int, trial: tuple[int, int, int, int],
                 renderer: FaceRenderer | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One clip: frames (F, H, W, 3) uint8 RGB and mono float32 audio at cfg.sample_rate."""
    face_actor, voice_actor = actor_traits(cfg.seed, actor)
    emotion, intensity, statement, _ = trial
    voice_rng, face_rng = _clip_seeds(cfg.seed, actor, trial)
    duration = cfg.duration_s * voice_rng.uniform(1 - DURATION_SPREAD, 1 + DURATION_SPREAD)
    n_frames = max(int(round(duration * cfg.fps)), 1)
    duration = n_frames / cfg.fps  # audio and video end together
    utt = synthesize(voice_actor, EMOTIONS[emotion - 1], intensity, statement, duration, cfg.sample_rate, voice_rng)
    t = np.arange(n_frames) / cfg.fps
    motion = clip_motion(face_actor, EMOTIONS[emotion - 1], intensity, t, face_rng, utt.mouth(t))
    frames = render_clip(face_actor, motion, cfg.height, cfg.width, face_rng, renderer)
    return frames, utt.audio


def _write_actor(cfg: RavdessSynthConfig, out: Path, actor: int) -> tuple[int, int, float]:
    folder = out / f"Actor_{actor:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    renderer = FaceRenderer(actor_traits(cfg.seed, actor)[0], cfg.height, cfg.width)
    files, seconds = 0, 0.0
    for trial in trials():
        frames, audio = render_trial(cfg, actor, trial, renderer)
        write_mp4(folder / file_name(1, *trial, actor), frames, cfg.fps, audio, cfg.sample_rate)
        files += 1
        if actor <= cfg.wav_actors:
            write_wav(folder / file_name(3, *trial, actor), audio, cfg.sample_rate)
            files += 1
        seconds += len(frames) / cfg.fps
    return len(trials()), files, seconds


def write_synthetic_ravdess(out: str | Path, cfg: RavdessSynthConfig | None = None, *, workers: int | None = None
                            ) -> dict:
    """Write the synthetic RAVDESS into ``out`` (module docstring); returns ``synth.json``'s
    content: the parameters plus ``clips``, ``files`` and ``seconds`` (of video).
    ``workers`` processes (default: up to 2, one per core) write whole actors; the
    output does not depend on it."""
    cfg = cfg or RavdessSynthConfig()
    if cfg.height % 2 or cfg.width % 2:
        raise ValueError(f"H.264 yuv420p needs an even frame size, got {cfg.height}x{cfg.width}")
    out = begin_synthetic_dir(out)
    actors = list(range(1, cfg.n_actors + 1))
    workers = max(1, min(workers or min(2, os.cpu_count() or 1), len(actors)))
    clips = files = 0
    seconds = 0.0
    for c, f, s in map_with_progress(_write_actor, [(cfg, out, a) for a in actors], [1] * len(actors), workers,
                                     "RAVDESS", "actors"):
        clips, files, seconds = clips + c, files + f, seconds + s
    return finish_synthetic_dir(out, {"version": SYNTH_VERSION, **cfg.model_dump(), "clips": clips, "files": files,
                                      "seconds": round(seconds, 3)})


def faces_figure(path: str | Path, cfg: RavdessSynthConfig | None = None, actor: int = 1) -> Path:
    """A grid of rendered frames: rows = the 8 emotions at strong intensity (statement 1,
    repetition 1) of ``actor``, columns = the frames the image modality samples (every
    0.5 s from 0 to 2.5 s): onset, apex and the mouth moving with the syllables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = cfg or RavdessSynthConfig()
    times = np.arange(0.0, 2.51, 0.5)
    fig, axes = plt.subplots(8, len(times), figsize=(1.3 * len(times) * cfg.width / cfg.height, 1.3 * 8))
    for e in range(1, 9):
        frames, _ = render_trial(cfg, actor, (e, 1 if e == 1 else 2, 1, 1))
        for j, t in enumerate(times):
            ax = axes[e - 1, j]
            ax.imshow(frames[min(int(round(t * cfg.fps)), len(frames) - 1)])
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(EMOTIONS[e - 1] + (" (normal)" if e == 1 else ""), fontsize=8)
            if e == 1:
                ax.set_title(f"t = {t:.1f} s", fontsize=8)
    fig.suptitle(f"Synthetic RAVDESS, actor {actor:02d}, strong intensity, statement 01", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=64)
    plt.close(fig)
    return path
