"""Bad samples and the quarantine report.

A bad sample is skipped with its reason instead of stopping the run or reaching
training: readers and checks raise :class:`BadSample`, the prepare step (or the relabel
service's ingest) records it in a :class:`QuarantineLog` and writes ``quarantine.json``.
Experiments add reasons of their own with :func:`register_reason`.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mkepipe.fileio import atomic_write_text

REPORT = "quarantine.json"

REASONS = {
    "unreadable": "file missing, truncated or not decodable",
    "missing_modality": "a modality's file is absent",
    "non_finite": "NaN or infinite values in an input",
    "size_mismatch": "modalities and labels differ in size",
    "label_out_of_range": "label id above the label space",
    "bad_truth": "D_u ground truth unusable (sample kept, its truth set to void)",
    "not_a_file": "an inbox entry that is not a regular file or folder (FIFO, socket, device, dangling link)",
    "outside_inbox": "a symbolic link that leads outside the inbox",
    "io_error": "reading the sample failed with an I/O error",
}


def register_reason(name: str, description: str) -> None:
    """Add an experiment-specific quarantine reason (e.g. ``empty_depth``)."""
    if REASONS.get(name, description) != description:
        raise ValueError(f"quarantine reason {name!r} is already registered as {REASONS[name]!r}")
    REASONS[name] = description


class BadSample(Exception):
    """A sample that cannot be used; ``reason`` is a key of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown quarantine reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class QuarantineEntry:
    id: str
    split: str
    sources: tuple[str, ...]
    reason: str
    detail: str = ""


@dataclass
class QuarantineLog:
    """Collects quarantined samples during one prepare run."""

    entries: list[QuarantineEntry] = field(default_factory=list)

    def add(self, sample_id: str, split: str, sources: list[str] | tuple[str, ...], err: BadSample) -> None:
        self.entries.append(QuarantineEntry(sample_id, split, tuple(str(s) for s in sources), err.reason, err.detail))

    def __len__(self) -> int:
        return len(self.entries)

    def summary(self) -> dict:
        return {"count": len(self.entries),
                "by_reason": dict(sorted(Counter(e.reason for e in self.entries).items())),
                "by_split": dict(sorted(Counter(e.split for e in self.entries).items()))}

    def to_dict(self) -> dict:
        samples = [{**asdict(e), "sources": list(e.sources)} for e in self.entries]
        return {"format": 1, **self.summary(), "reasons": REASONS, "samples": samples}

    def write(self, out_dir: str | Path) -> Path:
        return atomic_write_text(Path(out_dir) / REPORT, json.dumps(self.to_dict(), indent=1))


def read_quarantine(data_dir: str | Path) -> dict:
    """The quarantine report a prepare run wrote into ``data_dir``."""
    return json.loads((Path(data_dir) / REPORT).read_text())


def check_labels(labels: np.ndarray, max_id: int) -> np.ndarray:
    if labels.ndim != 2:
        raise BadSample("unreadable", f"labels must be (H, W), got {labels.shape}")
    top = int(labels.max(initial=0))
    if top > max_id:
        raise BadSample("label_out_of_range", f"label id {top} > {max_id} ({int((labels > max_id).sum())} pixels)")
    return labels


def check_sizes(**arrays: np.ndarray | None) -> None:
    """All given maps must share one (H, W)."""
    sizes = {k: tuple(a.shape[:2]) for k, a in arrays.items() if a is not None}
    if len(set(sizes.values())) > 1:
        raise BadSample("size_mismatch", ", ".join(f"{k} {h}x{w}" for k, (h, w) in sizes.items()))
