"""AudioSet and VGGSound label files, the class map between them, and the clip folders.

The formats, as the datasets ship them:

* AudioSet ``class_labels_indices.csv`` — header ``index,mid,display_name``, one row per
  class; display names with commas are quoted: ``1,/m/05zppz,"Male speech, man speaking"``.
* AudioSet segments CSV (``balanced_train_segments.csv``, ``eval_segments.csv``, …) — ``#``
  comment lines, then ``YTID, start_seconds, end_seconds, "mid,mid"`` with a space after
  each comma: ``<YTID>, 30.000, 40.000, "/m/04rlf,/m/07y_7"``.
* ``vggsound.csv`` — no header; YouTube id, integer start second, label (quoted when it
  holds a comma), ``train`` or ``test``: ``<YTID>,30,"playing violin, fiddle",train``.
* The class map (:data:`DEFAULT_CLASS_MAP`) — ``#`` comments, header
  ``name,vggsound_label,audioset_mid,audioset_name``: one row per class of the experiment.
* Clip files — ``<YTID>_<start>.<ext>``, the start second written plain (``abc_30.wav``) or
  zero-padded to six digits (``abc_000030.mp4``, the form of VGGSound's download scripts),
  anywhere below the media folder.

A row that cannot be used is quarantined with its reason (``bad_row``, ``duplicate_row``,
``unknown_label``, ``missing_clip``) and the file's line; a bad label file or class map is an
error naming the file and line.
"""
from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mkepipe.data.quarantine import BadSample, QuarantineLog, register_reason

log = logging.getLogger(__name__)

for _name, _text in (
        ("bad_row", "a CSV row that does not parse"),
        ("unknown_label", "a label or AudioSet mid that the label files do not define"),
        ("missing_clip", "no media file for a CSV row"),
        ("duplicate_row", "another row already names this clip")):
    register_reason(_name, _text)

DEFAULT_CLASS_MAP = Path(__file__).with_name("class_map.csv")
VGGSOUND_SPLITS = ("train", "test")
_MAP_HEADER = ["name", "vggsound_label", "audioset_mid", "audioset_name"]


@dataclass(frozen=True)
class Segment:
    """One row of an AudioSet segments CSV; ``line`` is its line in the file."""

    ytid: str
    start: float
    end: float
    mids: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class VggRow:
    """One row of ``vggsound.csv``; ``split`` is ``train`` or ``test``."""

    ytid: str
    start: int
    label: str
    split: str
    line: int


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank, non-``#`` line. Each line is parsed on its
    own, so one stray quote spoils only its row, not the rest of the file."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        for number, text in enumerate(f, 1):
            if text.strip() and not text.lstrip().startswith("#"):
                yield number, [field.strip() for field in next(csv.reader([text], skipinitialspace=True))]


def read_class_indices(path: Path) -> dict[str, str]:
    """AudioSet's ``class_labels_indices.csv``: mid → display name, in index order."""
    path = Path(path)
    classes: dict[str, str] = {}
    rows = _rows(path)
    header = next(rows, None)
    if header is None or header[1] != ["index", "mid", "display_name"]:
        raise ValueError(f"{path}: expected the header 'index,mid,display_name', got "
                         f"{','.join(header[1]) if header else 'an empty file'!r}")
    for line, fields in rows:
        if len(fields) != 3 or not _is_count(fields[0]) or not fields[1]:
            raise ValueError(f"{path}:{line}: expected 'index,mid,display_name', got {','.join(fields)!r}")
        if fields[1] in classes:
            raise ValueError(f"{path}:{line}: mid {fields[1]} appears twice")
        classes[fields[1]] = fields[2]
    if not classes:
        raise ValueError(f"{path}: no classes")
    return classes


def _quarantine(qlog: QuarantineLog, dataset: str, path: Path, line: int, split: str, err: BadSample) -> None:
    qlog.add(f"{dataset}:{path.name}:{line}", split, [str(path)], err)


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit()


