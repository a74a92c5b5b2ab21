"""The NYU prepare stage: sources in, ``{labeled,unlabeled,test}.npz`` + manifest out.

D_l and test come from the labeled ``.mat`` (its train/test split) or the PNG layout;
D_u from raw scene folders. Every sample is validated (bad ones are quarantined with
their reason), resized to the configured size (area for RGB, nearest for depth and
labels), its missing depth filled, and its depth encoded (HHA, cached per content, or
normalised depth). With ``source: synthetic`` the synthetic default is first written in
the real formats into ``out_dir/source/`` and then read back through the same loaders.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mkepipe.data import quarantine as q
from mkepipe.data.manifest import sha256_bytes, write_manifest
from mkepipe.data.split import SplitWriter, write_split
from mkepipe.data.synthetic import ensure_synthetic
from mkepipe.experiments.base import SPLITS, TRUTH_SPLIT
from mkepipe.experiments.nyu import checks
from mkepipe.experiments.nyu.classes import (
    NUM_CLASSES,
    NUM_RAW_CLASSES,
    VOID,
    classes40,
    labels40_to_train,
    labels894_to_train,
)
from mkepipe.experiments.nyu.config import NyuPrepareConfig
from mkepipe.experiments.nyu.hha import NYU_RGB, HHACache, encode_depth
from mkepipe.experiments.nyu.labeled_mat import LabeledMat, read_split_indices
from mkepipe.experiments.nyu.png_layout import decode_png, read_png_sample, scan_png_split
from mkepipe.experiments.nyu.raw_scenes import RawPair, decode_depth, decode_rgb, read_bytes, scan_raw
from mkepipe.experiments.nyu.synth import MAT_NAME, SYNTH_VERSION, write_synthetic_nyu

log = logging.getLogger(__name__)


class SampleBuilder:
    """Validates, transforms and writes one split's samples, row by row, with their
    manifest rows; a bad sample goes to the quarantine log instead."""

    def __init__(self, name: str, cfg: NyuPrepareConfig, cache: HHACache, log_: q.QuarantineLog,
                 out: Path, split: str | None = None) -> None:
        self.name, self.cfg, self.cache, self.quarantine = name, cfg, cache, log_
        split = split or name
        self.writer = SplitWriter(out, split, divide=encoding_divisors(cfg),
                                  labels=None if split == "unlabeled" else {"void": VOID})
        self.file = f"{split}/"
        self.rows: dict[str, dict[str, Any]] = {}
        self.source_shape: dict[str, tuple[int, int]] = {}
        self.classes: set[int] = set()

    @property
    def ids(self) -> list[str]:
        return self.writer.ids

    def add(self, sid: str, sources: list[str], load) -> bool:
        """``load()`` returns (rgb, depth_m, train-id labels or None, source bytes); False if quarantined."""
        try:
            rgb, depth, y, raw = load()
            q.check_sizes(rgb=rgb, depth=depth, labels=y)
            checks.check_rgb(rgb)
            checks.check_depth(depth, self.cfg.min_valid_depth)
        except q.BadSample as err:
            self.quarantine.add(sid, self.name, sources, err)
            return False
        except OSError as err:  # a disk or network error on one sample stops only that sample
            detail = f"{err.filename or ''}: {err.strerror or err}"
            self.quarantine.add(sid, self.name, sources, q.BadSample("io_error", detail))
            return False
        self.source_shape[sid] = depth.shape
        rgb, depth_enc, y = self._transform(rgb, depth, y)
        parts = [rgb.tobytes(), depth_enc.tobytes()]
        if y is not None:
            parts.append(y.tobytes())
            self.classes.update(int(c) for c in np.unique(y) if c != VOID)
        self.writer.append([sid], {"rgb": rgb[None], "depth": depth_enc[None]}, None if y is None else y[None])
        self.rows[sid] = {"split": self.name, "file": self.file, "sources": sources,
                          "source_sha256": sha256_bytes(raw), "sha256": sha256_bytes(b"".join(parts))}
        return True

    def _transform(self, rgb: np.ndarray, depth: np.ndarray, y: np.ndarray | None):
        size = (self.cfg.width, self.cfg.height)
        if rgb.shape[:2] != (self.cfg.height, self.cfg.width):
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
            y = None if y is None else cv2.resize(y, size, interpolation=cv2.INTER_NEAREST)
        hole = depth <= 0
        if self.cfg.fill_missing_depth and hole.any():
            depth = cv2.inpaint(depth.astype(np.float32), hole.astype(np.uint8), 3, cv2.INPAINT_NS)
        k = NYU_RGB.scaled(self.cfg.height, self.cfg.width)
        enc = encode_depth(depth, self.cfg.depth_encoding, k=k, cache=self.cache, max_depth_m=self.cfg.max_depth_m)
        return np.ascontiguousarray(rgb.transpose(2, 0, 1)), enc, y

    def close(self) -> None:
        """Commit the split's files (an empty split gets empty arrays of the right shape)."""
        h, w, c = self.cfg.height, self.cfg.width, 3 if self.cfg.depth_encoding == "hha" else 1
        empty = {"rgb": ((3, h, w), np.uint8),
                 "depth": ((c, h, w), np.uint8 if self.cfg.depth_encoding == "hha" else np.float32)}
        if self.writer.labels_spec is not None:
            empty["y"] = ((h, w), np.uint8)
        self.writer.close(empty)


