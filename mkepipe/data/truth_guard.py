"""A guard that keeps D_u's ground truth out of training.

D_u's true labels exist for the MM (sup) upper bound and for label-quality reports only.
Inside ``with forbid_unlabeled_truth():`` — or in a process started with
``MKE_FORBID_UNLABELED_TRUTH=1`` — any attempt to *read* a file under an
``unlabeled_truth`` split folder or a ``raw_truth`` folder through Python's ``open`` or
``os.open`` (which ``np.load``, ``Path.read_bytes`` and the split readers use) raises
:class:`UnlabeledTruthAccessError`, whichever module tries. It works through a
``sys.addaudithook`` hook installed on first use; readers in C (``cv2.imread``) are not
seen, so ``Experiment.load_unlabeled_truth`` also checks the guard itself.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import PurePath
from typing import Iterator

ENV = "MKE_FORBID_UNLABELED_TRUTH"
TRUTH_FILES = frozenset({"unlabeled_truth.npz"})  # the format before split folders
TRUTH_DIRS = frozenset({"unlabeled_truth", "raw_truth"})

_lock = threading.Lock()
_depth = 0
_installed = False


class UnlabeledTruthAccessError(PermissionError):
    """Something read D_u's ground truth where that is forbidden."""


def truth_access_forbidden() -> bool:
    return _depth > 0 or os.environ.get(ENV, "") not in ("", "0")


def is_truth_path(path: object) -> bool:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        return False
    p = PurePath(os.fspath(path))
    return p.name in TRUTH_FILES or any(part in TRUTH_DIRS for part in p.parts[:-1])


def check_truth_access(what: object) -> None:
    """Raise if reading ``what`` (D_u truth) is forbidden right now."""
    if truth_access_forbidden():
        raise UnlabeledTruthAccessError(
            f"read of D_u ground truth ({what}) while it is forbidden: only the MM (sup) bound and "
            f"label-quality reports may read it (guard: forbid_unlabeled_truth() / {ENV}=1)")


def _reads(mode: object, flags: object) -> bool:
    if isinstance(mode, str):
        return "r" in mode or "+" in mode
    if isinstance(flags, int):
        return flags & (os.O_WRONLY | os.O_RDWR) != os.O_WRONLY
    return True


def _audit(event: str, args: tuple) -> None:
    if event == "open" and (_depth > 0 or os.environ.get(ENV, "") not in ("", "0")):
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if is_truth_path(path) and _reads(mode, flags):
            check_truth_access(path)


def install_hook() -> None:
    """Install the audit hook (once per process; it is idle while nothing is forbidden)."""
    global _installed
    with _lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True


@contextmanager
def forbid_unlabeled_truth() -> Iterator[None]:
    """Within the block, reading D_u's ground truth raises :class:`UnlabeledTruthAccessError`."""
    global _depth
    install_hook()
    with _lock:
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1


if truth_access_forbidden():
    install_hook()
