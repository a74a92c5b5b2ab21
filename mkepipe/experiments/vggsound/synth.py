"""The synthetic AudioSet → VGGSound: labeled sound clips and unlabeled video clips of the
same sound sources, written in the real layouts and formats.

:func:`write_synthetic_vggsound` writes into ``out``::

    audioset/class_labels_indices.csv      index,mid,display_name (the rendered classes and a few others)
    audioset/balanced_train_segments.csv   3 '#' lines, then YTID, start, end, "mid,mid"
    audioset/audio/<YTID>_<start>.wav      16-bit PCM mono (D_l: one or two sources, no picture)
    vggsound/vggsound.csv                  no header: id,start,label,train|test (one label a clip)
    vggsound/video/<id>_<start:06d>.mp4    H.264 + AAC mono (D_u and test: sound and picture)
    synth.json, .mke-synthetic             the parameters (written last) and the marker

What the data must be and why (DESIGN §2.6; docs/vggsound_data.md): the student can only
overrule its audio teacher where the teacher's mistakes are inconsistent in the joint
space. Sources come in pairs an ear confuses (:mod:`._sound`); in a random 20–60 % stretch
of every VGGSound clip the source's sound is 15–30 dB fainter, under the scene's noise, so
whether a crop gives the teacher evidence depends on where it falls and on the noise
(half of the AudioSet clips have such a stretch too: weak labels, so background alone
means little to the teacher); and every VGGSound clip is a camera recording (distance,
the camera's microphone, crowd, traffic and wind noise, reverberation), only half of the
AudioSet ones are: a covariate shift. The picture (:mod:`._scene`) shows the source
during the whole clip.

Every clip draws from generators seeded by (seed, split, clip index): the output is a
function of the parameters alone, whatever the order or the number of worker processes.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mkepipe.data.synthetic import begin_synthetic_dir, finish_synthetic_dir, map_with_progress
from mkepipe.experiments.vggsound._recording import record
from mkepipe.experiments.vggsound._scene import render_video, scene_kind
from mkepipe.experiments.vggsound._sound import SOURCES, render_source
from mkepipe.experiments.vggsound.config import VggsoundSynthConfig
from mkepipe.fileio import atomic_write_text
from mkepipe.media.encode import write_mp4, write_wav

SYNTH_VERSION = 2
CLASS_MAP = Path(__file__).with_name("class_map.csv")
SPLITS = ("labeled", "train", "test")  # AudioSet's segments, VGGSound's train and test rows
FAINT_SHARE = (0.2, 0.6)  # of the clip
FAINT_DB = (15.0, 30.0)
FAINT_RAMP_S = 0.15
AUDIOSET_FAINT_P = 0.5  # weak labels: a labeled source often sounds in only part of the segment
CHUNK = 24  # clips a worker task writes
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ID_LAST = "AEIMQUYcgkosw048"  # a YouTube id is 64 bits in 11 base64 characters: the last one carries 4
_IDS, _META, _CLIP = 1, 2, 3
AUDIOSET_ROWS = (  # rows of the real class_labels_indices.csv (527 rows): index, mid, display name
    (0, "/m/09x0r", "Speech"), (137, "/m/04rlf", "Music"), (138, "/m/04szw", "Musical instrument"),
    (185, "/m/01kcd", "Brass instrument"), (187, "/m/07gql", "Trumpet"), (189, "/m/0l14_3", "Bowed string instrument"),
    (191, "/m/07y_7", "Violin, fiddle"), (193, "/m/01xqw", "Cello"),
    (195, "/m/085jw", "Wind instrument, woodwind instrument"), (197, "/m/06ncr", "Saxophone"),
    (283, "/m/03m9d0z", "Wind"), (288, "/m/0838f", "Water"), (289, "/m/06mb1", "Rain"), (290, "/m/07r10fb", "Raindrop"),
    (291, "/t/dd00038", "Rain on surface"), (292, "/m/0j6m2", "Stream"), (293, "/m/0j2kx", "Waterfall"),
    (335, "/m/0k5j", "Aircraft"), (339, "/m/09ct_", "Helicopter"), (343, "/m/02mk9", "Engine"),
    (346, "/m/01yg9g", "Lawn mower"), (348, "/t/dd00066", "Medium engine (mid frequency)"),
)
CO_LABELS = {  # labels raters add to such clips besides the source's own (each with probability 1/2)
    "violin": ("/m/04rlf", "/m/0l14_3"), "cello": ("/m/04rlf", "/m/0l14_3"), "trumpet": ("/m/04rlf", "/m/01kcd"),
    "saxophone": ("/m/04rlf", "/m/085jw"), "rain": ("/t/dd00038", "/m/07r10fb"), "waterfall": ("/m/0838f",),
    "helicopter": ("/m/0k5j",), "lawn_mower": ("/m/02mk9", "/t/dd00066"),
}


@dataclass(frozen=True)
class ClassEntry:
    """A rendered class as the class map names it in both datasets."""

    name: str
    vggsound_label: str
    mid: str
    audioset_name: str


@dataclass(frozen=True)
class ClipSpec:
    """What a clip is: its row in the CSVs and the sources it renders."""

    split: str  # labeled | train | test
    index: int
    ytid: str
    start: int
    sources: tuple[str, ...]  # class names; two for some AudioSet clips
    labels: tuple[str, ...] = ()  # AudioSet positive_labels (mids)


@dataclass
class VideoClip:
    frames: np.ndarray  # (F, size, size, 3) uint8 RGB
    audio: np.ndarray  # mono float32
    faint: tuple[float, float]  # seconds of the stretch where the source is faint


def class_entries(classes: Sequence[str], path: Path = CLASS_MAP) -> list[ClassEntry]:
    """The class map's rows for ``classes`` (in that order); each must have a synthetic source."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = {r["name"]: r for r in csv.DictReader(line for line in f if not line.lstrip().startswith("#"))}
    unknown = [c for c in classes if c not in rows or c not in SOURCES]
    if unknown:
        raise ValueError(f"no synthetic source or class-map row for {unknown}; renderable: {sorted(SOURCES)}")
    return [ClassEntry(c, rows[c]["vggsound_label"], rows[c]["audioset_mid"], rows[c]["audioset_name"])
            for c in classes]


