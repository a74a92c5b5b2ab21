"""AudioSet → VGGSound's prepare step: clips → spectrogram (+ video) samples on disk.

D_l is AudioSet: each row of the segments CSV whose labels meet the class map, its audio
as a log spectrogram, multi-hot labels. VGGSound's ``train`` rows are D_u (a seeded
``val_share`` held out as labeled validation, stratified by label) and its ``test`` rows
the test set, each as the spectrogram and the video frames of the clip; D_u's labels go
to ``unlabeled_truth`` (MM (sup) and label-quality reports only).

Every clip is decoded once (PyAV, 16 kHz mono) into one row of each modality's ``.npy``
file, read back by sample id (:mod:`mkepipe.data.split`), so training memory does not
grow with D_u. A clip keeps ``clip_s`` seconds: longer ones are cut, shorter ones tiled
(the reference's loader does the same) with a note; one under a second is tiled too, and
noted; a silent one (all zeros) is quarantined as ``empty_audio``. A row or clip that
cannot be used is quarantined with its reason.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from mkepipe.data import quarantine as q
from mkepipe.data.manifest import sha256_bytes, write_manifest
from mkepipe.data.split import SplitWriter, write_split
from mkepipe.data.synthetic import ensure_synthetic
from mkepipe.experiments.base import TRUTH_SPLIT
from mkepipe.experiments.vggsound.catalog import (
    DEFAULT_CLASS_MAP,
    ClassMap,
    ClipIndex,
    audioset_targets,
    read_audioset_segments,
    read_class_indices,
    read_class_map,
    read_vggsound_csv,
    vggsound_target,
)
from mkepipe.experiments.vggsound.config import VggsoundPrepareConfig
from mkepipe.experiments.vggsound.spectrogram import Spectrogram, tile_to
from mkepipe.media.decode import read_audio_track, read_video, read_wav
from mkepipe.media.resample import resample

log = logging.getLogger(__name__)
AUDIO_RATE = 16_000  # the reference's rate
MIN_SECONDS = 1.0
AUDIO_EXTS = (".wav", ".flac", ".mp4", ".mkv", ".webm", ".m4a")
VIDEO_EXTS = (".mp4", ".mkv", ".webm")
FEATURES = {  # preset → spectrogram window and overlap (samples at 16 kHz), video frame side
    "paper": {"nperseg": 512, "noverlap": 353, "video_size": 112},
    "cpu": {"nperseg": 256, "noverlap": 96, "video_size": 64},
}
SPLITS = ("labeled", "unlabeled", "val", "test")
DECODE_CHUNK = 16  # clips a decoding worker takes at a time


@dataclass
class Clip:
    """One CSV row with its media file and targets (class indices)."""

    sample_id: str
    split: str
    path: Path | None
    targets: tuple[int, ...]
    source: str  # the CSV and line it came from
    notes: list[str] = field(default_factory=list)


class ClipReader:
    """Decodes a clip into its model inputs: the log spectrogram (1, F, T) float16,
    standardised over the clip, and for video clips (3, T_v, S, S) uint8 frames."""

    def __init__(self, cfg: VggsoundPrepareConfig) -> None:
        feats = FEATURES[cfg.preset]
        self.cfg = cfg
        self.samples = int(round(cfg.seconds * AUDIO_RATE))
        self.spectrogram = Spectrogram(feats["nperseg"], feats["noverlap"], AUDIO_RATE)
        self.video_size = feats["video_size"]
        self.video_count = max(1, int(round(cfg.seconds * cfg.video_rate)))

    def audio(self, clip: Clip) -> np.ndarray:
        """16 kHz mono, ``clip_s`` long (cut, or tiled with a note)."""
        path = clip.path
        audio, rate = read_wav(path) if path.suffix == ".wav" else read_audio_track(path)
        audio = resample(audio, rate, AUDIO_RATE)
        seconds = len(audio) / AUDIO_RATE
        if len(audio) < self.samples:
            clip.notes.append(f"{seconds:.2f} s of audio tiled to {self.cfg.seconds:g} s"
                              + (f" (under {MIN_SECONDS:g} s)" if seconds < MIN_SECONDS else ""))
            audio = tile_to(audio, self.samples)
        return audio[:self.samples]

    def spec(self, clip: Clip) -> np.ndarray:
        s = self.spectrogram.features(self.audio(clip))
        if not np.isfinite(s).all():
            raise q.BadSample("non_finite", f"{clip.path.name}: spectrogram not finite")
        return s[None].astype(np.float16)

    def video(self, clip: Clip) -> np.ndarray:
        """``video_count`` frames spread evenly over the clip's first ``clip_s`` seconds,
        centre-cropped square and resized."""
        v = read_video(clip.path, 1.0 / (4 * self.cfg.video_rate))
        span = min(v.duration, self.cfg.seconds)
        want = (np.arange(self.video_count) + 0.5) / self.video_count * span
        pick = np.abs(v.times[None, :] - want[:, None]).argmin(axis=1)
        frames = np.stack([_square(v.frames[i], self.video_size) for i in pick])
        return np.ascontiguousarray(frames.transpose(3, 0, 1, 2))


def _square(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return cv2.resize(frame[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)


def multi_hot(targets: tuple[int, ...], k: int) -> np.ndarray:
    y = np.zeros(k, np.uint8)
    y[list(targets)] = 1
    return y


def _synthetic_source(cfg: VggsoundPrepareConfig, out: Path) -> Path:
    """Write (or reuse, if its parameters match) the synthetic default; its folder."""
    from mkepipe.experiments.vggsound.synth import (
        SYNTH_VERSION,
        write_synthetic_vggsound,
    )

    return ensure_synthetic(Path(cfg.synthetic_dir) if cfg.synthetic_dir else out / "source",
                            {**cfg.synthetic.model_dump(mode="json"), "version": SYNTH_VERSION},
                            lambda path: write_synthetic_vggsound(path, cfg.synthetic), "AudioSet/VGGSound")


def even_subset(rows: list, k: int | None) -> list:
    if k is None or k >= len(rows):
        return rows
    return [rows[i] for i in np.linspace(0, len(rows) - 1, k).round().astype(int)]


def class_map_for(cfg: VggsoundPrepareConfig) -> ClassMap:
    """The class set: the configured map (default: the shipped one), restricted for the
    synthetic source to the classes it renders."""
    class_map = read_class_map(Path(cfg.class_map) if cfg.class_map else DEFAULT_CLASS_MAP)
    return class_map.subset(cfg.synthetic.classes) if cfg.source == "synthetic" else class_map


def held_out(clips: list[Clip], share: float, seed: int) -> list[Clip]:
    """``share`` of ``clips`` (at least one), stratified by label: each class's clips in a
    seeded random order, the classes taken in turn."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[Clip]] = {}
    for clip in clips:
        by_class.setdefault(clip.targets[0], []).append(clip)
    queues = [[members[i] for i in rng.permutation(len(members))] for _, members in sorted(by_class.items())]
    order = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    return order[:max(1, int(round(len(clips) * share)))] if clips else []


