"""CPU cost of the NYU models: forward+backward (one SGD step) and forward-only per batch.

Each model runs ``--warmup`` untimed steps, then ``--reps`` timed ones; the median and
the minimum are printed (the minimum is the least disturbed by other load on the box).

    python bench/seg_models.py [--preset cpu] [--batch 8] [--size 64 80] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mkepipe.models.fusion  # noqa: E402,F401  (registers fusion_student)
import mkepipe.models.segmentation  # noqa: E402,F401  (registers deeplabv3plus)
from mkepipe.models import create_model  # noqa: E402
from mkepipe.models.segmentation import SEG_PRESETS  # noqa: E402

MODELS = {  # label: (registry name, kwargs, input channels)
    "teacher / UM student (deeplabv3plus)": ("deeplabv3plus", {"in_channels": 3}, 3),
    "MM student, gated fusion": ("fusion_student", {"fusion": "gated"}, 6),
    "MM student, early fusion": ("fusion_student", {"fusion": "early"}, 6),
}


def time_model(name: str, kwargs: dict, channels: int, args: argparse.Namespace) -> dict:
    arch = {k: v for k, v in SEG_PRESETS[args.preset].items() if k not in ("input_size", "encoder_weights_path")}
    torch.manual_seed(0)
    model = create_model(name, num_classes=40, **arch, **kwargs)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, channels, *args.size)
    y = torch.randint(0, 40, (args.batch, *args.size))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def forward() -> None:
        with torch.no_grad():
            model(x)

    out = {"params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    for label, fn, mode in (("train_step_s", step, True), ("forward_eval_s", forward, False)):
        model.train(mode)
        for _ in range(args.warmup):
            fn()
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[label] = {"median": statistics.median(times), "min": min(times)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=sorted(SEG_PRESETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=(64, 80), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"preset {args.preset}, batch {args.batch} × {args.size[0]}×{args.size[1]}, {args.threads} threads, "
          f"torch {torch.__version__}")
    results = {}
    for label, (name, kwargs, channels) in MODELS.items():
        r = results[label] = time_model(name, kwargs, channels, args)
        print(f"{label:40s} {r['params_M']:6.1f} M params | train step median {r['train_step_s']['median']:.3f} s "
              f"(min {r['train_step_s']['min']:.3f}) | eval forward median {r['forward_eval_s']['median']:.3f} s "
              f"(min {r['forward_eval_s']['min']:.3f})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": {**vars(args), "out": str(args.out)}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