def _rng(seed: int, kind: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, kind, SPLITS.index(split), index]))


def _ytid(rng: np.random.Generator) -> str:
    return "".join(ID_CHARS[i] for i in rng.integers(0, 64, 10)) + ID_LAST[int(rng.integers(0, 16))]


def clip_specs(cfg: VggsoundSynthConfig, entries: list[ClassEntry]) -> list[ClipSpec]:
    """Every clip of the three splits, in order. Labels cycle through the classes (class
    balanced); a YouTube id that repeats one drawn before is redrawn."""
    names = [e.name for e in entries]
    mids = {e.name: e.mid for e in entries}
    seen: set[str] = set()
    specs = []
    for split, count in zip(SPLITS, (cfg.labeled_clips, cfg.train_clips, cfg.test_clips)):
        for i in range(count):
            meta, ids = _rng(cfg.seed, _META, split, i), _rng(cfg.seed, _IDS, split, i)
            sources = (names[i % len(names)],)
            if split == "labeled" and len(names) > 1 and meta.random() < cfg.two_label_share:
                sources += (str(meta.choice([n for n in names if n != sources[0]])),)
            labels: tuple[str, ...] = ()
            if split == "labeled":
                extra = [m for s in sources for m in CO_LABELS.get(s, ()) if meta.random() < 0.5]
                labels = tuple(dict.fromkeys([mids[s] for s in sources] + [m for m in extra if m not in mids.values()]))
            while (ytid := _ytid(ids)) in seen:
                pass
            seen.add(ytid)
            specs.append(ClipSpec(split, i, ytid, int(meta.integers(0, 291)), sources, labels))
    return specs


def render_audioset_clip(cfg: VggsoundSynthConfig, spec: ClipSpec) -> np.ndarray:
    """An AudioSet-style clip, mono float32: its sources (two at random relative levels),
    each faint in a stretch of the clip half of the time, recorded close or by a camera."""
    rng = _rng(cfg.seed, _CLIP, spec.split, spec.index)
    sr = cfg.sample_rate
    n = int(round(cfg.duration_s * sr))
    dry, audible = np.zeros(n), np.zeros(n, bool)
    for name in spec.sources:
        gain = _faint(rng, n, sr)[0] if rng.random() < AUDIOSET_FAINT_P else np.ones(n)
        dry += 10 ** (-rng.uniform(0, 10) / 20) * render_source(name, n, sr, rng).audio * gain
        audible |= gain > 0.5
    return record(dry, sr, rng, "audioset", scene_kind(spec.sources[0], rng) == "outdoor", audible)


