"""``mke data synth-nyu --out DIR``: write the synthetic NYU default in the real formats."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mkepipe.cli import data_commands
from mkepipe.experiments.nyu.config import NyuSynthConfig


def add_parser(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add ``data synth-nyu`` (``mke data`` is shared by the experiments); sets
    ``func(args) -> int``. Returns ``data``'s subparsers."""
    sub = data_commands(subparsers)
    synth = sub.add_parser("synth-nyu", help="write the synthetic NYU Depth V2 default (labeled .mat + raw scenes)",
                           description=__doc__)
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    for name, field in NyuSynthConfig.model_fields.items():
        synth.add_argument(f"--{name.replace('_', '-')}", type=type(field.default), default=field.default,
                           help=f"{field.description or name} (default {field.default})")
    synth.set_defaults(func=synth_nyu)
    return sub


def synth_nyu(args: argparse.Namespace) -> int:
    from mkepipe.experiments.nyu.synth import write_synthetic_nyu

    cfg = NyuSynthConfig(**{name: getattr(args, name) for name in NyuSynthConfig.model_fields})
    t0 = time.perf_counter()
    summary = write_synthetic_nyu(args.out, **cfg.model_dump())
    n_raw = cfg.n_scenes * cfg.frames_per_scene
    print(f"wrote {cfg.n_labeled + cfg.n_test} labeled frames ({cfg.n_labeled} train / {cfg.n_test} test) and "
          f"{n_raw} raw depth frames in {cfg.n_scenes} scenes ({summary['rgb_frames_dropped']} without RGB) "
          f"at {cfg.height}x{cfg.width} into {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0
