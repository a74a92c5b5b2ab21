"""AudioSet → VGGSound throughput: the training step of both presets, and the loader
against the model step on the prepared synthetic default.

1. Step time per preset: a teacher (spectrogram) and an MM student (spectrogram + video)
   training step on batches shaped as that preset stores them (the cpu preset's 4 s clips,
   the paper preset's 10 s clips: 257-bin spectrograms, 16 frames of 112²), timed after a
   warm-up step. Random inputs: the cost of a step does not depend on the values.
2. Loader vs model: on the prepared default (``--data``, or prepared into a temporary
   folder), the samples/s of reading D_u's training batches by sample id (DataLoader,
   0 and 1 worker processes, no model) against the samples/s of the MM student's training
   step on the same batches. The loader must not be the bottleneck.

    python bench/vggsound_throughput.py [--data DIR] [--steps 5] [--out bench/results/vggsound_throughput.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from mkepipe import stages  # noqa: E402
from mkepipe.config import Perturbation, load_params  # noqa: E402
from mkepipe.experiments import create_experiment  # noqa: E402
from mkepipe.training.data import Part, PseudoTargets, TrainingSet, batches  # noqa: E402
from mkepipe.training.runs import PseudoLabels  # noqa: E402

SHAPES = {  # preset → (spectrogram (1, F, T) of a stored clip, video (3, T_v, S, S), batch)
    "cpu": ((1, 129, 399), (3, 8, 64, 64), 32),
    "paper": ((1, 257, 1004), (3, 16, 112, 112), 4),
}


def step_seconds(model: torch.nn.Module, x: dict, target: torch.Tensor, steps: int) -> float:
    """Mean seconds of an AdamW step on BCE after one warm-up step."""
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    model.train()
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return sum(times[1:]) / steps


def preset_steps(exp, params, steps: int) -> dict:
    out = {}
    for preset, (spec, video, batch) in SHAPES.items():
        cfg = params.active("student").model_copy(update={"preset": preset})
        x = {"spec": torch.randn(batch, *spec), "video": torch.rand(batch, 3, *video[1:])}
        row = {"batch": batch}
        for role in ("teacher", "mm_student"):
            spec_ = exp.model_spec(role, cfg, Perturbation(dropout=0.5), {"spec": 1, "video": 3})
            torch.manual_seed(0)
            s = step_seconds(spec_.build(), {m: x[m] for m in spec_.modalities},
                             torch.zeros(batch, exp.task.num_classes), steps)
            row[role] = {"step_s": s, "samples_per_s": batch / s}
            print(f"{preset:5s} {role:10s}: {s:.3f} s per step of {batch} ({batch / s:.1f} samples/s)", flush=True)
        out[preset] = row
    return out


def loader_vs_model(exp, params, data: Path, steps: int) -> dict:
    unlabeled = exp.load(data, "unlabeled")
    k = exp.task.num_classes
    labels = PseudoLabels(list(unlabeled.ids), (torch.rand(len(unlabeled), k) > 0.5).numpy().astype("int64"),
                          torch.rand(len(unlabeled), k).numpy())
    cfg = params.active("student")
    spec = exp.model_spec("mm_student", cfg, Perturbation(dropout=0.5), unlabeled.channels())
    dataset = TrainingSet([Part(unlabeled, spec.modalities, PseudoTargets(labels, unlabeled.ids, "soft", exp.task))])
    out = {"samples": len(dataset), "batch": cfg.batch_size}
    for workers in (0, 1):
        t = time.perf_counter()
        n = sum(len(b.target) for b in batches(dataset, cfg.batch_size, 0, workers))
        rate = n / (time.perf_counter() - t)
        out[f"loader_{workers}_workers_samples_per_s"] = rate
        print(f"loader, {workers} worker(s): {rate:.0f} samples/s over one epoch of D_u ({n} samples)", flush=True)
    model = spec.build()
    batch = next(iter(batches(dataset, cfg.batch_size, 0)))
    s = step_seconds(model, batch.x, batch.target, steps)
    out["mm_step_samples_per_s"] = cfg.batch_size / s
    out["loader_over_model"] = out["loader_1_workers_samples_per_s"] / out["mm_step_samples_per_s"]
    print(f"MM student step: {cfg.batch_size / s:.1f} samples/s; loader (1 worker) / model = "
          f"{out['loader_over_model']:.1f}x", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="a prepared vggsound dataset (default: prepare one)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vggsound_throughput.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    params = load_params(ROOT / "params.yaml").model_copy(update={"experiment": "vggsound"})
    exp = create_experiment("vggsound", params)
    result = {"presets": preset_steps(exp, params, args.steps)}
    with tempfile.TemporaryDirectory(prefix="mke-vggsound-") as tmp:
        data = args.data or Path(tmp) / "data"
        if not (data / "manifest.json").is_file():
            t = time.perf_counter()
            manifest = stages.prepare(params, data)
            result["prepare"] = {"seconds": time.perf_counter() - t, "clips": sum(manifest["counts"].values())}
            print(f"prepare: {result['prepare']['clips']} clips in {result['prepare']['seconds']:.0f} s", flush=True)
        result["loader"] = loader_vs_model(exp, params, data, args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