def encoding_divisors(cfg: NyuPrepareConfig) -> dict[str, float]:
    """Stored uint8 images are divided by 255 on reading; normalised depth is stored as float."""
    return {"rgb": 255.0, **({"depth": 255.0} if cfg.depth_encoding == "hha" else {})}


def _synthetic_source(cfg: NyuPrepareConfig, out: Path) -> NyuPrepareConfig:
    """Write (or reuse, if its parameters match) the synthetic default and point cfg at it."""
    want = cfg.synthetic.model_dump()
    src = ensure_synthetic(Path(cfg.synthetic_dir) if cfg.synthetic_dir else out / "source",
                           {**want, "version": SYNTH_VERSION}, lambda path: write_synthetic_nyu(path, **want), "NYU")
    return cfg.model_copy(update={"mat_path": str(src / MAT_NAME), "split_dir": str(src / "splits"),
                                  "raw_dir": str(src / "raw"), "raw_truth_dir": str(src / "raw_truth")})


def _labeled_from_mat(cfg: NyuPrepareConfig, builders: dict[str, SampleBuilder]) -> None:
    splits = read_split_indices(cfg.split_dir)
    with LabeledMat(cfg.mat_path) as mat:
        if "val" not in splits:
            splits["train"], splits["val"] = hold_out(list(splits["train"]), cfg.val_from_train)
        top = max(int(np.max(idx, initial=0)) for idx in splits.values())
        if top > len(mat):
            raise ValueError(f"{cfg.mat_path}: split asks for frame {top} but the file has {len(mat)}")
        for split, name in (("train", "labeled"), ("test", "test"), ("val", "val")):
            for idx in splits[split]:
                def load(idx=int(idx)):
                    f = mat.frame(idx)
                    y = labels894_to_train(q.check_labels(f.labels, NUM_RAW_CLASSES))
                    return f.rgb, f.depth, y, f.rgb.tobytes() + f.depth.tobytes() + f.labels.tobytes()

                builders[name].add(f"mat/{int(idx):04d}", [f"{cfg.mat_path}#{int(idx)}"], load)


def hold_out(train: list, fraction: float) -> tuple[list, list]:
    """Every ``1/fraction``-th train item becomes validation data, evenly over the list."""
    step = max(1, round(1 / fraction))
    return [t for i, t in enumerate(train) if i % step], train[::step]


def _labeled_from_png(cfg: NyuPrepareConfig, builders: dict[str, SampleBuilder]) -> None:
    splits = {split: scan_png_split(cfg.png_dir, split) for split in ("train", "test")}
    if (Path(cfg.png_dir) / "val").is_dir():
        splits["val"] = scan_png_split(cfg.png_dir, "val")
    else:
        splits["train"], splits["val"] = hold_out(splits["train"], cfg.val_from_train)
    for split, name in (("train", "labeled"), ("test", "test"), ("val", "val")):
        for s in splits[split]:
            def load(s=s):
                rgb, depth, labels, raw = read_png_sample(s)
                q.check_sizes(rgb=rgb, depth=depth, labels=labels)
                return rgb, depth, labels40_to_train(q.check_labels(labels, NUM_CLASSES)), raw

            builders[name].add(s.id, s.sources, load)


def _unlabeled_from_raw(cfg: NyuPrepareConfig, b: SampleBuilder) -> list[RawPair]:
    pairs = scan_raw(cfg.raw_dir, cfg.sync_tolerance_s)
    if cfg.max_unlabeled and len(pairs) > cfg.max_unlabeled:
        keep = np.unique(np.linspace(0, len(pairs) - 1, cfg.max_unlabeled).round().astype(int))
        pairs = [pairs[i] for i in keep]
    kept = []
    for p in pairs:
        sources = [str(p.depth.path)] + ([str(p.rgb.path)] if p.rgb else [])

        def load(p=p):
            if p.rgb is None:
                raise q.BadSample("no_rgb_in_sync_tolerance",
                                  f"nearest RGB frame {p.dt:.3f} s away (tolerance {cfg.sync_tolerance_s} s)")
            rgb_bytes, depth_bytes = read_bytes(p.rgb.path), read_bytes(p.depth.path)
            return decode_rgb(rgb_bytes, str(p.rgb.path)), decode_depth(depth_bytes, str(p.depth.path)), None, \
                rgb_bytes + depth_bytes

        if b.add(p.id, sources, load):
            kept.append(p)
    return kept


