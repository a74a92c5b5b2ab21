"""Benchmark of the pseudo-label store (mkepipe.labels).

Teacher: a randomly initialised segmentation_models_pytorch DeepLabV3+ (no pretrained
weights can be downloaded here) run on structured synthetic indoor-like scenes (wall
and floor gradients, textured boxes and ellipses, sensor noise). Its logits are
standardised with one global scale measured on the first batch and multiplied by
``--temperature`` so that the softmax has the confidence of a trained network (mean
max-probability ~0.8 at the default). Reports, as JSON (``--out``) and on stdout:

- bytes/pixel on disk per kind and encoding, and the compact encoding's errors
  (argmax agreement, KL(original || decoded), |delta w|);
- write throughput (samples/s, MB/s of float32 probabilities in, MB/s written) and its
  ratio to the bare teacher forward on the same batches (wall and process-CPU time,
  interleaved pairs, median of ``--repeats``; each run records the load average, since a
  busy neighbour on 2 cores makes single runs meaningless), plus the store's own cost
  per sample with precomputed teacher outputs;
- random-read latency per sample, verify throughput;
- the same for a classification (N x K) generation with a small MLP teacher.

    python bench/label_store.py                       # 12 images 480x640, K=40, 3 repeats (~5 min, 2 cores)
    python bench/label_store.py --quick               # 4 images 240x320, smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mkepipe.labels import Generation, LabelStore
from mkepipe.labels.codecs import analyse

DENSE_CONFIGS = [("hard", "hard"), ("soft", "sparse-q8"), ("weighted", "sparse-q8"), ("weighted", "hard"),
                 ("soft", "float16"), ("weighted", "float16")]


def scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A room-like RGB image in [0,1]: wall/floor gradients, textured boxes and ellipses."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((3, height, width), np.float32)
    horizon = rng.uniform(0.45, 0.7) * height
    wall, floor = rng.uniform(0.3, 0.9, 3), rng.uniform(0.1, 0.6, 3)
    for c in range(3):
        img[c] = np.where(y < horizon, wall[c] * (0.8 + 0.2 * x / width), floor[c] * (0.6 + 0.4 * y / height))
    for _ in range(rng.integers(6, 14)):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        h, w = rng.uniform(0.05, 0.4) * height, rng.uniform(0.05, 0.4) * width
        if rng.random() < 0.5:
            mask = (np.abs(y - cy) < h / 2) & (np.abs(x - cx) < w / 2)
        else:
            mask = ((y - cy) / h) ** 2 + ((x - cx) / w) ** 2 < 0.25
        texture = 0.1 * np.sin(x / rng.uniform(3, 20) + y / rng.uniform(3, 20))
        colour = rng.uniform(0, 1, 3)
        for c in range(3):
            img[c] = np.where(mask, colour[c] + texture, img[c])
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def dense_teacher(args):
    """Sample ids and ``make_label_fn(temperature)`` for the DeepLabV3+ teacher."""
    import segmentation_models_pytorch as smp
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = smp.DeepLabV3Plus(encoder_name=args.encoder, encoder_weights=None, classes=args.classes).eval()
    images = {f"img{i:05d}": scene(rng, args.height, args.width) for i in range(args.n)}

    def logits(ids: list[str]) -> torch.Tensor:
        x = torch.from_numpy(np.stack([images[i] for i in ids]))
        return net((x - 0.45) / 0.25)

    with torch.no_grad():
        calib = logits(list(images)[:args.batch])
        scale = float((calib - calib.mean(1, keepdim=True)).std())

    def make_label_fn(temperature: float):
        @torch.no_grad()
        def label_fn(ids: list[str]) -> np.ndarray:
            return torch.softmax(logits(ids) * (temperature / scale), dim=1).numpy()
        return label_fn

    return list(images), make_label_fn


def classification_teacher(args):
    torch.manual_seed(0)
    k, n = args.cls_classes, args.cls_n
    feats = torch.randn(n, 32)
    net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, k)).eval()
    index = {f"s{i:07d}": i for i in range(n)}

    @torch.no_grad()
    def label_fn(ids: list[str]) -> np.ndarray:
        rows = torch.tensor([index[i] for i in ids])
        return torch.softmax(net(feats[rows]) * 4, dim=1).numpy()

    return list(index), label_fn


def bare_forward(ids, label_fn, batch: int, shard: int, keep: bool = False) -> tuple[float, float, dict]:
    """Wall and process-CPU seconds of the forward alone, on exactly the store's batches."""
    outputs, start, cpu = {}, time.perf_counter(), time.process_time()
    for s0 in range(0, len(ids), shard):
        chunk = ids[s0:s0 + shard]
        for b0 in range(0, len(chunk), batch):
            part = chunk[b0:b0 + batch]
            probs = label_fn(part)
            if keep:
                outputs.update(zip(part, probs))
    return time.perf_counter() - start, time.process_time() - cpu, outputs


