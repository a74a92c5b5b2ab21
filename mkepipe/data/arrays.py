"""``.npy`` files read and written row by row: the on-disk form of every prepared split.

Rows are read with ``os.pread`` into fresh buffers, not through a memory map: pages of a
map that an epoch touched would count towards the process's resident memory until the
kernel reclaims them, while pread leaves them in the page cache, which does not. So a
training run's memory stays flat however large D_u grows.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mkepipe.fileio import TMP_MARK, fsync_dir, remove_strays

_HEADER_BYTES = 128  # fixed, so the shape can be rewritten in place when the writer closes


class NpyFile:
    """Random row access to a C-ordered ``.npy`` file (``rows``), or all of it (``read_all``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None  # set first: __del__ runs even when the checks below refuse the file
        self._pid = -1
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                self.offset = f.tell()
        except (OSError, ValueError) as err:
            raise ValueError(f"{self.path}: not a readable .npy file ({err})") from None
        if fortran or dtype.hasobject:
            raise ValueError(f"{self.path}: expected a C-ordered array of plain values")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype: np.dtype = dtype
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * dtype.itemsize
        expected = self.offset + self.row_bytes * (self.shape[0] if self.shape else 0)
        if self.path.stat().st_size != expected:
            raise ValueError(f"{self.path}: {self.path.stat().st_size} bytes, its header promises {expected} "
                             "(truncated or damaged)")

    def __len__(self) -> int:
        return self.shape[0]

    def _handle(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a DataLoader worker opens its own
            self._fd = os.open(self.path, os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def _read(self, start: int, count: int) -> bytes:
        want = count * self.row_bytes
        data = os.pread(self._handle(), want, self.offset + start * self.row_bytes)
        if len(data) != want:
            raise ValueError(f"{self.path}: short read at row {start} (file changed while reading?)")
        return data

    def rows(self, indices: Sequence[int]) -> np.ndarray:
        """The rows at ``indices``, in that order, as a new array; runs of consecutive
        indices are read with one call."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{self.path}: row index out of range [0, {len(self)})")
        out = np.empty((len(idx), *self.row_shape), self.dtype)
        if not len(idx) or not self.row_bytes:
            return out
        flat = out.reshape(len(idx), -1).view(np.uint8)
        i = 0
        while i < len(idx):
            j = i + 1
            while j < len(idx) and idx[j] == idx[j - 1] + 1:
                j += 1
            flat[i:j] = np.frombuffer(self._read(int(idx[i]), j - i), np.uint8).reshape(j - i, -1)
            i = j
        return out

    def read_all(self) -> np.ndarray:
        return self.rows(range(len(self)))

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def __del__(self) -> None:
        self.close()


class NpyWriter:
    """Append rows to a new ``.npy`` file; ``close`` writes the final shape and renames
    the file into place (a crash leaves only a ``.tmp-`` stray, never a short file, and
    the next writer of the file removes the stray)."""

    def __init__(self, path: str | Path, row_shape: Iterable[int], dtype: np.dtype | type) -> None:
        self.path = Path(path)
        self.row_shape = tuple(int(d) for d in row_shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_strays(self.path)
        self.tmp = self.path.with_name(f"{self.path.name}{TMP_MARK}{os.getpid()}")
        self._f = open(self.tmp, "wb")
        self._f.write(self._header(0))

    def _header(self, rows: int) -> bytes:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (rows, *self.row_shape)}
        text = repr(header).encode("latin1")
        body = _HEADER_BYTES - 10  # magic (6) + version (2) + length (2)
        if len(text) + 1 > body:
            raise ValueError(f"{self.path}: shape {header['shape']} too long for the fixed .npy header")
        return b"\x93NUMPY\x01\x00" + body.to_bytes(2, "little") + text + b" " * (body - len(text) - 1) + b"\n"

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path}: rows of shape {rows.shape[1:]}, expected {self.row_shape}")
        self._f.write(rows.tobytes())
        self.rows += len(rows)

    def close(self) -> Path:
        self._f.seek(0)
        self._f.write(self._header(self.rows))
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)
        return self.path

    def abort(self) -> None:
        self._f.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "NpyWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    """Write a whole array through :class:`NpyWriter` (atomically)."""
    array = np.asarray(array)
    with NpyWriter(path, array.shape[1:], array.dtype) as w:
        w.append(array)
    return Path(path)
