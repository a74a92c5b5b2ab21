"""Find the RAVDESS trials under a download folder and pair each video with its audio.

A trial is one clip key (the six fields after modality). Its video is the 01- audio-video
mp4, else the 02- video-only mp4; its audio is the 03- wav when present, else the AV
mp4's AAC track. Files that cannot form a clip are quarantined, never silently dropped.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from mkepipe.data.quarantine import BadSample, QuarantineLog
from mkepipe.experiments.ravdess.identifiers import Identifier, parse_identifier

log = logging.getLogger(__name__)

_ACTOR_DIR = re.compile(r"Actor_(\d\d)")
_SUFFIX = {1: ".mp4", 2: ".mp4", 3: ".wav"}
_SPLIT = "source"


@dataclass(frozen=True)
class Clip:
    """One trial: a video file and, if present, its audio-only wav."""

    ident: Identifier
    video: Path
    wav: Path | None
    av_audio: bool

    @property
    def key(self) -> str:
        return self.ident.clip_key

    @property
    def sources(self) -> list[str]:
        return [str(p) for p in (self.video, self.wav) if p is not None]


def scan(root: Path, quarantine: QuarantineLog) -> list[Clip]:
    """The clips under ``root/Actor_XX/``, sorted by key; bad files go to ``quarantine``."""
    trials: dict[str, dict[int, tuple[Path, Identifier]]] = {}
    for path, ident in _parse_files(Path(root), quarantine):
        trials.setdefault(ident.clip_key, {})[ident.modality] = (path, ident)
    clips = (_pair(trials[key], quarantine) for key in sorted(trials))
    return [clip for clip in clips if clip is not None]


def _actor_dirs(root: Path) -> list[tuple[Path, int]]:
    dirs = []
    for entry in sorted(root.iterdir()):
        match = _ACTOR_DIR.fullmatch(entry.name)
        if entry.is_dir() and match:
            dirs.append((entry, int(match.group(1))))
        else:
            log.debug("ignoring %s: not an Actor_XX folder", entry)
    return dirs


def _parse_files(root: Path, quarantine: QuarantineLog) -> list[tuple[Path, Identifier]]:
    """Every well-named, non-duplicate media file, in sorted order (the first copy wins)."""
    seen: dict[str, Path] = {}
    files = []
    for folder, actor in _actor_dirs(root):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.suffix.lower() not in _SUFFIX.values():
                log.debug("ignoring %s: not an mp4 or wav file", path)
                continue
            rel = path.relative_to(root).as_posix()
            try:
                ident = parse_identifier(path.name)
            except BadSample as err:
                quarantine.add(rel, _SPLIT, [path], err)
                continue
            try:
                _check_place(path, ident, actor)
            except BadSample as err:
                quarantine.add(path.stem, _SPLIT, [path], err)
                continue
            if ident.name in seen:  # keyed by path: the stem is the kept copy's id
                quarantine.add(rel, _SPLIT, [path, seen[ident.name]],
                               BadSample("duplicate_id", f"{ident.name} already read from {seen[ident.name]}"))
                continue
            seen[ident.name] = path
            files.append((path, ident))
    return files


def _check_place(path: Path, ident: Identifier, actor: int) -> None:
    if ident.actor != actor:
        raise BadSample("bad_name", f"actor {ident.actor:02d} in the name, but the file is in Actor_{actor:02d}")
    if path.suffix.lower() != _SUFFIX[ident.modality]:
        raise BadSample("bad_name", f"a modality {ident.modality:02d} file must end in {_SUFFIX[ident.modality]}")


def pair_trial(trial: dict[int, tuple[Path, Identifier]]) -> Clip:
    """The clip of one trial's files, by modality (01/02 mp4, 03 wav); raises BadSample
    for a trial without video, or a video-only mp4 without its wav."""
    wav, _ = trial.get(3, (None, None))
    if 1 not in trial and 2 not in trial:
        raise BadSample("missing_modality", "audio-only trial without a video file")
    video, ident = trial.get(1, trial.get(2))
    if ident.modality == 2 and wav is None:
        raise BadSample("no_audio", "video-only (02) mp4 without a matching 03 wav")
    return Clip(ident, video, wav, av_audio=ident.modality == 1)


def _pair(trial: dict[int, tuple[Path, Identifier]], quarantine: QuarantineLog) -> Clip | None:
    try:
        return pair_trial(trial)
    except BadSample as err:
        path = trial.get(1, trial.get(2, trial.get(3)))[0]
        quarantine.add(path.stem, _SPLIT, [path], err)
        return None