def gen_bytes(gen: Generation) -> int:
    return sum(s["bytes"] for s in gen.manifest["shards"]) + (gen.path / "manifest.json").stat().st_size


def kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p64 = p.astype(np.float64)
    return (p64 * (np.log(np.maximum(p64, 1e-300)) - np.log(np.maximum(q.astype(np.float64), 1e-300)))).sum(0)


def fidelity(gen: Generation, originals: dict) -> dict:
    """Argmax agreement, KL(orig || decoded) and |delta w| against the teacher's float32 output."""
    agree = units = 0
    kl_sum, kl_max, dw_max = 0.0, 0.0, 0.0
    for sid in gen.ids:
        rec, orig = gen.get(sid), originals[sid]
        a = analyse(orig.reshape(1, orig.shape[0], -1))
        agree += int((rec.hard.ravel() == a.hard.ravel()).sum())
        units += a.hard.size
        if rec.probs is not None:
            kl = kl_rows(orig.reshape(orig.shape[0], -1), rec.probs.reshape(orig.shape[0], -1))
            kl_sum, kl_max = kl_sum + float(kl.sum()), max(kl_max, float(kl.max()))
        if rec.weight is not None:
            dw_max = max(dw_max, float(np.abs(np.ravel(rec.weight) - a.weight.ravel()).max()))
    out = {"argmax_agreement": agree / units}
    if gen.codec.name != "hard":
        out.update(mean_kl=kl_sum / units, max_kl=kl_max)
    if gen.kind == "weighted":
        out.update(max_abs_dw=dw_max, max_abs_dw_x255=dw_max * 255)
    return out


