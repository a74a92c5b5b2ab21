"""NYU throughput: the pipeline's code paths against bare PyTorch on the same batches.

* pseudo-labeling: ``stages.pseudolabel``'s path (teacher forward + softmax + label
  store, soft labels, compact encoding) vs a bare ``model(x)`` loop — images/s, ratio;
* student training: ``mkepipe.training.loop.fit`` with the MM student's train step vs a
  bare loop (same model, batches, flip+scale and loss) — images/s, ratio; plus the bare
  loop without augmentation, to show what flip+scale costs.
All in one run; prints and writes JSON.

    python bench/nyu_throughput.py [--images 64] [--out bench/results/nyu_throughput.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mkepipe.config import load_params  # noqa: E402
from mkepipe.experiments import create_experiment  # noqa: E402
from mkepipe.labels import LabelStore  # noqa: E402
from mkepipe.losses import pseudo_label_loss  # noqa: E402
from mkepipe.perturb_dense import random_flip_scale  # noqa: E402
from mkepipe.training.loop import fit  # noqa: E402
from mkepipe.training.methods import METHODS  # noqa: E402
from mkepipe.training.runs import Batches, predict_probs  # noqa: E402


def synthetic_split(n: int, h: int, w: int, seed: int = 0):
    from mkepipe.data.split import Split

    rng = np.random.default_rng(seed)
    mods = {"rgb": rng.random((n, 3, h, w), dtype=np.float32), "depth": rng.random((n, 3, h, w), dtype=np.float32)}
    return Split([f"u{i:05d}" for i in range(n)], mods)


def bench_labeling(exp, params, split, batch: int) -> dict:
    cfg = params.active("teacher")
    spec = exp.model_spec("teacher", cfg, cfg.perturbation, split.channels())
    model = spec.build().eval()
    x = split.inputs(spec.modalities)
    with torch.no_grad():
        model(x[:batch])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
        bare = time.perf_counter() - t0
    row = {sid: i for i, sid in enumerate(split.ids)}

    def label_fn(ids):
        return predict_probs(model, spec, split.take([row[s] for s in ids]))

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        LabelStore(tmp).write(split.ids, label_fn, kind="soft", num_classes=exp.num_classes, teacher_hash="bench",
                              dataset_hash="bench", encoding="sparse-q8", batch_size=batch, progress=False)
        store = time.perf_counter() - t0
    n = len(split)
    return {"bare_images_per_s": n / bare, "pipeline_images_per_s": n / store, "ratio": bare / store}


def bench_training(exp, params, split, batch: int, steps: int) -> dict:
    cfg = params.active("student")
    spec = exp.model_spec("mm_student", cfg, cfg.perturbation, split.channels())
    x = split.inputs(spec.modalities)
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(len(x), exp.num_classes, *x.shape[2:], generator=gen), dim=1)
    n_img = steps * batch
    x, probs = x[:n_img], probs[:n_img]
    step = METHODS.get("mm_student").train_step

    def pipeline() -> float:
        torch.manual_seed(0)
        model = spec.build()
        t0 = time.perf_counter()
        fit(model, step, Batches(x, probs, None, batch, seed=0), epochs=1, lr=cfg.lr, momentum=cfg.momentum,
            weight_decay=cfg.weight_decay, perturbation=cfg.perturbation)
        return time.perf_counter() - t0

    def bare(augment: bool) -> float:
        torch.manual_seed(0)
        model = spec.build().train()
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            xb, pb, valid = x[idx], probs[idx], None
            if augment:
                xb, pb, _, valid = random_flip_scale(xb, pb, None, scale_range=cfg.perturbation.scale_range)
            loss, _ = pseudo_label_loss(model(xb), pb, None, valid)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    bare(True)  # warm-up
    t_bare, t_pipe, t_plain = bare(True), pipeline(), bare(False)
    return {"bare_images_per_s": n_img / t_bare, "pipeline_images_per_s": n_img / t_pipe, "ratio": t_bare / t_pipe,
            "bare_no_augmentation_images_per_s": n_img / t_plain}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nyu_throughput.json")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml").model_copy(update={"experiment": "nyu"})
    exp = create_experiment("nyu")
    prep = params.active("prepare")
    split = synthetic_split(args.images, prep.height, prep.width)
    result = {"size": [prep.height, prep.width], "batch": args.batch, "threads": torch.get_num_threads(),
              "labeling": bench_labeling(exp, params, split, args.batch),
              "training": bench_training(exp, params, split, args.batch, args.images // args.batch)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lab, tr = result["labeling"], result["training"]
    print(f"NYU {prep.height}×{prep.width}, batch {args.batch}, {result['threads']} threads")
    print(f"pseudo-labeling  bare forward {lab['bare_images_per_s']:7.1f} img/s   pipeline {lab['pipeline_images_per_s']:7.1f} img/s   ratio {lab['ratio']:.2f}")
    print(f"student training bare loop    {tr['bare_images_per_s']:7.1f} img/s   pipeline {tr['pipeline_images_per_s']:7.1f} img/s   ratio {tr['ratio']:.2f}")
    print(f"                 bare loop without flip+scale {tr['bare_no_augmentation_images_per_s']:.1f} img/s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
