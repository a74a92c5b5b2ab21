"""The project directory the service runs in, and the one lock for everything that writes it.

Flow runs of every deployment (``mke/<experiment>``, ``relabel/<experiment>``) and
``mke relabel`` hold :func:`workspace_lock` while they write the project, so two of them
can never switch ``params.yaml`` or the DVC workspace under each other. The project
directory is fixed when the service starts (:data:`PROJECT_ENV`), never a run parameter.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PROJECT_ENV = "MKE_PROJECT_DIR"
LOCK = Path(".mke") / "workspace.lock"


def project_root() -> Path:
    """The project the service was started for (``mke serve --project``), else the working directory."""
    return Path(os.environ.get(PROJECT_ENV) or ".").resolve()


@contextmanager
def workspace_lock(project: Path) -> Iterator[None]:
    """Hold the project's workspace lock (blocks while another run holds it); the kernel
    drops it if the holder dies."""
    path = Path(project) / LOCK
    path.parent.mkdir(exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
