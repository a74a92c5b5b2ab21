"""Ingest validated inbox samples as a new, immutable dataset version.

The new version is the previous one plus the good new samples in D_u, prepared exactly as
the pipeline's prepare stage prepared the rest (the previous manifest's config: size,
depth encoding, hole filling, HHA cache). D_l, the test split and D_u's truth are the
previous version's files, hard-linked. The version is built in a temporary directory and
renamed into place, so a reader never sees half of one.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mkepipe.data.manifest import read_manifest, write_manifest
from mkepipe.data import quarantine as q
from mkepipe.experiments.nyu.dataset import TRUTH_FILE, save_npz
from mkepipe.experiments.nyu.hha import HHACache
from mkepipe.experiments.nyu.config import NyuPrepareConfig
from mkepipe.experiments.nyu.prepare import _Builder as SampleBuilder  # the prepare stage's validate-and-encode step
from mkepipe.fileio import TMP_MARK, fsync_dir
from mkepipe.service.inbox import InboxSample, load_sample

CHANGED = "changed_after_ingest"
CARRIED = ("labeled.npz", "test.npz", TRUTH_FILE)


@dataclass
class Ingested:
    """The outcome of one ingest: ``version`` is None when no sample was good."""

    version: Path | None
    added: dict[str, str]  # sample id → source sha256
    quarantine: q.QuarantineLog

    def rejected(self, sha: dict[str, str]) -> dict[str, dict[str, str]]:
        """Quarantined ids with the content hash they were refused for (skipped until it changes)."""
        return {e.id: {"sha256": sha[e.id], "reason": e.reason, "detail": e.detail} for e in self.quarantine.entries}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_dataset(src: Path, dst: Path) -> None:
    """Copy a prepared dataset's top-level files (not its ``source/``) into a fresh ``dst``."""
    tmp = dst.with_name(f"{dst.name}{TMP_MARK}{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in sorted(p for p in Path(src).iterdir() if p.is_file() and TMP_MARK not in p.name):
        _link_or_copy(f, tmp / f.name)
    _replace_dir(tmp, dst)


def _replace_dir(tmp: Path, dst: Path) -> None:
    """Move a finished ``tmp`` to ``dst``; a ``dst`` left by a killed run is not referenced, so it goes."""
    fsync_dir(tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.rename(tmp, dst)
    fsync_dir(dst.parent)


def ingest(prev: Path, out: Path, samples: list[InboxSample], changed: list[InboxSample],
           project_dir: Path) -> Ingested:
    """Validate ``samples`` and write ``prev`` + the good ones as dataset version ``out``."""
    manifest = read_manifest(prev)
    cfg = NyuPrepareConfig.model_validate(manifest["config"])
    cache_dir = cfg.hha_cache_dir and project_dir / cfg.hha_cache_dir  # absolute stays absolute
    cache = HHACache(cache_dir if cfg.depth_encoding == "hha" else None)
    log = q.QuarantineLog()
    for s in changed:
        log.entries.append(q.QuarantineEntry(s.id, "inbox", tuple(s.sources), CHANGED,
                                             "files differ from the ingested ones; give new data a new name"))
    builder = SampleBuilder("unlabeled", cfg, cache, log)
    for s in samples:
        builder.add(s.id, s.sources, lambda s=s: load_sample(s))
    if not builder.ids:
        return Ingested(None, {}, log)
    sha = {s.id: s.sha256 for s in samples}
    tmp = out.with_name(f"{out.name}{TMP_MARK}{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with np.load(prev / "unlabeled.npz", allow_pickle=False) as z:
        old = {k: z[k] for k in ("ids", "rgb", "depth")}
    save_npz(tmp / "unlabeled.npz", ids=np.concatenate([old["ids"], np.array(builder.ids, dtype=str)]),
             rgb=np.concatenate([old["rgb"], np.stack(builder.rgb)]),
             depth=np.concatenate([old["depth"], np.stack(builder.depth)]))
    for name in CARRIED:
        if (prev / name).exists():
            _link_or_copy(prev / name, tmp / name)
    log.write(tmp)
    extra = {k: v for k, v in manifest.items() if k not in ("format", "dataset", "num_samples", "sha256", "samples")}
    extra["counts"] = {**manifest["counts"], "unlabeled": manifest["counts"]["unlabeled"] + len(builder.ids)}
    extra["ingested"] = {"from": prev.name, "added": len(builder.ids), "quarantine": log.summary()}
    write_manifest(tmp, manifest["dataset"], {**manifest["samples"], **builder.rows}, extra)
    _replace_dir(tmp, out)
    return Ingested(out, {sid: sha[sid] for sid in builder.ids}, log)
