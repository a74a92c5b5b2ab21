"""RAVDESS's prepare step: ``Actor_XX/`` clips → face-image + MFCC samples on disk.

One sample is one face image (every ``sample_every_s`` of a clip) with its clip's MFCC
map, so the frames of a clip share their audio. Clips are split D_l : D_u = 2 : 8 and
D_u 8 : 1 : 1 into train (``unlabeled``) / ``val`` / ``test``, by clip or by actor,
stratified by emotion and seeded. D_l keeps only the face image (the teacher's sensor);
D_u's labels go to ``unlabeled_truth`` (MM (sup) and label-quality reports only). A clip
that cannot be used is quarantined whole, with its reason.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mkepipe.data import quarantine as q
from mkepipe.data.manifest import sha256_bytes, write_manifest
from mkepipe.data.split import SplitWriter, write_split
from mkepipe.data.synthetic import ensure_synthetic
from mkepipe.experiments.base import TRUTH_SPLIT
from mkepipe.experiments.ravdess.catalog import Clip, scan
from mkepipe.experiments.ravdess.config import RavdessPrepareConfig
from mkepipe.experiments.ravdess.features import FaceCropper, MfccExtractor
from mkepipe.experiments.ravdess.identifiers import EMOTIONS
from mkepipe.media.decode import read_audio_track, read_video, read_wav
from mkepipe.media.resample import resample

log = logging.getLogger(__name__)
RAVDESS_RATE = 48_000
SPLITS = ("labeled", "val", "unlabeled", "test")


@dataclass
class ClipSamples:
    """A clip's face crops (F, 3, S, S) uint8, its standardised MFCC map (1, n_mfcc, T)
    float16, the times of the frames and notes on what was repaired (e.g. a resampled wav)."""

    faces: np.ndarray
    mfcc: np.ndarray
    times: np.ndarray
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MfccNorm:
    """Per-coefficient mean and standard deviation of D_u's MFCCs (cepstral mean and
    variance normalisation with global statistics): every coefficient on a unit scale, so
    the T1 noise, which scales with a modality's mean |x|, perturbs the higher
    coefficients too and not only the energy term c0 in dB. Global, not per clip, so
    loudness and spectral tilt — emotion cues — survive."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, maps: list[np.ndarray]) -> "MfccNorm":
        stacked = np.concatenate([m.reshape(m.shape[0], -1) for m in maps], axis=1).astype(np.float64)
        return cls(tuple(stacked.mean(1).tolist()), tuple(np.maximum(stacked.std(1), 1e-6).tolist()))

    def __call__(self, mfcc: np.ndarray) -> np.ndarray:
        """(n_mfcc, T) → (1, n_mfcc, T) float16."""
        mean, std = np.asarray(self.mean)[:, None], np.asarray(self.std)[:, None]
        return ((mfcc - mean) / std)[None].astype(np.float16)


class ClipReader:
    """Decodes a clip and computes its samples as configured (``norm``: the MFCC
    standardisation, fitted on D_u by :func:`prepare_ravdess`)."""

    def __init__(self, cfg: RavdessPrepareConfig, norm: MfccNorm | None = None) -> None:
        self.cfg = cfg
        self.norm = norm
        self.cropper = FaceCropper(Path(cfg.face_detector) if cfg.face_detector else None, cfg.image_size,
                                   cfg.crop_fraction)
        self.mfcc = MfccExtractor(cfg.audio_rate, cfg.n_mfcc, cfg.n_mels, cfg.n_fft, cfg.hop_length, cfg.mfcc_frames)

    def audio(self, clip: Clip) -> tuple[np.ndarray, int, list[str]]:
        """The clip's audio: its 03-…wav if there is one, else the mp4's audio track."""
        notes: list[str] = []
        if clip.wav is not None:
            try:
                audio, rate = read_wav(clip.wav)
                return audio, rate, notes
            except q.BadSample as err:
                if not clip.av_audio:
                    raise
                notes.append(f"{clip.wav.name} unusable ({err}); used the mp4's audio track")
        if not clip.av_audio:
            raise q.BadSample("no_audio", f"{clip.video.name} is video-only and no 03-…wav matches it")
        audio, rate = read_audio_track(clip.video)
        return audio, rate, notes

    def voice(self, clip: Clip) -> tuple[np.ndarray, list[str]]:
        """The clip's MFCC map (n_mfcc, T) in dB, before standardisation, and repair notes."""
        audio, rate, notes = self.audio(clip)
        if rate != RAVDESS_RATE:
            notes.append(f"audio at {rate} Hz (RAVDESS is {RAVDESS_RATE} Hz), resampled to {self.cfg.audio_rate} Hz")
        mfcc = self.mfcc(resample(audio, rate, self.cfg.audio_rate))
        if not np.isfinite(mfcc).all():
            raise q.BadSample("non_finite", f"{clip.key}: MFCCs not finite")
        return mfcc, notes

    def samples(self, clip: Clip, mfcc: np.ndarray, notes: list[str]) -> ClipSamples:
        """Decode the video, crop the faces and pair them with the clip's standardised MFCCs."""
        if self.norm is None:
            raise RuntimeError("ClipReader.norm is not set: fit it on D_u first")
        video = read_video(clip.video, self.cfg.sample_every_s)
        faces = np.stack([self.cropper(f) for f in video.frames]).transpose(0, 3, 1, 2)
        return ClipSamples(np.ascontiguousarray(faces), self.norm(mfcc), video.times, notes)

    def __call__(self, clip: Clip) -> ClipSamples:
        return self.samples(clip, *self.voice(clip))