class Catalog:
    """The clips of both datasets inside the class set, with their splits; rows outside
    the class set are counted, bad rows quarantined."""

    def __init__(self, cfg: VggsoundPrepareConfig, audioset: Path, vggsound: Path, qlog: q.QuarantineLog) -> None:
        self.class_map = class_map_for(cfg)
        known = read_class_indices(audioset / "class_labels_indices.csv")
        self.class_map.validate(known)
        self.outside = {"labeled": 0, "vggsound": 0}
        self.clips: list[Clip] = []
        self._audioset(cfg, audioset, known, qlog)
        self._vggsound(cfg, vggsound, qlog)

    def _audioset(self, cfg: VggsoundPrepareConfig, root: Path, known: dict, qlog: q.QuarantineLog) -> None:
        csv = root / cfg.audioset_segments
        index = ClipIndex(root / "audio", AUDIO_EXTS)
        for seg in even_subset(read_audioset_segments(csv, qlog), cfg.max_clips):
            sid = f"as/{seg.ytid}_{int(seg.start)}"
            source = f"{csv.name}:{seg.line}"
            try:
                targets = audioset_targets(seg, self.class_map, known)
            except q.BadSample as err:
                qlog.add(sid, "labeled", [source], err)
                continue
            if targets is None:
                self.outside["labeled"] += 1
                continue
            self._add(Clip(sid, "labeled", index.find(seg.ytid, int(seg.start)), targets, source), qlog)

    def _vggsound(self, cfg: VggsoundPrepareConfig, root: Path, qlog: q.QuarantineLog) -> None:
        csv = root / "vggsound.csv"
        index = ClipIndex(root / "video", VIDEO_EXTS)
        train: list[Clip] = []
        for row in even_subset(read_vggsound_csv(csv, qlog), cfg.max_clips):
            target = vggsound_target(row, self.class_map)
            if target is None:
                self.outside["vggsound"] += 1
                continue
            split = "test" if row.split == "test" else "unlabeled"
            clip = Clip(f"vgg/{row.ytid}_{row.start}", split, index.find(row.ytid, row.start), (target,),
                        f"{csv.name}:{row.line}")
            if self._add(clip, qlog) and split == "unlabeled":
                train.append(clip)
        for clip in held_out(train, cfg.val_share, cfg.split_seed):
            clip.split = "val"

    def _add(self, clip: Clip, qlog: q.QuarantineLog) -> bool:
        if clip.path is None:
            qlog.add(clip.sample_id, clip.split, [clip.source],
                     q.BadSample("missing_clip", f"no media file for {clip.sample_id.split('/', 1)[1]}"))
            return False
        self.clips.append(clip)
        return True