def faint_gain(n: int, sr: int, t0: float, t1: float, db: float) -> np.ndarray:
    """1 outside [t0, t1), 10^(-db/20) inside, with raised-cosine ramps of FAINT_RAMP_S."""
    t = np.arange(n) / sr
    inside = np.clip(np.minimum(t - t0, t1 - t) / FAINT_RAMP_S + 0.5, 0, 1)
    return 1 - (1 - 10 ** (-db / 20)) * np.sin(0.5 * np.pi * inside) ** 2


def _faint(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, tuple[float, float]]:
    """A faint stretch of FAINT_SHARE of the clip at a random place: the gain and (t0, t1)."""
    duration = n / sr
    length = duration * rng.uniform(*FAINT_SHARE)
    t0 = rng.uniform(0, duration - length)
    return faint_gain(n, sr, t0, t0 + length, rng.uniform(*FAINT_DB)), (t0, t0 + length)


def render_vggsound_clip(cfg: VggsoundSynthConfig, spec: ClipSpec) -> VideoClip:
    """A VGGSound-style clip: the source filmed by a camera at a distance, its sound faint in
    one stretch (``faint``), in view throughout."""
    sound, scene = (np.random.default_rng(s) for s in np.random.SeedSequence(
        [cfg.seed, _CLIP, SPLITS.index(spec.split), spec.index]).spawn(2))
    n_frames = max(int(round(cfg.duration_s * cfg.fps)), 1)
    duration = n_frames / cfg.fps  # audio and video end together
    sr = cfg.sample_rate
    n = int(round(duration * sr))
    name = spec.sources[0]
    src = render_source(name, n, sr, sound)
    kind = scene_kind(name, scene)
    gain, faint = _faint(sound, n, sr)
    audio = record(src.audio * gain, sr, sound, "vggsound", kind == "outdoor", gain > 0.5)
    return VideoClip(render_video(name, src, kind, n_frames, cfg.fps, cfg.size, scene), audio, faint)


def audio_name(spec: ClipSpec) -> str:
    return f"{spec.ytid}_{spec.start}.wav"


def video_name(spec: ClipSpec) -> str:
    return f"{spec.ytid}_{spec.start:06d}.mp4"


def _write_chunk(cfg: VggsoundSynthConfig, out: Path, specs: list[ClipSpec]) -> tuple[int, float]:
    seconds = 0.0
    for spec in specs:
        if spec.split == "labeled":
            audio = render_audioset_clip(cfg, spec)
            write_wav(out / "audioset" / "audio" / audio_name(spec), audio, cfg.sample_rate)
        else:
            clip = render_vggsound_clip(cfg, spec)
            write_mp4(out / "vggsound" / "video" / video_name(spec), clip.frames, cfg.fps, clip.audio,
                      cfg.sample_rate)
            audio = clip.audio
        seconds += len(audio) / cfg.sample_rate
    return len(specs), seconds


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write_csvs(out: Path, entries: list[ClassEntry], specs: list[ClipSpec], duration: float) -> None:
    """The three CSVs, rows sorted by YouTube id as in the real files."""
    rendered = [(e.mid, e.audioset_name) for e in entries]  # the class map wins over the table
    taken = {x for pair in rendered for x in pair}
    real = {name: i for i, _, name in AUDIOSET_ROWS}
    rows = [(i, m, n) for i, m, n in AUDIOSET_ROWS if m not in taken and n not in taken]
    rows += [(real.get(n, 527 + k), m, n) for k, (m, n) in enumerate(rendered)]
    atomic_write_text(out / "audioset" / "class_labels_indices.csv", "index,mid,display_name\n" + "".join(
        f"{i},{m},{_quoted(n)}\n" for i, m, n in sorted(rows)))

    labeled = sorted((s for s in specs if s.split == "labeled"), key=lambda s: s.ytid)
    labels = [m for s in labeled for m in s.labels]
    seg = io.StringIO()
    seg.write("# Segments csv created Sun Mar  5 10:54:31 2017\n")
    seg.write(f"# num_ytids={len({s.ytid for s in labeled})}, num_segs={len(labeled)}, "
              f"num_unique_labels={len(set(labels))}, num_positive_labels={len(labels)}\n")
    seg.write("# YTID, start_seconds, end_seconds, positive_labels\n")
    for s in labeled:
        seg.write(f'{s.ytid}, {s.start:.3f}, {s.start + duration:.3f}, "{",".join(s.labels)}"\n')
    atomic_write_text(out / "audioset" / "balanced_train_segments.csv", seg.getvalue())

    label_of = {e.name: e.vggsound_label for e in entries}
    vgg = io.StringIO()
    writer = csv.writer(vgg, lineterminator="\n")
    for s in sorted((s for s in specs if s.split != "labeled"), key=lambda s: s.ytid):
        writer.writerow([s.ytid, s.start, label_of[s.sources[0]], s.split])
    atomic_write_text(out / "vggsound" / "vggsound.csv", vgg.getvalue())


