"""``mke data synth-vggsound --out DIR``: write the synthetic AudioSet → VGGSound data in the
real layouts and formats (docs/vggsound_data.md)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mkepipe.cli import data_commands
from mkepipe.experiments.vggsound.config import VggsoundSynthConfig


def add_parser(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add ``data synth-vggsound`` (reusing ``data`` when present); sets ``func(args) -> int``.
    Returns ``data``'s subparsers."""
    sub = data_commands(subparsers)
    synth = sub.add_parser("synth-vggsound", help="write the synthetic AudioSet/VGGSound (audioset/ .wav + CSVs, "
                                                  "vggsound/ .mp4 + vggsound.csv)", description=__doc__)
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--figure", type=Path, default=None, metavar="PNG",
                       help="also draw each class's spectrogram and frames into this PNG")
    for name, field in VggsoundSynthConfig.model_fields.items():
        flag, text = f"--{name.replace('_', '-')}", field.description or name
        if isinstance(field.default, (list, tuple)):
            synth.add_argument(flag, nargs="+", default=field.default, metavar="NAME",
                               help=f"{text} (default {' '.join(field.default)})")
        else:
            synth.add_argument(flag, type=type(field.default), default=field.default,
                               help=f"{text} (default {field.default})")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: up to 2); same output")
    synth.set_defaults(func=synth_vggsound)
    return sub


def synth_vggsound(args: argparse.Namespace) -> int:
    from mkepipe.experiments.vggsound.synth import scenes_figure, write_synthetic_vggsound

    cfg = VggsoundSynthConfig(**{name: getattr(args, name) for name in VggsoundSynthConfig.model_fields})
    t0 = time.perf_counter()
    s = write_synthetic_vggsound(args.out, cfg, workers=args.workers)
    clips = s["clips"]
    print(f"wrote {clips['labeled']} AudioSet clips ({s['two_label']} with two sources), {clips['train']} + "
          f"{clips['test']} VGGSound train + test clips of {len(cfg.classes)} classes ({s['seconds']:.0f} s of "
          f"audio) into {args.out} in {time.perf_counter() - t0:.1f} s")
    if args.figure is not None:
        print(f"figure: {scenes_figure(args.figure, cfg)}")
    return 0
