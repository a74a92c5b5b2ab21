"""Which errors are worth retrying: transient I/O yes, deterministic failures no."""
from __future__ import annotations

import errno
import socket
import time
from typing import Callable, TypeVar

T = TypeVar("T")

TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EIO, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE,
                              errno.ENETDOWN, errno.ENETUNREACH, errno.ECONNRESET, errno.ECONNREFUSED,
                              errno.EHOSTUNREACH})


def is_transient(exc: BaseException) -> bool:
    """A timeout or an OSError whose errno says "try again" (EAGAIN, EIO, ESTALE on NFS…).
    Missing files, permissions, bad data and bugs are deterministic: retrying cannot help."""
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def retry_transient(fn: Callable[[], T], attempts: int = 3, delay_s: float = 1.0) -> T:
    """Call ``fn``; on a transient error wait and try again, up to ``attempts`` calls."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - re-raised unless transient
            if attempt == attempts or not is_transient(exc):
                raise
            time.sleep(delay_s * attempt)
    raise AssertionError("unreachable")