class SplitBuilder:
    """Rows of one split: its writer, manifest rows and labels."""

    def __init__(self, name: str, out: Path, k: int) -> None:
        self.name, self.k = name, k
        self.with_video = name != "labeled"
        self.writer = SplitWriter(out, name, divide={"video": 255.0} if self.with_video else None,
                                  labels=None if name == "unlabeled" else {"multi_hot": True})
        self.ids: list[str] = []
        self.labels: list[np.ndarray] = []
        self.rows: dict[str, dict] = {}

    def add(self, clip: Clip, spec: np.ndarray, video: np.ndarray | None) -> None:
        y = multi_hot(clip.targets, self.k)
        mods = {"spec": spec[None]}
        if video is not None:
            mods["video"] = video[None]
        self.writer.append([clip.sample_id], mods, None if self.name == "unlabeled" else y[None])
        row = {"split": self.name, "source": clip.source, "file": clip.path.name,
               "sha256": sample_sha(spec, video, None if self.name == "unlabeled" else y)}
        if clip.notes:
            row["notes"] = clip.notes
        self.rows[clip.sample_id] = row
        self.ids.append(clip.sample_id)
        self.labels.append(y)


def sample_sha(spec: np.ndarray, video: np.ndarray | None, y: np.ndarray | None) -> str:
    """The content hash of a sample: its spectrogram, its frames if stored, its labels if any."""
    return sha256_bytes(spec.tobytes() + (b"" if video is None else video.tobytes())
                        + (b"" if y is None else y.tobytes()))


def _decode(reader: ClipReader, clip: Clip) -> tuple[Clip, tuple | q.BadSample]:
    """(the clip with its notes, (spectrogram, frames or None) or why it is bad)."""
    try:
        return clip, (reader.spec(clip), reader.video(clip) if clip.split != "labeled" else None)
    except q.BadSample as err:
        return clip, err
    except OSError as err:
        return clip, q.BadSample("io_error", str(err))


def _decode_chunk(cfg: VggsoundPrepareConfig, clips: list[Clip]) -> list[tuple]:
    reader = ClipReader(cfg)
    return [(clip, (d.reason, d.detail) if isinstance(d, q.BadSample) else d)
            for clip, d in (_decode(reader, c) for c in clips)]