def read_audioset_segments(path: Path, qlog: QuarantineLog) -> list[Segment]:
    """The rows of an AudioSet segments CSV in file order. Rows that do not parse are
    quarantined ``bad_row``; a second row for the same clip (id and whole start second,
    which name its file) ``duplicate_row``, the first kept."""
    path = Path(path)
    segments: list[Segment] = []
    seen: dict[tuple[str, int], int] = {}
    for line, fields in _rows(path):
        try:
            seg = _segment(fields, line)
        except ValueError as err:
            _quarantine(qlog, "audioset", path, line, "labeled", BadSample("bad_row", str(err)))
            continue
        key = (seg.ytid, int(seg.start))
        if key in seen:
            _quarantine(qlog, "audioset", path, line, "labeled",
                        BadSample("duplicate_row", f"{seg.ytid} at {seg.start:g} s is already on line {seen[key]}"))
            continue
        seen[key] = line
        segments.append(seg)
    return segments


def _segment(fields: list[str], line: int) -> Segment:
    if len(fields) != 4:
        raise ValueError(f"{len(fields)} fields, expected 4 (YTID, start_seconds, end_seconds, \"mid,mid\")")
    ytid, start, end, labels = fields
    if not ytid:
        raise ValueError("empty YouTube id")
    try:
        t0, t1 = float(start), float(end)
    except ValueError:
        raise ValueError(f"times {start!r}, {end!r} are not numbers") from None
    if not (math.isfinite(t0) and math.isfinite(t1) and 0 <= t0 < t1):
        raise ValueError(f"times {start!r}, {end!r}: need 0 <= start < end")
    mids = tuple(m.strip() for m in labels.split(",") if m.strip())
    if not mids:
        raise ValueError("no labels")
    return Segment(ytid, t0, t1, mids, line)


def read_vggsound_csv(path: Path, qlog: QuarantineLog) -> list[VggRow]:
    """The rows of ``vggsound.csv`` in file order. Rows that do not parse are quarantined
    ``bad_row`` (split ``unlabeled``); a second row for the same (id, start)
    ``duplicate_row`` (split ``test`` or ``unlabeled``, by its own split), the first kept."""
    path = Path(path)
    rows: list[VggRow] = []
    seen: dict[tuple[str, int], int] = {}
    for line, fields in _rows(path):
        try:
            row = _vgg_row(fields, line)
        except ValueError as err:
            _quarantine(qlog, "vggsound", path, line, "unlabeled", BadSample("bad_row", str(err)))
            continue
        key = (row.ytid, row.start)
        if key in seen:
            _quarantine(qlog, "vggsound", path, line, "test" if row.split == "test" else "unlabeled",
                        BadSample("duplicate_row", f"{row.ytid} at {row.start} s is already on line {seen[key]}"))
            continue
        seen[key] = line
        rows.append(row)
    return rows


def _vgg_row(fields: list[str], line: int) -> VggRow:
    if len(fields) != 4:
        raise ValueError(f"{len(fields)} fields, expected 4 (YouTube id, start second, label, train|test)")
    ytid, start, label, split = fields
    if not ytid or not label:
        raise ValueError("empty YouTube id or label")
    if not _is_count(start):
        raise ValueError(f"start {start!r} is not a whole number of seconds")
    if split not in VGGSOUND_SPLITS:
        raise ValueError(f"split {split!r} is neither 'train' nor 'test'")
    return VggRow(ytid, int(start), label, split, line)


@dataclass(frozen=True)
class ClassEntry:
    """One class: its name, its VGGSound label and its AudioSet class."""

    name: str
    vggsound_label: str
    audioset_mid: str
    audioset_name: str


@dataclass(frozen=True)
class ClassMap:
    """The experiment's class set; a class's index is its position in the map."""

    entries: tuple[ClassEntry, ...]
    source: str = "class map"

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError(f"{self.source}: no classes")
        for column in ("name", "vggsound_label", "audioset_mid"):
            values = [getattr(e, column) for e in self.entries]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{self.source}: {column} not unique: {', '.join(map(repr, twice))}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    @cached_property
    def by_label(self) -> dict[str, int]:
        """VGGSound label → class index."""
        return {e.vggsound_label: i for i, e in enumerate(self.entries)}

    @cached_property
    def by_mid(self) -> dict[str, int]:
        """AudioSet mid → class index."""
        return {e.audioset_mid: i for i, e in enumerate(self.entries)}

    def subset(self, names: Iterable[str]) -> ClassMap:
        """The map of the given classes, in the given order."""
        by_name = {e.name: e for e in self.entries}
        names = tuple(names)
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"{self.source}: no class named {', '.join(map(repr, unknown))}")
        return ClassMap(tuple(by_name[n] for n in names), self.source)

    def validate(self, class_indices: dict[str, str]) -> None:
        """Check every mid against AudioSet's ``class_labels_indices.csv`` (mid → display
        name): an unknown mid is a ValueError naming the rows; a display name that differs
        from the map's ``audioset_name`` is logged, as it may mean a mistyped mid."""
        unknown = [f"{e.name} ({e.audioset_mid})" for e in self.entries if e.audioset_mid not in class_indices]
        if unknown:
            raise ValueError(f"{self.source}: AudioSet mid not in class_labels_indices.csv for "
                             f"{', '.join(unknown)}")
        for e in self.entries:
            if e.audioset_name and class_indices[e.audioset_mid] != e.audioset_name:
                log.warning("%s: class %s: %s is %r in class_labels_indices.csv, the map says %r", self.source,
                            e.name, e.audioset_mid, class_indices[e.audioset_mid], e.audioset_name)