def assign_splits(clips: list[Clip], cfg: RavdessPrepareConfig) -> dict[str, str]:
    """Clip key → split name: D_l : D_u = labeled_share, D_u into unlabeled / val / test.

    ``split_by: clip`` draws clips per emotion (stratified); ``actor`` draws whole actors,
    so no speaker of D_u's val/test was seen in training (speaker-independent)."""
    rng = np.random.default_rng(cfg.split_seed)
    groups: dict[object, list[Clip]] = {}
    for c in clips:
        groups.setdefault(c.ident.emotion if cfg.split_by == "clip" else "all", []).append(c)
    out: dict[str, str] = {}
    for members in groups.values():
        units = sorted({c.key if cfg.split_by == "clip" else c.ident.actor for c in members})
        units = [units[i] for i in rng.permutation(len(units))]
        n = len(units)
        n_l = int(round(n * cfg.labeled_share))
        n_val = int(round((n - n_l) * cfg.val_share))
        n_test = int(round((n - n_l) * cfg.test_share))
        names = ["labeled"] * n_l + ["val"] * n_val + ["test"] * n_test
        names += ["unlabeled"] * (n - len(names))
        unit_split = dict(zip(units, names))
        for c in members:
            out[c.key] = unit_split[c.key if cfg.split_by == "clip" else c.ident.actor]
    return out


def even_subset(clips: list[Clip], k: int | None) -> list[Clip]:
    if k is None or k >= len(clips):
        return clips
    return [clips[i] for i in np.linspace(0, len(clips) - 1, k).round().astype(int)]


class SplitBuilder:
    """Rows of one split: its writer, manifest rows and the classes it holds."""

    def __init__(self, name: str, out: Path, with_audio: bool) -> None:
        self.name = name
        self.with_audio = with_audio
        self.writer = SplitWriter(out, name, divide={"face": 255.0},
                                  labels=None if name == "unlabeled" else {})
        self.ids: list[str] = []
        self.labels: list[int] = []
        self.rows: dict[str, dict] = {}

    def add(self, clip: Clip, s: ClipSamples) -> None:
        n = len(s.faces)
        ids = [f"{clip.ident.name}/{k:02d}" for k in range(n)]
        mods = {"face": s.faces}
        if self.with_audio:
            mods["mfcc"] = np.repeat(s.mfcc[None], n, axis=0)
        y = np.full(n, clip.ident.label, np.uint8)
        self.writer.append(ids, mods, None if self.name == "unlabeled" else y)
        label = None if self.name == "unlabeled" else clip.ident.label
        for k, sid in enumerate(ids):
            row = {"split": self.name, "clip": clip.ident.name, "actor": clip.ident.actor, "t": float(s.times[k]),
                   "sha256": sample_sha(s, k, label, self.with_audio)}
            if s.notes:
                row["notes"] = s.notes
            self.rows[sid] = row
        self.ids += ids
        self.labels += [clip.ident.label] * n


def sample_sha(s: ClipSamples, k: int, label: int | None, with_audio: bool = True) -> str:
    """The content hash of frame ``k`` of a clip: its face crop, the clip's MFCCs if stored, its label."""
    audio = s.mfcc.tobytes() if with_audio else b""
    return sha256_bytes(s.faces[k].tobytes() + audio + (b"" if label is None else bytes([label])))


