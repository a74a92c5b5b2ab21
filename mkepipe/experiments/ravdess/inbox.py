"""RAVDESS's inbox: new recordings for the relabel service, and their ingest.

``<inbox_dir>/ravdess/Actor_XX/`` holds new clips named and paired exactly as in the
download (``01-…mp4`` audio-video, or ``02-…mp4`` video-only with its ``03-…wav``). Each
trial is one inbox sample, id ``inbox/Actor_XX/<video stem>``; its frames become D_u
samples ``inbox/Actor_XX/<video stem>/<k>``. The emotion field of a new file's name is
not used: inbox data is unlabeled. Ingest decodes the clips exactly as the pipeline's
prepare stage did (the previous version's config: sampling interval, crop, MFCCs).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from mkepipe.data import quarantine as q
from mkepipe.data.manifest import read_manifest
from mkepipe.data.split import SplitWriter
from mkepipe.experiments.ravdess.catalog import Clip, pair_trial
from mkepipe.experiments.ravdess.config import RavdessPrepareConfig
from mkepipe.experiments.ravdess.identifiers import parse_identifier
from mkepipe.experiments.ravdess.prepare import ClipReader, MfccNorm, sample_sha
from mkepipe.service.inbox import PREFIX, Inbox, InboxSample, hashed_sample, list_folder, problem_sample
from mkepipe.service.ingest import CHANGED, Ingested, copy_rows, finish_ingest, staging_dir

ACTOR_DIR = re.compile(r"Actor_(\d\d)")
COPY_ROWS = 256  # previous D_u rows copied per read


def _actor_folder(folder: Path, actor: int, inbox: Path) -> list[InboxSample]:
    listing = list_folder(folder, inbox)
    out = [problem_sample(f"{PREFIX}/{p.relative_to(inbox)}", p, reason, detail) for p, reason, detail in listing.bad]
    out += [problem_sample(f"{PREFIX}/{p.relative_to(inbox)}", p, "not_a_file", "a folder where a clip file was "
                           "expected") for p in listing.folders]
    trials: dict[str, dict] = {}
    for path in listing.files:
        sid = f"{PREFIX}/{path.relative_to(inbox)}"
        if path.suffix.lower() not in (".mp4", ".wav"):
            out.append(problem_sample(sid, path, "bad_name", "not an .mp4 or .wav file"))
            continue
        try:
            ident = parse_identifier(path.name)
            if ident.actor != actor:
                raise q.BadSample("bad_name", f"actor {ident.actor:02d} in the name, but the file is in "
                                              f"Actor_{actor:02d}")
        except q.BadSample as err:
            out.append(problem_sample(sid, path, err.reason, err.detail))
            continue
        trials.setdefault(ident.clip_key, {})[ident.modality] = (path, ident)
    for trial in trials.values():
        try:
            clip = pair_trial(trial)
        except q.BadSample as err:
            path = next(iter(trial.values()))[0]
            out.append(problem_sample(f"{PREFIX}/{folder.name}/{path.stem}", path, err.reason, err.detail))
            continue
        files = {"video": clip.video, "wav": clip.wav}
        out.append(hashed_sample(f"{PREFIX}/{folder.name}/{clip.video.stem}", files,
                                 layout="av" if clip.av_audio else "video+wav"))
    return out


def scan_inbox(inbox: str | Path) -> list[InboxSample]:
    """Every trial in the inbox, hashed by content, in folder then name order; unusable
    entries come back as problem samples."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    top = list_folder(inbox, inbox)
    samples = [problem_sample(f"{PREFIX}/{p.name}", p, reason, detail) for p, reason, detail in top.bad]
    samples += [problem_sample(f"{PREFIX}/{p.name}", p, "not_a_file", "a file where an Actor_XX folder was expected")
                for p in top.files]
    for folder in top.folders:
        match = ACTOR_DIR.fullmatch(folder.name)
        if match is None:
            samples.append(problem_sample(f"{PREFIX}/{folder.name}", folder, "bad_name",
                                          "inbox folders are named Actor_01 … Actor_99"))
            continue
        samples += _actor_folder(folder, int(match.group(1)), inbox)
    return samples


def _clip(s: InboxSample) -> Clip:
    if s.problem:
        raise q.BadSample(s.problem, s.detail)
    video = s.files["video"]
    return Clip(parse_identifier(video.name), video, s.files.get("wav"), av_audio=s.layout == "av")


class ClipInbox(Inbox):
    """New ``Actor_XX/`` clips (see the module docstring)."""

    def scan(self, inbox: Path, prepare_cfg: RavdessPrepareConfig) -> list[InboxSample]:
        return scan_inbox(inbox)

    def ingest(self, prev: Path, out: Path, samples: list[InboxSample], changed: list[InboxSample],
               project_dir: Path) -> Ingested:
        manifest = read_manifest(prev)
        cfg = RavdessPrepareConfig.model_validate(manifest["config"])
        log = q.QuarantineLog()
        for s in changed:
            log.add(s.id, "inbox", s.sources, q.BadSample(CHANGED, "files differ from the ingested ones; "
                                                                   "give new data a new name"))
        reader = ClipReader(cfg, MfccNorm(**manifest["mfcc_norm"]))
        tmp = staging_dir(out)
        writer = SplitWriter(tmp, "unlabeled", divide={"face": 255.0})
        copy_rows(prev / "unlabeled", writer, ("face", "mfcc"), COPY_ROWS)
        rows: dict[str, dict] = {}
        added: dict[str, str] = {}
        for s in samples:
            try:
                clip = _clip(s)
                got = reader(clip)
            except q.BadSample as err:
                log.add(s.id, "inbox", s.sources, err)
                continue
            except OSError as err:
                log.add(s.id, "inbox", s.sources, q.BadSample("io_error", str(err)))
                continue
            ids = [f"{s.id}/{k:02d}" for k in range(len(got.faces))]
            writer.append(ids, {"face": got.faces, "mfcc": np.repeat(got.mfcc[None], len(ids), axis=0)})
            for k, sid in enumerate(ids):
                rows[sid] = {"split": "unlabeled", "clip": s.id, "actor": clip.ident.actor, "t": float(got.times[k]),
                             "sha256": sample_sha(got, k, None), **({"notes": got.notes} if got.notes else {})}
            added[s.id] = s.sha256
        if not rows:
            writer.abort()
            shutil.rmtree(tmp)
            return Ingested(None, {}, log)
        writer.close()
        finish_ingest(prev, tmp, out, manifest, rows, log, clips=len(added))
        return Ingested(out, added, log)

