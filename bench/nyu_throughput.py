"""NYU throughput: the pipeline's code paths against bare PyTorch on the same batches.

* pseudo-labeling: ``stages.pseudolabel``'s path (teacher forward + softmax + label
  store, soft labels, compact encoding) vs a bare ``model(x)`` loop — images/s, ratio;
* student training: ``mkepipe.training.loop.fit`` with the MM student's train step, its
  inputs and soft labels read from disk by id, vs a bare loop on the same tensors in memory
  (same model, batches, flip+scale and loss) — images/s, ratio; plus the bare loop without
  augmentation, to show what flip+scale costs.
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
from mkepipe.data.split import DiskSplit, write_split  # noqa: E402
from mkepipe.experiments import create_experiment  # noqa: E402
from mkepipe.labels import LabelStore  # noqa: E402
from mkepipe.perturb_dense import random_flip_scale  # noqa: E402
from mkepipe.training.data import Part, PseudoTargets, TrainingSet, batches  # noqa: E402
from mkepipe.training.loop import fit  # noqa: E402
from mkepipe.training.methods import METHODS  # noqa: E402
from mkepipe.training.runs import Labeler  # noqa: E402


def synthetic_split(root: Path, n: int, h: int, w: int, seed: int = 0) -> DiskSplit:
    """``n`` random RGB + HHA frames in the prepared on-disk format (uint8, read as [0, 1])."""
    rng = np.random.default_rng(seed)
    mods = {m: rng.integers(0, 256, (n, 3, h, w), dtype=np.uint8) for m in ("rgb", "depth")}
    write_split(root, "unlabeled", [f"u{i:05d}" for i in range(n)], mods, divide={"rgb": 255.0, "depth": 255.0})
    return DiskSplit(root, "unlabeled")


def bench_labeling(exp, params, split, batch: int, root: Path) -> dict:
    cfg = params.active("teacher")
    spec = exp.model_spec("teacher", cfg, cfg.perturbation, split.channels())
    model = spec.build().eval()
    x = split.inputs(spec.modalities)
    with torch.no_grad():
        model({m: v[:batch] for m, v in x.items()})  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(split), batch):
            model({m: v[i:i + batch] for m, v in x.items()})
        bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    LabelStore(root / "labels").write(split.ids, Labeler(exp, model, spec, split), kind="soft", num_classes=exp.task.num_classes,
                                      teacher_hash="bench", dataset_hash="bench", encoding="sparse-q8",
                                      batch_size=batch, progress=False)
    store = time.perf_counter() - t0
    n = len(split)
    return {"bare_images_per_s": n / bare, "pipeline_images_per_s": n / store, "ratio": bare / store}


def bench_training(exp, params, split, batch: int, root: Path) -> dict:
    """The MM student's epoch: the pipeline reads inputs and soft labels from disk by id
    (``TrainingSet`` + ``DataLoader``); the bare loop trains on the same images and the
    same labels held in memory. Both drop the ragged last batch."""
    cfg = params.active("student")
    spec = exp.model_spec("mm_student", cfg, cfg.perturbation, split.channels())
    n_img = len(split) // batch * batch
    gen = LabelStore(root / "labels").latest()
    x = split.inputs(spec.modalities)
    probs = torch.from_numpy(gen.arrays(split.ids)[2])
    step = METHODS.get("mm_student").train_step

    def pipeline() -> float:
        torch.manual_seed(0)
        model = spec.build()
        data = TrainingSet([Part(split, spec.modalities, PseudoTargets(gen, split.ids, "soft", exp.task))])
        t0 = time.perf_counter()
        fit(model, lambda m, b, p: step(m, b, p, task=exp.task), batches(data, batch, seed=0), epochs=1, lr=cfg.lr,
            momentum=cfg.momentum, weight_decay=cfg.weight_decay, perturbation=cfg.perturbation)
        return time.perf_counter() - t0

    def bare(augment: bool) -> float:
        torch.manual_seed(0)
        model = spec.build().train()
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))
        t0 = time.perf_counter()
        for i in range(0, n_img, batch):
            idx = order[i:i + batch]
            xb, pb, valid = {m: v[idx] for m, v in x.items()}, probs[idx], None
            if augment:
                xb, pb, _, valid = random_flip_scale(xb, pb, None, scale_range=cfg.perturbation.scale_range)
            loss, _ = exp.task.loss(model(xb), pb, None, valid)
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
    with tempfile.TemporaryDirectory(prefix="mke-throughput-") as tmp:
        root = Path(tmp)
        split = synthetic_split(root, args.images, prep.height, prep.width)
        result = {"size": [prep.height, prep.width], "batch": args.batch, "threads": torch.get_num_threads(),
                  "labeling": bench_labeling(exp, params, split, args.batch, root),
                  "training": bench_training(exp, params, split, args.batch, root)}
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
