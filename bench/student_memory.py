"""Peak memory of a student epoch as D_u grows: 1× and 8× the demo's synthetic D_u (NYU or
AudioSet → VGGSound).

The pipeline reads D_u's inputs and pseudo labels from disk by sample id, batch by batch
(``mkepipe.training.data``), so the resident memory of a training run should not grow with
the unlabeled pile. This prepares the experiment's synthetic default once, builds an 8×
D_u by repeating its samples under new ids (the rows are real prepared samples; only their
number changes), labels both with a teacher, and trains one epoch of the MM student on
each in a fresh process, reading that process's peak RSS (``ru_maxrss``; with DataLoader
workers, theirs too). It also prints what the same D_u would take if its inputs and soft
labels were held in RAM as float32 tensors.

    python bench/student_memory.py [--experiment nyu|vggsound] [--factor 8] [--data DIR] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mkepipe import stages  # noqa: E402
from mkepipe.config import load_params  # noqa: E402
from mkepipe.data.arrays import NpyFile  # noqa: E402
from mkepipe.data.manifest import read_manifest, write_manifest  # noqa: E402
from mkepipe.data.split import SplitWriter  # noqa: E402
from mkepipe.service.ingest import link_tree  # noqa: E402


def params(experiment: str):
    return load_params(ROOT / "params.yaml").model_copy(update={"experiment": experiment})


def grow(src: Path, dst: Path, factor: int, experiment: str) -> int:
    """``dst`` = ``src`` with D_u repeated ``factor`` times under new ids; returns its size."""
    for split in ("labeled", "test", "val"):
        link_tree(src / split, dst / split)
    ids = (src / "unlabeled" / "ids.txt").read_text().splitlines()
    meta = json.loads((src / "unlabeled" / "split.json").read_text())
    files = {m: NpyFile(src / "unlabeled" / f"{m}.npy") for m in meta["modalities"]}
    writer = SplitWriter(dst, "unlabeled", divide={m: v.get("divide") for m, v in meta["modalities"].items()})
    for k in range(factor):
        for start in range(0, len(ids), 64):
            rows = range(start, min(start + 64, len(ids)))
            writer.append([f"x{k}/{ids[i]}" for i in rows], {m: f.rows(rows) for m, f in files.items()})
    writer.close()
    manifest = read_manifest(src)
    samples = {sid: row for sid, row in manifest["samples"].items() if row["split"] != "unlabeled"}
    samples.update({sid: {"split": "unlabeled", "sha256": f"{sid}"} for sid in writer.ids})
    write_manifest(dst, experiment, samples)
    return len(writer.ids)


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from mkepipe.config import load_params
from mkepipe.experiments import create_experiment
from mkepipe.stages import latest_generation
from mkepipe.training.runs import train_student
import torch
params = load_params({params!r}).model_copy(update={{"experiment": {experiment!r}}})
params = params.with_active("student", epochs=1)
exp = create_experiment({experiment!r}, params)
torch.set_num_threads(2)
data, labels = {data!r}, {labels!r}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
train_student(exp, params, "mm_student", unlabeled=exp.load(data, "unlabeled"), labels=latest_generation(labels),
              kind="soft")
print(json.dumps({{"rss_before_kib": before, "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "loader_peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "epoch_seconds": time.perf_counter() - t}}))
"""


def epoch_in_fresh_process(experiment: str, data: Path, labels: Path) -> dict:
    code = CHILD.format(root=str(ROOT), params=str(ROOT / "params.yaml"), data=str(data), labels=str(labels),
                        experiment=experiment)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def in_ram_bytes(data: Path, n: int, classes: int) -> int:
    """float32 inputs and soft labels of ``n`` samples shaped as ``data``'s test split."""
    meta = json.loads((data / "test" / "split.json").read_text())
    inputs = sum(NpyFile(data / "test" / f"{m}.npy").row_bytes // NpyFile(data / "test" / f"{m}.npy").dtype.itemsize
                 for m in meta["modalities"])
    y = NpyFile(data / "test" / "y.npy")
    label_floats = y.row_bytes // y.dtype.itemsize * (1 if meta["labels"].get("multi_hot") else classes)
    return n * (inputs + label_floats) * 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="nyu", choices=("nyu", "vggsound"))
    ap.add_argument("--factor", type=int, default=8)
    ap.add_argument("--data", type=Path, default=None, help="a prepared dataset of the experiment to start from "
                                                             "(default: prepare the synthetic default)")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/student_memory[_<experiment>].json")
    args = ap.parse_args()
    suffix = "" if args.experiment == "nyu" else f"_{args.experiment}"
    args.out = args.out or ROOT / "bench" / "results" / f"student_memory{suffix}.json"
    p = params(args.experiment)
    t0 = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="mke-memory-") as tmp:
        tmp = Path(tmp)
        base = args.data or tmp / "data1"
        if args.data is None:
            stages.prepare(p, base)
        teacher = tmp / "teacher.pt"
        stages.teacher(p.with_active("teacher", epochs=1), base, teacher)
        big = tmp / f"data{args.factor}"
        sizes = {1: len((base / "unlabeled" / "ids.txt").read_text().splitlines()),
                 args.factor: grow(base, big, args.factor, args.experiment)}
        for factor, data in ((1, base), (args.factor, big)):
            labels = tmp / f"labels{factor}"
            stages.pseudolabel(p, data, teacher, labels)
            run = epoch_in_fresh_process(args.experiment, data, labels)
            classes = read_manifest(base)["num_classes"]
            run.update(samples=sizes[factor], in_ram_mib=in_ram_bytes(base, sizes[factor], classes) / 2**20)
            results[f"{factor}x"] = run
            print(f"D_u {factor}x: {sizes[factor]} samples, peak RSS {run['peak_rss_kib'] / 1024:.0f} MiB "
                  f"(after imports {run['rss_before_kib'] / 1024:.0f} MiB; loader workers "
                  f"{run['loader_peak_rss_kib'] / 1024:.0f} MiB), epoch {run['epoch_seconds']:.0f} s; "
                  f"held in RAM as float32 it would be {run['in_ram_mib']:.0f} MiB", flush=True)
    one, many = results["1x"]["peak_rss_kib"], results[f"{args.factor}x"]["peak_rss_kib"]
    ratio = many / one
    out = {"experiment": args.experiment, "factor": args.factor, "runs": results, "peak_rss_ratio": ratio,
           "seconds": time.perf_counter() - t0,
           "parent_peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    print(f"peak RSS {args.factor}x / 1x = {ratio:.3f} (target <= 1.2)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