def read_latency(gen_path: Path, ids: list[str], check: str, reads: int) -> dict:
    gen = Generation(gen_path, check=check)
    rnd = random.Random(0)
    picks = [rnd.choice(ids) for _ in range(reads)]
    times = []
    for sid in picks:
        t0 = time.perf_counter()
        gen.get(sid)
        times.append(time.perf_counter() - t0)
    return {"check": check, "reads": reads, "first_ms": times[0] * 1e3,
            "median_ms": statistics.median(times) * 1e3, "mean_ms": statistics.fmean(times) * 1e3,
            "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))] * 1e3}


def run_section(name, ids, label_fn, configs, args, work: Path, units_per_sample: int, num_classes: int) -> dict:
    """Each config: a bare forward pass, then the store write on the same batches (interleaved,
    so drifting background load hits both alike); ratio = bare seconds / write seconds."""
    batch, shard = (args.batch if name == "dense" else args.cls_batch), args.shard_size
    label_fn(ids[:batch])  # warm-up (thread pools, allocator)
    _, _, originals = bare_forward(ids, label_fn, batch, shard, keep=True)
    in_mb = sum(p.nbytes for p in originals.values()) / 1e6
    teacher = [analyse(p.reshape(1, num_classes, -1)) for p in originals.values()]
    confidence = {"mean_max_prob": float(np.mean([a.conf.mean() for a in teacher])),
                  "mean_entropy_over_log_k": float(np.mean([a.nent.mean() for a in teacher]))}
    print(f"[{name}] teacher output: {json.dumps(confidence)}", flush=True)
    batches = {}  # the teacher's outputs, batched as the store asks for them
    for s0 in range(0, len(ids), args.shard_size):
        chunk = ids[s0:s0 + args.shard_size]
        for b0 in range(0, len(chunk), batch):
            part = tuple(chunk[b0:b0 + batch])
            batches[part] = np.stack([originals[i] for i in part])
    results = []
    for kind, encoding, *size in configs:
        shard = size[0] if size else args.shard_size
        for rep in range(args.repeats):
            t_bare, cpu_bare, _ = bare_forward(ids, label_fn, batch, shard)
            store = LabelStore(work / name / f"{kind}-{encoding}-{shard}-{rep}")
            t0, c0 = time.perf_counter(), time.process_time()
            gen = store.write(ids, label_fn, kind=kind, encoding=encoding, num_classes=num_classes,
                              teacher_hash="bench-teacher", dataset_hash=f"bench-{name}", shard_size=shard,
                              batch_size=batch, progress=False)
            t_write, cpu_write = time.perf_counter() - t0, time.process_time() - c0
            if rep == 0:
                row = {"kind": kind, "encoding": encoding, "shard_size": shard, "files": len(list(gen.path.iterdir())),
                       "bytes_on_disk": gen_bytes(gen), "runs": []}
                row["bytes_per_unit"] = row["bytes_on_disk"] / (len(ids) * units_per_sample)
            row["runs"].append({"bare_seconds": t_bare, "write_seconds": t_write, "ratio": t_bare / t_write,
                                "bare_cpu_seconds": cpu_bare, "write_cpu_seconds": cpu_write,
                                "cpu_ratio": cpu_bare / cpu_write, "loadavg_1min": os.getloadavg()[0]})
        runs = row["runs"]
        t_write = statistics.median(r["write_seconds"] for r in runs)
        row.update(write_seconds=t_write, samples_per_s=len(ids) / t_write, mb_in_per_s=in_mb / t_write,
                   mb_written_per_s=row["bytes_on_disk"] / 1e6 / t_write,
                   bare_samples_per_s=len(ids) / statistics.median(r["bare_seconds"] for r in runs),
                   ratio_to_bare_forward=statistics.median(r["ratio"] for r in runs),
                   cpu_ratio_to_bare_forward=statistics.median(r["cpu_ratio"] for r in runs))
        if shard == args.shard_size:  # store alone: label_fn hands back precomputed outputs
            t0 = time.perf_counter()
            LabelStore(work / name / f"store-only-{kind}-{encoding}").write(
                ids, lambda b: batches[tuple(b)], kind=kind, encoding=encoding, num_classes=num_classes,
                teacher_hash="bench-teacher", dataset_hash=f"bench-{name}", shard_size=shard,
                batch_size=batch, progress=False)
            row["store_only_ms_per_sample"] = (time.perf_counter() - t0) / len(ids) * 1e3
        t0 = time.perf_counter()
        report = Generation(gen.path).verify()
        vs = time.perf_counter() - t0
        row["verify"] = {"seconds": vs, "mb_per_s": report["bytes"] / 1e6 / vs, "samples_per_s": len(ids) / vs}
        row["fidelity"] = fidelity(gen, originals)
        row["read_latency"] = [read_latency(gen.path, ids, check, args.reads) for check in ("shard", "block")]
        results.append(row)
        lat = row["read_latency"]
        print(f"[{name}] {kind:8s} {encoding:9s} shard {shard:5d} {row['bytes_per_unit']:8.3f} B/{'px' if units_per_sample > 1 else 'sample'}"
              f" | write {row['samples_per_s']:9.2f} samples/s {row['mb_in_per_s']:7.1f} MB/s in"
              f" {row['mb_written_per_s']:6.1f} MB/s out | bare {row['bare_samples_per_s']:9.2f} samples/s"
              f" | ratio {row['ratio_to_bare_forward']:.3f} (cpu {row['cpu_ratio_to_bare_forward']:.3f})"
              f" | store alone {row.get('store_only_ms_per_sample', float('nan')):.3f} ms/sample | verify {row['verify']['mb_per_s']:6.0f} MB/s"
              f" {row['verify']['samples_per_s']:8.0f} samples/s | read median {lat[0]['median_ms']:.2f} ms"
              f" (first {lat[0]['first_ms']:.1f} ms; block-check median {lat[1]['median_ms']:.2f} ms)"
              f" | {json.dumps({k: round(v, 6) for k, v in row['fidelity'].items()})}", flush=True)
    return {"samples": len(ids), "units_per_sample": units_per_sample, "num_classes": num_classes,
            "batch_size": batch, "teacher_output": confidence, "probs_mb": in_mb, "results": results}


def temperature_point(temperature: float, ids, label_fn, args, work: Path) -> dict:
    """Size and errors of the compact encoding for a more or less confident teacher."""
    _, _, originals = bare_forward(ids, label_fn, args.batch, args.shard_size, keep=True)
    gen = LabelStore(work / f"sweep-{temperature}").write(
        ids, label_fn, kind="weighted", encoding="sparse-q8", num_classes=args.classes, teacher_hash="bench",
        dataset_hash="sweep", batch_size=args.batch, progress=False)
    teacher = [analyse(p.reshape(1, args.classes, -1)) for p in originals.values()]
    row = {"temperature": temperature,
           "mean_max_prob": float(np.mean([a.conf.mean() for a in teacher])),
           "bytes_per_pixel": gen_bytes(gen) / (len(ids) * args.height * args.width),
           "fidelity": fidelity(gen, originals)}
    print(f"[sweep] T={temperature:g} mean max-prob {row['mean_max_prob']:.3f} weighted/sparse-q8 "
          f"{row['bytes_per_pixel']:.3f} B/px {json.dumps({k: round(v, 6) for k, v in row['fidelity'].items()})}",
          flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=12, help="dense images")
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--classes", type=int, default=40)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--encoder", default="resnet34")
    ap.add_argument("--temperature", type=float, default=8.0,
                    help="logit sharpening of the random teacher (8: mean max-probability ~0.8)")
    ap.add_argument("--sweep", type=lambda v: [float(t) for t in v.split(",") if t], default=[2.0, 4.0, 16.0],
                    help="extra temperatures: bytes and errors of weighted/sparse-q8 only")
    ap.add_argument("--shard-size", type=int, default=256)
    ap.add_argument("--configs", default="all", help="'all', 'compact' or comma list kind/encoding")
    ap.add_argument("--cls-n", type=int, default=50000)
    ap.add_argument("--cls-classes", type=int, default=10)
    ap.add_argument("--cls-batch", type=int, default=256)
    ap.add_argument("--reads", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3, help="bare/write pairs per config (median is reported)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--quick", action="store_true", help="4 images at 240x320, 5000 classification samples")
    ap.add_argument("--workdir", default=None, help="where generations are written (default: a temp dir)")
    ap.add_argument("--out", default="reports/bench/label_store.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.height, args.width, args.cls_n, args.repeats = 4, 240, 320, 5000, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.configs == "all":
        configs = DENSE_CONFIGS
    elif args.configs == "compact":
        configs = [("hard", "hard"), ("soft", "sparse-q8"), ("weighted", "sparse-q8")]
    else:
        configs = [tuple(c.split("/")) for c in args.configs.split(",")]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        ids, make_fn = dense_teacher(args)
        load = [os.getloadavg()]
        dense = run_section("dense", ids, make_fn(args.temperature), configs, args, work,
                            args.height * args.width, args.classes)
        load.append(os.getloadavg())
        sweep = [temperature_point(t, ids, make_fn(t), args, work) for t in args.sweep]
        ids, fn = classification_teacher(args)
        cls_configs = [("hard", "hard"), ("soft", "float16"), ("soft", "sparse-q8"), ("weighted", "float16"),
                       ("soft", "float16", 4096)]
        classification = run_section("classification", ids, fn, cls_configs, args, work, 1, args.cls_classes)
        load.append(os.getloadavg())
    report = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "loadavg_start_mid_end": load},
        "teacher": {"model": f"smp.DeepLabV3Plus({args.encoder}, random init)", "temperature": args.temperature,
                    "images": "synthetic indoor-like scenes", "height": args.height, "width": args.width},
        "dense": dense, "compact_vs_teacher_sharpness": sweep, "classification": classification,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
