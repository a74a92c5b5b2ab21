"""Dataset versions of the relabel service: what every experiment's ingest shares.

A new version is the previous one plus the good new samples, built in a staging folder
and renamed into place, so a reader never sees half of one. Splits the ingest does not
change are hard-linked from the previous version.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from mkepipe.data import quarantine as q
from mkepipe.data.arrays import NpyFile
from mkepipe.data.manifest import write_manifest
from mkepipe.fileio import TMP_MARK, fsync_dir

if TYPE_CHECKING:
    from mkepipe.data.split import SplitWriter

CHANGED = "changed_after_ingest"
q.register_reason(CHANGED, "files differ from the ingested ones; give new data a new name")


@dataclass
class Ingested:
    """The outcome of one ingest: ``version`` is None when no sample was good."""

    version: Path | None
    added: dict[str, str]  # sample id → source sha256
    quarantine: q.QuarantineLog

    def rejected(self, sha: dict[str, str]) -> dict[str, dict[str, str]]:
        """Quarantined ids with the content hash they were refused for (skipped until it changes)."""
        return {e.id: {"sha256": sha[e.id], "reason": e.reason, "detail": e.detail} for e in self.quarantine.entries}


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link (or copy) every file below ``src`` into ``dst``, skipping strays of killed writes."""
    for path in sorted(Path(src).rglob("*")):
        if path.is_file() and TMP_MARK not in path.name:
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(path, target)


def staging_dir(dst: Path) -> Path:
    """A fresh, empty folder beside ``dst`` to build it in."""
    tmp = dst.with_name(f"{dst.name}{TMP_MARK}{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def replace_dir(tmp: Path, dst: Path) -> None:
    """Move a finished ``tmp`` to ``dst``; a ``dst`` left by a killed run is not referenced, so it goes."""
    fsync_dir(tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.rename(tmp, dst)
    fsync_dir(dst.parent)


def copy_dataset(src: Path, dst: Path) -> None:
    """Copy a prepared dataset (its splits and manifest, not its ``source/``) into a fresh ``dst``."""
    tmp = staging_dir(dst)
    for path in sorted(Path(src).iterdir()):
        if TMP_MARK in path.name or path.name == "source":
            continue
        if path.is_dir():
            link_tree(path, tmp / path.name)
        elif path.is_file():
            link_or_copy(path, tmp / path.name)
    replace_dir(tmp, dst)


def copy_rows(split: Path, writer: "SplitWriter", modalities: Sequence[str], chunk: int) -> None:
    """Append a previous dataset version's split rows (``modalities``, as stored) to
    ``writer``, ``chunk`` rows per read, so memory does not grow with the split."""
    ids = (split / "ids.txt").read_text().splitlines()
    files = {m: NpyFile(split / f"{m}.npy") for m in modalities}
    for start in range(0, len(ids), chunk):
        rows = range(start, min(start + chunk, len(ids)))
        writer.append(ids[start:start + chunk], {m: f.rows(rows) for m, f in files.items()})


def finish_ingest(prev: Path, tmp: Path, out: Path, manifest: dict, rows: dict[str, dict], log: q.QuarantineLog,
                  **ingested) -> None:
    """Complete a new dataset version staged in ``tmp`` whose ``unlabeled`` split is written
    (the previous rows and ``rows``): hard-link the previous version's other splits, write
    the quarantine log and the manifest (the previous samples plus ``rows``, the counts, an
    ``ingested`` record with ``ingested``'s extra fields) and move it into ``out`` atomically."""
    from mkepipe.data.split import SPLIT_META  # here: the split module imports torch

    for split in sorted(p for p in prev.iterdir() if (p / SPLIT_META).is_file() and p.name != "unlabeled"):
        link_tree(split, tmp / split.name)
    log.write(tmp)
    own = ("format", "dataset", "num_samples", "sha256", "samples")  # write_manifest's own fields
    extra = {k: v for k, v in manifest.items() if k not in own}
    extra["counts"] = {**manifest["counts"], "unlabeled": manifest["counts"]["unlabeled"] + len(rows)}
    extra["ingested"] = {"from": prev.name, "added": len(rows), **ingested, "quarantine": log.summary()}
    write_manifest(tmp, manifest["dataset"], {**manifest["samples"], **rows}, extra)
    replace_dir(tmp, out)