def decode_all(cfg: VggsoundPrepareConfig, clips: list[Clip]) -> Iterator[tuple[Clip, tuple | q.BadSample]]:
    """Every clip decoded, in order, by ``cfg.workers`` processes (chunks of
    :data:`DECODE_CHUNK` clips; at most two chunks per worker in flight, so memory stays
    bounded; one process for fewer than two chunks); the output does not depend on the
    number of workers."""
    workers = max(1, min(cfg.workers or min(2, os.cpu_count() or 1), len(clips) // DECODE_CHUNK))
    if workers == 1:
        reader = ClipReader(cfg)
        yield from (_decode(reader, c) for c in clips)
        return
    chunks = [clips[i:i + DECODE_CHUNK] for i in range(0, len(clips), DECODE_CHUNK)]
    # spawned, not forked: a fork of a process whose torch/OpenMP threads ran can hang in the child
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(_decode_chunk, cfg, chunk))
            if len(pending) >= 2 * workers:
                yield from _unpack(pending.popleft().result())
        while pending:
            yield from _unpack(pending.popleft().result())


def _unpack(results: list[tuple]) -> Iterator[tuple[Clip, tuple | q.BadSample]]:
    for clip, d in results:
        yield clip, q.BadSample(*d) if isinstance(d[0], str) else d


def _roots(cfg: VggsoundPrepareConfig, out: Path) -> tuple[Path, Path]:
    if cfg.source == "synthetic":
        src = _synthetic_source(cfg, out)
        return src / "audioset", src / "vggsound"
    return Path(cfg.audioset_dir), Path(cfg.vggsound_dir)


def prepare_vggsound(cfg: VggsoundPrepareConfig, out_dir: str | Path) -> dict:
    """Read the CSVs, decode every clip in the class set and write the splits and the
    manifest into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    audioset, vggsound = _roots(cfg, out)
    for folder in (audioset, vggsound):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder")
    qlog = q.QuarantineLog()
    catalog = Catalog(cfg, audioset, vggsound, qlog)
    k = len(catalog.class_map.names)
    reader = ClipReader(cfg)
    builders = {name: SplitBuilder(name, out, k) for name in SPLITS}
    clips = catalog.clips
    every = max(1, len(clips) // 10)
    for i, (clip, decoded) in enumerate(decode_all(cfg, clips), 1):
        if isinstance(decoded, q.BadSample):
            qlog.add(clip.sample_id, clip.split, [clip.source, str(clip.path)], decoded)
        else:
            builders[clip.split].add(clip, *decoded)
        if i % every == 0 or i == len(clips):
            log.info("prepare: %d/%d clips decoded (%d quarantined)", i, len(clips), len(qlog))
    empty = [name for name, b in builders.items() if not b.ids]
    if empty:
        for b in builders.values():
            b.writer.abort()
        raise ValueError(f"prepare: no usable clip in split(s) {', '.join(empty)} ({len(qlog)} quarantined: "
                         f"{qlog.summary()['by_reason']}, {catalog.outside} rows outside the class set); "
                         "nothing was written")
    for b in builders.values():
        b.writer.close()
    unlabeled = builders["unlabeled"]
    shutil.rmtree(out / TRUTH_SPLIT, ignore_errors=True)
    write_split(out, TRUTH_SPLIT, unlabeled.ids, {}, np.stack(unlabeled.labels), labels={"multi_hot": True})
    qlog.write(out)
    feats = FEATURES[cfg.preset]
    spec_shape = builders["unlabeled"].writer._writers["spec"].row_shape
    counts = {name: len(b.ids) for name, b in builders.items()}
    positives = {name: np.stack(b.labels).sum(0).tolist() for name, b in builders.items()}
    extra = {"config": cfg.model_dump(mode="json"), "num_classes": k, "classes": list(catalog.class_map.names),
             "audioset": str(audioset), "vggsound": str(vggsound), "counts": counts, "positives": positives,
             "outside_class_set": catalog.outside,
             "features": {"audio_rate": AUDIO_RATE, "clip_s": cfg.seconds, **feats, "spec": list(spec_shape),
                          "video_frames": reader.video_count, "video_rate": cfg.video_rate},
             "quarantine": qlog.summary(), "unlabeled_truth": {"samples": len(unlabeled.ids)}}
    log.info("AudioSet/VGGSound prepared: %s clips, %d quarantined, outside the class set %s", counts, len(qlog),
             catalog.outside)
    return write_manifest(out, "vggsound", {sid: row for b in builders.values() for sid, row in b.rows.items()},
                          extra)
