"""The inbox where new sensor data lands: the adapter interface, safe listing, and the
diff against what was ingested.

``<inbox_dir>/<experiment>/`` holds one folder per recording; the experiment's
:class:`Inbox` adapter (``Experiment.inbox``) turns it into samples and ingests them.
Every entry is ``lstat``-ed before it is touched: anything that is not a regular file or
a folder (FIFO, socket, device, dangling link) and any symbolic link that leads outside
the inbox becomes a :class:`InboxSample` with a ``problem``, which ingest quarantines
with its reason instead of opening it. A sample is new when its id was never ingested;
one whose files changed after ingestion is refused (ids are keys of the label store).
"""
from __future__ import annotations

import hashlib
import os
import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "inbox"


@dataclass(frozen=True)
class InboxSample:
    """One sample in the inbox. ``files`` maps a role (``rgb``, ``depth``…) to its file
    (None: missing); ``problem`` is a quarantine reason found while listing (the sample
    is never opened then), with ``detail`` saying why."""

    id: str
    files: dict[str, Path | None] = field(compare=False)
    sha256: str = field(compare=False)
    problem: str | None = field(default=None, compare=False)
    detail: str = field(default="", compare=False)
    layout: str = field(default="", compare=False)

    @property
    def sources(self) -> list[str]:
        return [str(p) for p in self.files.values() if p is not None]


@dataclass
class Listing:
    """A folder's usable regular files and folders, and the entries that are not usable."""

    files: list[Path]
    folders: list[Path]
    bad: list[tuple[Path, str, str]]  # (path, reason, detail)


def list_folder(folder: Path, root: Path) -> Listing:
    """The entries of ``folder``, classified by ``lstat`` (never following a link out of
    ``root``, never opening anything), sorted by name; names starting with ``.`` are skipped."""
    out = Listing([], [], [])
    root = root.resolve()
    try:
        names = sorted(os.listdir(folder))
    except OSError as err:
        out.bad.append((folder, "io_error", f"cannot list: {err.strerror}"))
        return out
    for name in names:
        if name.startswith("."):
            continue
        path = folder / name
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                target = path.resolve()
                if not target.is_relative_to(root):
                    out.bad.append((path, "outside_inbox", f"symbolic link to {target}"))
                    continue
                st = os.stat(path)
        except FileNotFoundError:
            out.bad.append((path, "not_a_file", "dangling symbolic link"))
            continue
        except OSError as err:
            out.bad.append((path, "io_error", err.strerror or str(err)))
            continue
        if stat.S_ISREG(st.st_mode):
            out.files.append(path)
        elif stat.S_ISDIR(st.st_mode):
            out.folders.append(path)
        else:
            out.bad.append((path, "not_a_file", f"{_kind(st.st_mode)}, not a regular file"))
    return out


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "an unknown kind of entry"


def content_sha256(paths: list[Path | None]) -> str:
    """Hash of the files' bytes (a missing one hashes as a marker); raises OSError."""
    h = hashlib.sha256()
    for p in paths:
        if p is None:
            h.update(b"\0missing")
            continue
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def problem_sample(sample_id: str, path: Path, reason: str, detail: str) -> InboxSample:
    """A sample that cannot be opened; its hash follows the entry's identity (type, size,
    mtime), so a replaced entry is tried again."""
    try:
        st = os.lstat(path)
        ident = f"{st.st_mode}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        ident = "gone"
    sha = hashlib.sha256(f"{reason}\0{ident}".encode()).hexdigest()
    return InboxSample(sample_id, {"entry": path}, sha, reason, detail)


def hashed_sample(sample_id: str, files: dict[str, Path | None], layout: str = "", detail: str = "") -> InboxSample:
    """A sample whose files are hashed now; a read error makes it an ``io_error`` problem."""
    try:
        return InboxSample(sample_id, files, content_sha256(list(files.values())), layout=layout, detail=detail)
    except OSError as err:
        path = next(p for p in files.values() if p is not None)
        return problem_sample(sample_id, path, "io_error", f"{path}: {err.strerror or err}")


@dataclass
class InboxDiff:
    new: list[InboxSample]
    changed: list[InboxSample]  # ingested ids whose content differs now

    @property
    def empty(self) -> bool:
        return not self.new and not self.changed


def diff_inbox(samples: list[InboxSample], ingested: dict[str, str], rejected: dict[str, dict]) -> InboxDiff:
    """What is left to do: samples never seen, minus those already refused with the same content."""
    new, changed = [], []
    for s in samples:
        if rejected.get(s.id, {}).get("sha256") == s.sha256:
            continue
        if s.id not in ingested:
            new.append(s)
        elif ingested[s.id] != s.sha256:
            changed.append(s)
    return InboxDiff(new, changed)


class Inbox(ABC):
    """An experiment's adapter for new raw sensor data (``Experiment.inbox``)."""

    @abstractmethod
    def scan(self, inbox: Path, prepare_cfg: Any) -> list[InboxSample]:
        """Every sample in ``inbox`` (listed with :func:`list_folder`), hashed by content."""

    @abstractmethod
    def ingest(self, prev: Path, out: Path, samples: list[InboxSample], changed: list[InboxSample],
               project_dir: Path) -> "Any":
        """Validate ``samples`` and write dataset version ``out`` = ``prev`` + the good ones
        (an :class:`mkepipe.service.ingest.Ingested`); problem samples and ``changed`` ones
        are quarantined with their reason."""