def _unlabeled_truth(cfg: NyuPrepareConfig, pairs: list[RawPair], shapes: dict[str, tuple[int, int]],
                     log_: q.QuarantineLog) -> dict[str, np.ndarray]:
    """D_u truth where the source has it (train ids; all void where unusable)."""
    out: dict[str, np.ndarray] = {}
    if not cfg.raw_truth_dir:
        return out
    for p in pairs:
        path = Path(cfg.raw_truth_dir) / p.scene / f"{p.depth.stem}.png"
        if not path.exists():
            continue
        try:
            labels = decode_png(read_bytes(path), str(path))
            if labels.shape != shapes[p.id]:
                raise q.BadSample("size_mismatch", f"truth {labels.shape} vs frame {shapes[p.id]}")
            q.check_labels(labels, NUM_CLASSES)
            y = labels40_to_train(labels)
            if y.shape != (cfg.height, cfg.width):
                y = cv2.resize(y, (cfg.width, cfg.height), interpolation=cv2.INTER_NEAREST)
        except q.BadSample as err:
            log_.add(p.id, "unlabeled_truth", [str(path)], q.BadSample("bad_truth", str(err)))
            y = np.full((cfg.height, cfg.width), VOID, np.uint8)
        out[p.id] = y
    return out


def prepare_nyu(source: Any, out_dir: str | Path) -> dict[str, Any]:
    """Materialise the NYU dataset into ``out_dir`` and return its manifest.

    ``source`` is a :class:`NyuPrepareConfig` or anything with its fields (a dict, or a
    pydantic model with ``model_dump``).
    """
    raw_cfg = source.model_dump() if hasattr(source, "model_dump") else dict(source)
    cfg = NyuPrepareConfig.model_validate(raw_cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.source == "synthetic":
        cfg = _synthetic_source(cfg, out)
    cache = HHACache(cfg.hha_cache_dir if cfg.depth_encoding == "hha" else None)
    qlog = q.QuarantineLog()
    builders = {name: SampleBuilder(name, cfg, cache, qlog, out) for name in SPLITS}
    (_labeled_from_png if cfg.source == "png" else _labeled_from_mat)(cfg, builders)
    pairs = _unlabeled_from_raw(cfg, builders["unlabeled"])
    truth = _unlabeled_truth(cfg, pairs, builders["unlabeled"].source_shape, qlog)
    empty = [name for name, b in builders.items() if not b.ids]
    if empty:
        for b in builders.values():
            b.writer.abort()
        raise ValueError(f"prepare: no usable sample in split(s) {', '.join(empty)} "
                         f"({len(qlog)} quarantined: {qlog.summary()['by_reason']}); nothing was written")
    for b in builders.values():
        b.close()
    truth_sha = None
    shutil.rmtree(out / TRUTH_SPLIT, ignore_errors=True)
    if truth:
        ids = [sid for sid in builders["unlabeled"].ids if sid in truth]
        ys = np.stack([truth[sid] for sid in ids])
        write_split(out, TRUTH_SPLIT, ids, {}, ys, labels={"void": VOID})
        truth_sha = sha256_bytes(ys.tobytes())
    qlog.write(out)
    present = sorted(builders["labeled"].classes | builders["test"].classes | builders["val"].classes)
    samples = {sid: row for b in builders.values() for sid, row in b.rows.items()}
    extra = {"config": cfg.model_dump(mode="json"), "num_classes": NUM_CLASSES, "classes": list(classes40()),
             "classes_present": present, "depth_encoding": cfg.depth_encoding,
             "depth_channels": 3 if cfg.depth_encoding == "hha" else 1, "size": [cfg.height, cfg.width],
             "counts": {name: len(b.ids) for name, b in builders.items()}, "quarantine": qlog.summary(),
             "unlabeled_truth": {"samples": len(truth), "sha256": truth_sha},
             "hha_cache": {"hits": cache.hits, "misses": cache.misses}}
    log.info("NYU prepared: %s, %d quarantined", extra["counts"], len(qlog))
    return write_manifest(out, "nyu", samples, extra)
