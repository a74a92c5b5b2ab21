"""The relabel service's on-disk state: one JSON pointer written atomically, last.

Layout of ``<state_dir>/<experiment>/`` (every directory below is immutable once
``state.json`` points at it; anything it does not point at is scratch a later run may
delete and redo)::

    state.json                    round, current dataset/generation/teacher, ingested ids
    datasets/v0000/               dataset versions: {labeled,unlabeled,test}.npz + manifest.json
    labels/round0000/<gen-id>/    one label generation per round; round n's parent is round n-1's
    models/round0000/teacher.pt   round 0: the pipeline's promoted teacher; round n: students
    reports/round0001/            metrics.json, report.md, figures, quarantine.json
    .lock                         flock held by the one run allowed at a time

Round 0 is a copy of what the DVC pipeline produced (the bootstrap); the first run with
new data creates it alongside round 1.
"""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from mkepipe.fileio import atomic_write_text

STATE = "state.json"
STATE_FORMAT = 1


@dataclass
class ServiceState:
    """What the service currently serves; every path is relative to the state root."""

    experiment: str
    round: int
    dataset: str
    generation: str
    teacher: str
    ingested: dict[str, str] = field(default_factory=dict)  # inbox sample id → source sha256
    rejected: dict[str, dict[str, str]] = field(default_factory=dict)  # id → {sha256, reason, detail}
    history: list[dict[str, Any]] = field(default_factory=list)  # one summary row per round


@dataclass(frozen=True)
class Layout:
    """Paths of one experiment's service state."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / STATE

    def dataset(self, round_id: int) -> Path:
        return self.root / "datasets" / f"v{round_id:04d}"

    def labels(self, round_id: int) -> Path:
        return self.root / "labels" / f"round{round_id:04d}"

    def models(self, round_id: int) -> Path:
        return self.root / "models" / f"round{round_id:04d}"

    def reports(self, round_id: int) -> Path:
        return self.root / "reports" / f"round{round_id:04d}"

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def abs(self, rel: str) -> Path:
        return self.root / rel


def read_state(layout: Layout) -> ServiceState | None:
    """The committed state, or None before the first round."""
    if not layout.state.exists():
        return None
    raw = json.loads(layout.state.read_text())
    if raw.pop("format", None) != STATE_FORMAT:
        raise ValueError(f"{layout.state}: unknown state format")
    return ServiceState(**raw)


def write_state(layout: Layout, state: ServiceState) -> None:
    """Commit ``state``: the single atomic rename that makes a round visible."""
    text = json.dumps({"format": STATE_FORMAT, **asdict(state)}, indent=1, sort_keys=True) + "\n"
    atomic_write_text(layout.state, text)


@contextmanager
def service_lock(layout: Layout) -> Iterator[None]:
    """Hold the experiment's service lock (blocks while another run holds it). The kernel
    drops it when the holder dies, so a killed run never leaves it stuck."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / ".lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
