"""``mke data synth-ravdess --out DIR``: write the synthetic RAVDESS in the real layout and formats."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mkepipe.cli import data_commands
from mkepipe.experiments.ravdess.config import RavdessSynthConfig


def add_parser(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add ``data synth-ravdess`` (reusing ``data`` when present); sets ``func(args) -> int``.
    Returns ``data``'s subparsers."""
    sub = data_commands(subparsers)
    synth = sub.add_parser("synth-ravdess", help="write the synthetic RAVDESS (Actor_NN/ .mp4 + .wav)",
                           description=__doc__)
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    for name, field in RavdessSynthConfig.model_fields.items():
        synth.add_argument(f"--{name.replace('_', '-')}", type=type(field.default), default=field.default,
                           help=f"{field.description or name} (default {field.default})")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: up to 2); same output")
    synth.set_defaults(func=synth_ravdess)
    return sub


def synth_ravdess(args: argparse.Namespace) -> int:
    from mkepipe.experiments.ravdess.synth import write_synthetic_ravdess

    cfg = RavdessSynthConfig(**{name: getattr(args, name) for name in RavdessSynthConfig.model_fields})
    t0 = time.perf_counter()
    s = write_synthetic_ravdess(args.out, cfg, workers=args.workers)
    print(f"wrote {s['clips']} clips of {cfg.n_actors} actors ({s['files']} files, {s['seconds']:.0f} s of video) "
          f"at {cfg.height}x{cfg.width} into {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0
