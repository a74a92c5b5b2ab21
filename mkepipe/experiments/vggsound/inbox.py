"""AudioSet → VGGSound's inbox: new video clips with sound for the relabel service.

``<inbox_dir>/vggsound/`` holds new clips as they come off the sensor or the crawler:
``.mp4``/``.mkv``/``.webm`` files with an audio track, directly in the folder (VGGSound's
``<id>_<start>.mp4`` naming is welcome, not required). Each file is one D_u sample, id
``inbox/<file stem>``. Ingest decodes them exactly as the pipeline's prepare stage did
(the previous version's config: clip length, spectrogram, video frames).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from mkepipe.data import quarantine as q
from mkepipe.data.manifest import read_manifest
from mkepipe.data.split import SplitWriter
from mkepipe.experiments.vggsound.config import VggsoundPrepareConfig
from mkepipe.experiments.vggsound.prepare import VIDEO_EXTS, Clip, ClipReader, sample_sha
from mkepipe.service.inbox import PREFIX, Inbox, InboxSample, hashed_sample, list_folder, problem_sample
from mkepipe.service.ingest import CHANGED, Ingested, copy_rows, finish_ingest, staging_dir

COPY_ROWS = 64  # previous D_u rows copied per read
MODALITIES = ("spec", "video")


def scan_inbox(inbox: str | Path) -> list[InboxSample]:
    """Every clip in the inbox, hashed by content, in name order; unusable entries come
    back as problem samples."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    listing = list_folder(inbox, inbox)
    samples = [problem_sample(f"{PREFIX}/{p.name}", p, reason, detail) for p, reason, detail in listing.bad]
    samples += [problem_sample(f"{PREFIX}/{p.name}", p, "not_a_file", "a folder where a clip file was expected")
                for p in listing.folders]
    for path in listing.files:
        if path.suffix.lower() not in VIDEO_EXTS:
            samples.append(problem_sample(f"{PREFIX}/{path.name}", path, "unreadable",
                                          f"not a video clip ({', '.join(VIDEO_EXTS)})"))
            continue
        samples.append(hashed_sample(f"{PREFIX}/{path.stem}", {"video": path}))
    return samples


class ClipInbox(Inbox):
    """New video clips (see the module docstring)."""

    def scan(self, inbox: Path, prepare_cfg: VggsoundPrepareConfig) -> list[InboxSample]:
        return scan_inbox(inbox)

    def ingest(self, prev: Path, out: Path, samples: list[InboxSample], changed: list[InboxSample],
               project_dir: Path) -> Ingested:
        manifest = read_manifest(prev)
        reader = ClipReader(VggsoundPrepareConfig.model_validate(manifest["config"]))
        log = q.QuarantineLog()
        for s in changed:
            log.add(s.id, "inbox", s.sources, q.BadSample(CHANGED, "files differ from the ingested ones; "
                                                                   "give new data a new name"))
        tmp = staging_dir(out)
        writer = SplitWriter(tmp, "unlabeled", divide={"video": 255.0})
        copy_rows(prev / "unlabeled", writer, MODALITIES, COPY_ROWS)
        rows: dict[str, dict] = {}
        added: dict[str, str] = {}
        for s in samples:
            try:
                if s.problem:
                    raise q.BadSample(s.problem, s.detail)
                clip = Clip(s.id, "unlabeled", s.files["video"], (), s.id)
                spec, video = reader.spec(clip), reader.video(clip)
            except q.BadSample as err:
                log.add(s.id, "inbox", s.sources, err)
                continue
            except OSError as err:
                log.add(s.id, "inbox", s.sources, q.BadSample("io_error", str(err)))
                continue
            writer.append([s.id], {"spec": spec[None], "video": video[None]})
            rows[s.id] = {"split": "unlabeled", "source": "inbox", "file": clip.path.name,
                          "sha256": sample_sha(spec, video, None), **({"notes": clip.notes} if clip.notes else {})}
            added[s.id] = s.sha256
        if not rows:
            writer.abort()
            shutil.rmtree(tmp)
            return Ingested(None, {}, log)
        writer.close()
        finish_ingest(prev, tmp, out, manifest, rows, log)
        return Ingested(out, added, log)

