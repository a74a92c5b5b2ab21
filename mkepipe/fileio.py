"""Crash-safe file writes (temporary name, fsync, rename, fsync of the directory), file
hashing and JSON reading. Every writer of pipeline outputs goes through here."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

TMP_MARK = ".tmp-"  # in the name of every temporary file; a crash can leave such strays behind
_CHUNK = 8 << 20


def fsync_dir(path: str | Path) -> None:
    """Make renames inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_strays(path: Path) -> None:
    """Delete the temporary files (``<name>.tmp-<pid>…``) that killed writers of ``path``
    left beside it; the temporary file of a writer still running is kept."""
    for stray in path.parent.glob(f"{glob.escape(path.name)}{TMP_MARK}*"):
        pid = stray.name[len(path.name) + len(TMP_MARK):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and stray.is_file():
            stray.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically.

    A crash at any point leaves either the old file or the new one, never half of one;
    the next write of ``path`` removes the temporary file the crash left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_strays(path)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy the file ``src`` to ``dst`` through :func:`atomic_write`."""
    return atomic_write(dst, lambda p: shutil.copyfile(src, p))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a damaged one is a ValueError that names it (a missing one stays
    FileNotFoundError)."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); the file is damaged") from None