def read_class_map(path: Path) -> ClassMap:
    """Read a class map CSV (``#`` comments, header
    ``name,vggsound_label,audioset_mid,audioset_name``)."""
    path = Path(path)
    rows = _rows(path)
    header = next(rows, None)
    if header is None or header[1] != _MAP_HEADER:
        raise ValueError(f"{path}: expected the header {','.join(_MAP_HEADER)!r}, got "
                         f"{','.join(header[1]) if header else 'an empty file'!r}")
    entries = []
    for line, fields in rows:
        if len(fields) != len(_MAP_HEADER) or not all(fields[:3]):
            raise ValueError(f"{path}:{line}: expected name, vggsound_label, audioset_mid (non-empty) and "
                             f"audioset_name, got {','.join(fields)!r}")
        entries.append(ClassEntry(*fields))
    return ClassMap(tuple(entries), str(path))


def audioset_targets(segment: Segment, class_map: ClassMap, known_mids: Collection[str]) -> tuple[int, ...] | None:
    """The class indices of an AudioSet segment (sorted), or None when none of its mids is
    in the class set. Mids outside the class map are dropped; a mid AudioSet does not
    define (not in ``known_mids``) raises BadSample ``unknown_label``."""
    unknown = [m for m in segment.mids if m not in known_mids]
    if unknown:
        raise BadSample("unknown_label", f"{segment.ytid}: {', '.join(unknown)} not in class_labels_indices.csv")
    targets = sorted({class_map.by_mid[m] for m in segment.mids if m in class_map.by_mid})
    return tuple(targets) if targets else None


def vggsound_target(row: VggRow, class_map: ClassMap) -> int | None:
    """The class index of a VGGSound row, or None when its label is outside the class set."""
    return class_map.by_label.get(row.label)


class ClipIndex:
    """The clip files below ``folder``, indexed once by (YouTube id, start second).

    A name is split at its last ``_`` (ids hold ``_`` and ``-``), so ``a_b-c_000030.mp4``
    is id ``a_b-c``, start 30. Extensions match case-insensitively; where one clip has
    several files, the earliest extension in ``exts`` wins, then the first path in sorted
    order."""

    def __init__(self, folder: Path, exts: Iterable[str]) -> None:
        self.folder = Path(folder)
        self.exts = tuple(e.lower() for e in exts)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: no such folder (clip files <YTID>_<start>.<ext> expected)")
        best: dict[tuple[str, int], tuple[int, str]] = {}
        for dirpath, _, files in os.walk(self.folder):
            for name in files:
                parsed = self._parse(name)
                if parsed is not None:
                    key, rank = parsed
                    path = os.path.join(dirpath, name)
                    best[key] = min(best.get(key, (rank, path)), (rank, path))
        self._paths = {key: Path(path) for key, (_, path) in best.items()}

    def _parse(self, name: str) -> tuple[tuple[str, int], int] | None:
        lower = name.lower()
        for rank, ext in enumerate(self.exts):
            if lower.endswith(ext):
                ytid, _, start = name[:-len(ext)].rpartition("_")
                if ytid and _is_count(start):
                    return (ytid, int(start)), rank
        return None

    def __len__(self) -> int:
        return len(self._paths)

    def find(self, ytid: str, start: int) -> Path | None:
        """The clip file of (id, start second), or None."""
        return self._paths.get((ytid, int(start)))


def find_clip(folder: Path, ytid: str, start: int, exts: Iterable[str]) -> Path | None:
    """One clip's file (see :class:`ClipIndex`, which to use for many lookups)."""
    return ClipIndex(folder, exts).find(ytid, start)
