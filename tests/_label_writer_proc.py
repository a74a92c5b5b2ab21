"""Label-store test helpers, and a labeling process the crash tests can SIGKILL.

As a script::

    python tests/_label_writer_proc.py ROOT N --hang-at CALL --marker FILE

writes a dense generation of N samples with shard_size=8, batch_size=4; on label_fn
call number CALL it touches FILE and sleeps (so the test can kill it mid-shard).
It prints a JSON line with the generation id and the label_fn calls/samples it made.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

K_DENSE, SHAPE = 5, (6, 7)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def sample_rng(sample_id: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(sample_id.encode()))


def dense_probs(ids: list[str], k: int = K_DENSE, shape: tuple = SHAPE, scale: float = 3.0) -> np.ndarray:
    """Deterministic, spatially smooth-ish per-pixel probabilities for each id."""
    out = []
    for sid in ids:
        base = sample_rng(sid).normal(size=(k, 1, 1)) * scale
        ramp = np.linspace(-1, 1, shape[0] * shape[1]).reshape(1, *shape)
        out.append(base + ramp * np.arange(k).reshape(k, 1, 1))
    return softmax(np.stack(out))


def class_probs(ids: list[str], k: int = 3, scale: float = 2.0) -> np.ndarray:
    return softmax(np.stack([sample_rng(sid).normal(size=k) * scale for sid in ids]))


class CountingLabeler:
    """Wraps a probability function and records what it was asked to label."""

    def __init__(self, fn=dense_probs, hang_at: int = 0, marker: Path | None = None):
        self.fn, self.hang_at, self.marker = fn, hang_at, marker
        self.calls, self.seen = 0, []

    def __call__(self, ids: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.hang_at:
            self.marker.write_text("hanging")
            time.sleep(600)
        self.seen.extend(ids)
        return self.fn(ids)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("n", type=int)
    ap.add_argument("--hang-at", type=int, default=0)
    ap.add_argument("--marker", type=Path, default=None)
    args = ap.parse_args(argv)
    from mkepipe.labels import LabelStore, _writer
    _writer.BLOCK_BYTES = 512  # several blocks per shard, so a killed shard is half written
    labeler = CountingLabeler(dense_probs, args.hang_at, args.marker)
    gen = LabelStore(args.root).write(
        [f"s{i:04d}" for i in range(args.n)], labeler, kind="weighted", encoding="sparse-q8",
        num_classes=K_DENSE, teacher_hash="teacher-sha", dataset_hash="data-sha", params={"t": 1},
        shard_size=8, batch_size=4, progress=False)
    print(json.dumps({"id": gen.id, "calls": labeler.calls, "samples": len(labeler.seen)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