def _synthetic_source(cfg: RavdessPrepareConfig, out: Path) -> Path:
    """Write (or reuse, if its parameters match) the synthetic default; its folder."""
    from mkepipe.experiments.ravdess.synth import SYNTH_VERSION, write_synthetic_ravdess

    return ensure_synthetic(Path(cfg.synthetic_dir) if cfg.synthetic_dir else out / "source",
                            {**cfg.synthetic.model_dump(), "version": SYNTH_VERSION},
                            lambda path: write_synthetic_ravdess(path, cfg.synthetic), "RAVDESS")


def _each(clips: list[Clip], what: str, qlog: q.QuarantineLog, split_of: dict[str, str], fn) -> dict:
    """``{clip key: fn(clip)}`` for the clips ``fn`` accepts; the others are quarantined.
    Logs progress every ~10 %."""
    out = {}
    every = max(1, len(clips) // 10)
    for i, clip in enumerate(clips, 1):
        try:
            out[clip.key] = fn(clip)
        except q.BadSample as err:
            qlog.add(clip.ident.name, split_of[clip.key], clip.sources, err)
        except OSError as err:
            qlog.add(clip.ident.name, split_of[clip.key], clip.sources, q.BadSample("io_error", str(err)))
        if i % every == 0 or i == len(clips):
            log.info("prepare (%s): %d/%d clips decoded (%d quarantined)", what, i, len(clips), len(qlog))
    return out


def prepare_ravdess(cfg: RavdessPrepareConfig, out_dir: str | Path) -> dict:
    """Scan, split, decode and write the RAVDESS splits and manifest into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = _synthetic_source(cfg, out) if cfg.source == "synthetic" else Path(cfg.root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected Actor_01 … Actor_24/ inside)")
    qlog = q.QuarantineLog()
    clips = even_subset(scan(root, qlog), cfg.max_clips)
    if not clips:
        raise ValueError(f"{root}: no usable RAVDESS clip ({len(qlog)} files quarantined: "
                         f"{qlog.summary()['by_reason']})")
    split_of = assign_splits(clips, cfg)
    reader = ClipReader(cfg)
    voices = _each(clips, "audio", qlog, split_of, reader.voice)
    fit_on = [voices[c.key][0] for c in clips if c.key in voices and split_of[c.key] == "unlabeled"]
    if not fit_on:
        raise ValueError(f"{root}: no usable clip in D_u to fit the MFCC standardisation on "
                         f"({len(qlog)} quarantined: {qlog.summary()['by_reason']})")
    reader.norm = MfccNorm.fit(fit_on)
    builders = {name: SplitBuilder(name, out, with_audio=name != "labeled") for name in SPLITS}

    def write(clip: Clip) -> None:
        builders[split_of[clip.key]].add(clip, reader.samples(clip, *voices[clip.key]))

    _each([c for c in clips if c.key in voices], "video", qlog, split_of, write)
    empty = [name for name, b in builders.items() if not b.ids]
    if empty:
        for b in builders.values():
            b.writer.abort()
        raise ValueError(f"prepare: no usable sample in split(s) {', '.join(empty)} "
                         f"({len(qlog)} quarantined: {qlog.summary()['by_reason']}); nothing was written")
    for b in builders.values():
        b.writer.close()
    unlabeled = builders["unlabeled"]
    shutil.rmtree(out / TRUTH_SPLIT, ignore_errors=True)
    write_split(out, TRUTH_SPLIT, unlabeled.ids, {}, np.array(unlabeled.labels, np.uint8), labels={})
    qlog.write(out)
    samples = {sid: row for b in builders.values() for sid, row in b.rows.items()}
    counts = {name: len(b.ids) for name, b in builders.items()}
    clip_counts = {name: len({r["clip"] for r in b.rows.values()}) for name, b in builders.items()}
    extra = {"config": cfg.model_dump(mode="json"), "num_classes": len(EMOTIONS), "classes": list(EMOTIONS),
             "source": str(root), "counts": counts, "clips": clip_counts, "split_by": cfg.split_by,
             "face_crop": {"method": reader.cropper.method, "detector": cfg.face_detector,
                           "fallbacks": reader.cropper.fallbacks},
             "mfcc": [cfg.n_mfcc, cfg.mfcc_frames], "mfcc_norm": asdict(reader.norm), "quarantine": qlog.summary(),
             "unlabeled_truth": {"samples": len(unlabeled.ids)}}
    log.info("RAVDESS prepared: %s frames from %s clips, %d quarantined", counts, clip_counts, len(qlog))
    return write_manifest(out, "ravdess", samples, extra)
