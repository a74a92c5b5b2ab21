"""What every synthetic default shares: the marker that makes its folder replaceable,
``synth.json`` (its parameters, written last: a folder without it is incomplete), the
prepare stages' reuse-or-regenerate rule and the writers' worker pool with progress.
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from mkepipe.fileio import atomic_write_text, read_json

log = logging.getLogger(__name__)
MARKER = ".mke-synthetic"  # written first: a folder with it may be deleted and regenerated
PARAMS = "synth.json"


def begin_synthetic_dir(out: str | Path) -> Path:
    """Create ``out`` (or take it over) for a generator: marked, and incomplete until
    :func:`finish_synthetic_dir`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / PARAMS).unlink(missing_ok=True)
    (out / MARKER).touch()
    return out


def finish_synthetic_dir(out: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Write ``synth.json`` (atomically): the folder is complete."""
    atomic_write_text(out / PARAMS, json.dumps(params, indent=1))
    return params


def is_synthetic_dir(path: str | Path) -> bool:
    """Whether ``path`` is absent, empty or written by a synthetic generator (safe to replace)."""
    path = Path(path)
    return not path.exists() or (path / MARKER).exists() or (path.is_dir() and not any(path.iterdir()))


def read_synth_params(out: str | Path) -> dict | None:
    """``synth.json`` of a complete synthetic dataset, or None (absent, or damaged: the
    folder is then regenerated)."""
    try:
        params = read_json(Path(out) / PARAMS)
    except (FileNotFoundError, ValueError):
        return None
    return params if isinstance(params, dict) else None


def ensure_synthetic(src: Path, want: dict[str, Any], write: Callable[[Path], object], what: str) -> Path:
    """Reuse the synthetic dataset in ``src`` if its ``synth.json`` has every value of
    ``want``, else (re)write it with ``write(src)``; never replaces a folder the generator
    did not write."""
    have = read_synth_params(src)
    if have is None or any(have.get(k) != v for k, v in want.items()):
        if not is_synthetic_dir(src):
            raise FileExistsError(f"{src}: exists and was not written by the synthetic generator; not replacing it")
        shutil.rmtree(src, ignore_errors=True)
        log.info("writing the synthetic %s default into %s", what, src)
        write(src)
    return src


def map_with_progress(fn: Callable, jobs: Sequence[tuple], sizes: Sequence[int], workers: int, what: str,
                      unit: str) -> Iterator:
    """``fn(*job)`` for every job, results in order, in ``workers`` processes (1: in this
    one). Progress counts ``sizes`` (the units of each job): a bar on a terminal, else (DVC,
    Prefect logs) a log line every ~10 %, e.g. ``synthetic RAVDESS: 12/24 actors, 40 s``."""
    total, done, next_log = sum(sizes), 0, 0.1
    t0 = time.perf_counter()
    bar = task = None
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       console=Console(stderr=True), transient=True)
        task = bar.add_task(f"synthetic {what} {unit}", total=total)
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        if bar is not None:
            bar.start()
        results = pool.map(fn, *zip(*jobs)) if pool else (fn(*job) for job in jobs)
        for size, result in zip(sizes, results):
            done += size
            if bar is not None:
                bar.advance(task, size)
            if done / total >= next_log - 1e-9 or done == total:
                log.info("synthetic %s: %d/%d %s, %.0f s", what, done, total, unit, time.perf_counter() - t0)
                next_log = (int(done / total * 10) + 1) / 10
            yield result
    finally:
        if bar is not None:
            bar.stop()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
