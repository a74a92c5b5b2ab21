"""Dataset manifests: sample id → files + content hash, and one hash for the whole set.

New data is found by diffing manifests; the dataset hash enters every label
generation's lineage.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mkepipe.fileio import atomic_write_text, read_json

MANIFEST = "manifest.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dataset_hash(samples: dict[str, dict[str, Any]]) -> str:
    """Order-independent hash of ``{sample_id: {"sha256": …, …}}``."""
    h = hashlib.sha256()
    for sid in sorted(samples):
        h.update(f"{sid}\0{samples[sid]['sha256']}\n".encode())
    return h.hexdigest()


def write_manifest(data_dir: str | Path, name: str, samples: dict[str, dict[str, Any]],
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``manifest.json`` into ``data_dir`` and return it."""
    manifest = {"format": 1, "dataset": name, "num_samples": len(samples),
                "sha256": dataset_hash(samples), **(extra or {}), "samples": samples}
    atomic_write_text(Path(data_dir) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset manifest missing; run the prepare stage first")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise ValueError(f"{path}: not a dataset manifest; run the prepare stage again")
    return manifest
