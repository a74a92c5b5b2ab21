"""On-disk layout of a label generation: shard files, the manifest, atomic writes.

A shard (``shard-00000.lbl``) is one file holding many samples::

    MAGIC (8 bytes)
    block 0 | block 1 | ...          each block = concatenated zlib streams
    index (canonical JSON, utf-8)    per block: ids, offset, length, sha256, streams
    footer (56 bytes)                index offset, index length, index sha256, END

Every byte is covered by a checksum: the manifest holds the sha256 of the whole
file and of its index; the index holds the sha256 of every block.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mkepipe.fileio import TMP_MARK, sha256_file

FORMAT = "mkepipe-labels"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARD_PATTERN = "shard-{:05d}.lbl"
MAGIC = b"MKELBL1\n"
END = b"MKELBLIX"
FOOTER = struct.Struct("<QQ32s8s")


class LabelStoreError(RuntimeError):
    """Invalid request to the label store (bad arguments, label_fn output, lineage)."""


class DamagedGenerationError(LabelStoreError):
    """A generation is incomplete or fails a checksum; ``path`` names the file."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"damaged label generation: {self.path}: {reason}")


@contextmanager
def naming_file(path: Path):
    """Re-raise an OSError that names no file (a failed write, fsync or flush, e.g. ENOSPC)
    as one naming ``path``, with the same errno."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def read_manifest(gen_dir: Path) -> dict:
    path = gen_dir / MANIFEST
    if not path.is_file():
        raise DamagedGenerationError(path, "manifest missing (generation incomplete or not a generation)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedGenerationError(path, f"unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DamagedGenerationError(path, "not a mkepipe label manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DamagedGenerationError(path, f"unsupported format_version {manifest.get('format_version')!r}")
    return manifest


class ShardWriter:
    """Append blocks to ``<name>.tmp-<pid>``; ``commit`` fsyncs and renames it into place."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
        self._file = open(self.tmp, "wb")
        self._hash = hashlib.sha256()
        self._pos = 0
        self._blocks: list[dict] = []
        self._write(MAGIC)

    def _write(self, data: bytes) -> None:
        with naming_file(self.path):
            self._file.write(data)
        self._hash.update(data)
        self._pos += len(data)

    def add_block(self, ids: list[str], arrays: list[tuple[str, np.ndarray]],
                  compress: Callable[[str, memoryview], bytes]) -> None:
        parts, streams = [], []
        for name, arr in arrays:
            arr = np.ascontiguousarray(arr)
            data = compress(name, arr.data)
            parts.append(data)
            streams.append([name, arr.dtype.str, list(arr.shape), len(data)])
        blob = b"".join(parts)
        self._blocks.append({"ids": list(ids), "offset": self._pos, "length": len(blob),
                             "sha256": sha256_hex(blob), "streams": streams})
        self._write(blob)
        with naming_file(self.path):
            self._file.flush()  # a killed writer leaves whole blocks behind, not a stale buffer

    @property
    def samples(self) -> int:
        return sum(len(b["ids"]) for b in self._blocks)

    def commit(self, header: dict, stats: dict) -> dict:
        index = canonical_json({"header": header, "blocks": self._blocks, "stats": stats}).encode()
        index_hash = hashlib.sha256(index).digest()
        offset = self._pos
        self._write(index)
        self._write(FOOTER.pack(offset, len(index), index_hash, END))
        with naming_file(self.path):
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        os.replace(self.tmp, self.path)  # the directory is fsync'd once, before the manifest commit
        return {"file": self.path.name, "samples": self.samples, "bytes": self._pos,
                "sha256": self._hash.hexdigest(), "index_sha256": index_hash.hex()}

    def abort(self) -> None:
        """Drop the temporary file, also after a failed write (then closing may fail too)."""
        try:
            self._file.close()
        except OSError:
            pass  # flushing the rest of a failed shard: the error that matters is already raised
        finally:
            self.tmp.unlink(missing_ok=True)


class ShardReader:
    """Random access to the blocks of one shard; every read is checked against its sha256.

    ``expected`` is the shard's manifest entry: size and index checksum are checked on
    open. The reader re-opens its file descriptor after a fork (DataLoader workers).
    """

    def __init__(self, path: Path, expected: dict | None = None):
        self.path = path
        self.expected = expected
        self._fd: int | None = None
        self._pid = -1
        size = self._stat_size()
        if expected is not None and size != expected["bytes"]:
            self._damaged(f"size {size} bytes, manifest says {expected['bytes']}")
        if size < len(MAGIC) + FOOTER.size:
            self._damaged("truncated")
        if self._pread(len(MAGIC), 0) != MAGIC:
            self._damaged("bad header magic")
        offset, length, index_hash, end = FOOTER.unpack(self._pread(FOOTER.size, size - FOOTER.size))
        if end != END or offset + length + FOOTER.size != size:
            self._damaged("bad footer")
        raw = self._pread(length, offset)
        if hashlib.sha256(raw).digest() != index_hash:
            self._damaged("index checksum mismatch")
        self.index_sha256 = index_hash.hex()
        if expected is not None and self.index_sha256 != expected["index_sha256"]:
            self._damaged("index checksum differs from manifest")
        try:
            index = json.loads(raw)
            self.header: dict = index["header"]
            self.blocks: list[dict] = index["blocks"]
            self.stats: dict = index["stats"]
        except (ValueError, KeyError, TypeError) as exc:
            self._damaged(f"unreadable index ({exc})")
        self.size = size

    def _damaged(self, reason: str):
        raise DamagedGenerationError(self.path, reason)

    def _stat_size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            self._damaged("shard file missing")

    def _pread(self, length: int, offset: int) -> bytes:
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                self._damaged("shard file missing")
            self._pid = os.getpid()
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            self._damaged("short read (file truncated?)")
        return data

    @property
    def ids(self) -> list[str]:
        return [sid for block in self.blocks for sid in block["ids"]]

    def read_block(self, j: int) -> dict[str, np.ndarray]:
        block = self.blocks[j]
        blob = self._pread(block["length"], block["offset"])
        if sha256_hex(blob) != block["sha256"]:
            self._damaged(f"block {j} checksum mismatch")
        out, pos = {}, 0
        for name, dtype, shape, length in block["streams"]:
            try:
                raw = zlib.decompress(blob[pos:pos + length])
                out[name] = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
            except (zlib.error, ValueError) as exc:
                self._damaged(f"block {j} stream {name!r} undecodable ({exc})")
            pos += length
        return out

    def check_file(self, sha256: str) -> None:
        """Hash the whole file and compare with the manifest's sha256."""
        if sha256_file(self.path) != sha256:
            self._damaged("sha256 mismatch")

    def check_blocks(self) -> str:
        """Check every block checksum (used on resume); return the file's sha256."""
        for j in range(len(self.blocks)):
            self.read_block(j)
        return sha256_file(self.path)

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"], state["_pid"] = None, -1
        return state