def write_synthetic_vggsound(out: str | Path, cfg: VggsoundSynthConfig | None = None, *, workers: int | None = None
                             ) -> dict:
    """Write the synthetic AudioSet → VGGSound data into ``out`` (module docstring); returns
    ``synth.json``'s content: the parameters plus ``clips`` per split, ``two_label`` (AudioSet
    clips with two sources), ``files`` and ``seconds`` (of audio). ``workers`` processes
    (default: up to 2, one per core) write chunks of clips; the output does not depend on it."""
    cfg = cfg or VggsoundSynthConfig()
    if cfg.size % 2:
        raise ValueError(f"H.264 yuv420p needs an even frame size, got {cfg.size}")
    entries = class_entries(cfg.classes)
    out = begin_synthetic_dir(out)
    for folder in ("audioset/audio", "vggsound/video"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    specs = clip_specs(cfg, entries)
    _write_csvs(out, entries, specs, cfg.duration_s)
    chunks = [specs[i:i + CHUNK] for i in range(0, len(specs), CHUNK)]
    workers = max(1, min(workers or min(2, os.cpu_count() or 1), len(chunks)))
    clips, seconds = 0, 0.0
    for c, s in map_with_progress(_write_chunk, [(cfg, out, c) for c in chunks], [len(c) for c in chunks], workers,
                                  "AudioSet/VGGSound", "clips"):
        clips, seconds = clips + c, seconds + s
    return finish_synthetic_dir(out, {
        "version": SYNTH_VERSION, **cfg.model_dump(mode="json"),
        "clips": {split: sum(s.split == split for s in specs) for split in SPLITS},
        "two_label": sum(len(s.sources) > 1 for s in specs), "files": clips, "seconds": round(seconds, 3)})


def scenes_figure(path: str | Path, cfg: VggsoundSynthConfig | None = None) -> Path:
    """Per class, the first VGGSound test clip: its log spectrogram (the faint stretch
    shaded) beside four of its frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    cfg = cfg or VggsoundSynthConfig()
    entries = class_entries(cfg.classes)
    small = cfg.model_copy(update={"labeled_clips": 8, "train_clips": 8, "test_clips": max(8, len(entries))})
    tests = [s for s in clip_specs(small, entries) if s.split == "test"]
    fig, axes = plt.subplots(len(entries), 5, figsize=(7.2, 1.1 * len(entries)),
                             gridspec_kw={"width_ratios": [2.4, 1, 1, 1, 1]})
    axes = np.atleast_2d(axes)
    for row, entry in enumerate(entries):
        spec = next(s for s in tests if s.sources[0] == entry.name)
        clip = render_vggsound_clip(cfg, spec)
        f, t, sxx = spectrogram(clip.audio, cfg.sample_rate, nperseg=512, noverlap=353)
        ax = axes[row, 0]
        ax.imshow(np.log(sxx + 1e-10), origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                  extent=(0, len(clip.audio) / cfg.sample_rate, 0, f[-1] / 1000))
        ax.axvspan(*clip.faint, color="white", alpha=0.25, lw=0)
        ax.set_ylabel(entry.name, fontsize=7)
        ax.tick_params(labelsize=6)
        if row == len(entries) - 1:
            ax.set_xlabel("s (shaded: faint) / kHz", fontsize=6)
        picks = np.linspace(0, len(clip.frames) - 1, 4).round().astype(int)
        for j, k in enumerate(picks, 1):
            axes[row, j].imshow(clip.frames[k])
            axes[row, j].set_axis_off()
            if row == 0:
                axes[row, j].set_title(f"t = {k / cfg.fps:.1f} s", fontsize=7)
    fig.suptitle("Synthetic VGGSound clips: sound (log spectrogram) and picture", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=64)
    plt.close(fig)
    return path
