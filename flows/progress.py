"""A Prefect progress artifact that follows a pipeline run: the stages done, and inside the
running stage the model being trained and its epochs (read from the stage's log lines)."""
from __future__ import annotations

import re

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

EPOCH = re.compile(r": epoch (\d+)/(\d+), loss")
MODEL = re.compile(r"^.*training (\S+) .*\((\d+) of (\d+)\)")


class StageProgress:
    """``line`` for every output line of a stage, ``stage_done`` after it; never fails the run."""

    def __init__(self, key: str, stages: list[str]) -> None:
        self.stages = stages
        self.done = 0
        self.model = (0, 1)  # models finished in the running stage, models in it
        self.shown = -1.0
        self.artifact = create_progress_artifact(0.0, key=key, description=f"0 of {len(stages)} stages")

    def _update(self, fraction: float, message: str) -> None:
        pct = 100.0 * (self.done + min(max(fraction, 0.0), 1.0)) / max(len(self.stages), 1)
        if pct - self.shown < 1.0 and pct < 100:
            return
        self.shown = pct
        try:
            update_progress_artifact(self.artifact, pct, description=message)
        except Exception as exc:  # noqa: BLE001 - a progress bar must never fail the run
            get_run_logger().warning("progress artifact not updated: %s", exc)

    def line(self, stage: str, line: str) -> None:
        if m := MODEL.match(line):
            self.model = (int(m.group(2)) - 1, int(m.group(3)))
        elif m := EPOCH.search(line):
            epoch, epochs = int(m.group(1)), int(m.group(2))
            done, total = self.model
            self._update((done + epoch / epochs) / total, f"{stage}: {line.split(': ', 1)[-1]}")

    def stage_done(self, stage: str) -> None:
        self.done += 1
        self.model = (0, 1)
        self._update(0.0, f"{self.done} of {len(self.stages)} stages ({stage} done)")
