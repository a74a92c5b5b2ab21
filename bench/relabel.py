"""Cost of incremental re-labeling, and the fixed overhead of a ``relabel/nyu`` deployment run.

1. **10 % new data**: on a synthetic NYU project with ``--scenes`` × ``--frames`` D_u
   frames, one more scene (10 % with the defaults) lands in the inbox. Timed in one
   process: the relabel round's labeling step (the current teacher labels only the new
   frames into a child generation) against a full re-label of the same new dataset
   version (the pipeline's pseudolabel stage over all of D_u), and the whole round
   (ingest + label + train + evaluate), whose training on all labels is not incremental.
2. **Deployment overhead**: a no-op relabel (nothing new) as a direct call of the flow
   function against a real local Prefect server vs. ``prefect deployment run
   relabel/nyu --watch`` served by ``mke serve``; interleaved ``--repeats`` times, the
   minimum counts.

    python bench/relabel.py [--scenes 10 --frames 10 --repeats 3] [--out bench/results/relabel.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mkepipe import stages  # noqa: E402
from mkepipe.config import load_params  # noqa: E402
from mkepipe.service import Relabeler, read_state, service_lock  # noqa: E402
from tests.conftest import run  # noqa: E402
from tests.prefect_server import prefect_server, served  # noqa: E402
from tests.service_helpers import drop_scene, make_service_project, source_scenes  # noqa: E402


def clock(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def incremental_round(root: Path, whole_round: bool) -> dict:
    """Time each step of one relabel round, then a full re-label of the same dataset version.

    ``label_fixed`` is the label step with nothing to label (model and data loading):
    the part of the cost that does not shrink with the number of new samples.
    """
    params = load_params(root / "params.yaml")
    r = Relabeler(root, params)
    t: dict[str, float] = {}
    with service_lock(r.layout):
        plan, t["plan"] = clock(r.plan)
        state, t["bootstrap"] = clock(r.bootstrap)
        got, t["ingest"] = clock(r.ingest, plan, state)
        _, t["label_fixed"] = clock(r.label, plan.round, state, r.layout.abs(state.dataset))
        gen, t["label_incremental"] = clock(r.label, plan.round, state, got.version)
        if whole_round:
            _, t["train"] = clock(r.train, plan.round, got.version)
            metrics, t["evaluate"] = clock(r.evaluate, plan.round, state, got.version)
            _, t["commit"] = clock(r.commit, plan, state, got, gen, metrics)
    full, t["label_full"] = clock(stages.pseudolabel, params, got.version, r.layout.abs(state.teacher),
                                  root / "bench-full-labels")
    assert len(full) == len(gen) and (not whole_round or read_state(r.layout).round == 1)
    out = {"seconds": t, "new_samples": gen.manifest["samples"], "total_samples": len(gen),
           "label_ratio": t["label_incremental"] / t["label_full"],
           "label_ratio_marginal": (t["label_incremental"] - t["label_fixed"]) / (t["label_full"] - t["label_fixed"])}
    if whole_round:
        out["round_seconds"] = sum(t[k] for k in ("plan", "ingest", "label_incremental", "train", "evaluate", "commit"))
    return out


def deployment_overhead(root: Path, env: dict, repeats: int) -> dict:
    os.environ.update({k: env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_RUNNER_POLL_FREQUENCY")})
    from flows.relabel_flow import relabel

    direct, deployed = [], []
    for _ in range(repeats):
        out, dt = clock(relabel, "nyu", str(root))
        assert out["status"] == "noop"
        direct.append(dt)
        _, dt = clock(run, ["prefect", "deployment", "run", "relabel/nyu", "--watch"], root, env)
        deployed.append(dt)
    return {"direct_s": direct, "deployment_s": deployed, "overhead_s": min(deployed) - min(direct),
            "ratio": min(deployed) / min(direct)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=10, help="D_u scenes before the new one arrives")
    ap.add_argument("--frames", type=int, default=10, help="frames per scene")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, nargs=2, default=(32, 48), metavar=("H", "W"), help="training resolution")
    ap.add_argument("--labels-only", action="store_true", help="skip training and evaluating the round")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "relabel.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mke-bench-relabel-") as tmp:
        tmp = Path(tmp)
        # one scene more than D_u has is rendered and held back as the new data
        root, env = make_service_project(tmp, {"n_scenes": args.scenes + 1, "frames_per_scene": args.frames},
                                         size=tuple(args.size))
        held_back = source_scenes(root)[-1]
        new_name = "arrived_" + held_back.name
        (root / "data" / "nyu" / "source" / "raw" / held_back.name).rename(tmp / held_back.name)
        stages.prepare(load_params(root / "params.yaml"), root / "data" / "nyu")  # D_u without it
        params = load_params(root / "params.yaml")
        stages.pseudolabel(params, root / "data" / "nyu", root / "models" / "nyu" / "teacher.pt",
                           root / "labels" / "nyu" / "round1")
        drop_scene(root, tmp / held_back.name, new_name)
        inc = incremental_round(root, not args.labels_only)
        shutil.rmtree(root / "inbox")  # the deployment runs below are no-ops
        with prefect_server(tmp / "prefect-home", env) as penv, served(root, penv, "relabel/nyu"):
            dep = deployment_overhead(root, penv, args.repeats)
    result = {"config": vars(args) | {"out": str(args.out)}, "incremental": inc, "deployment": dep,
              "cpu_count": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}
    s = inc["seconds"]
    print(f"{inc['new_samples']} new of {inc['total_samples']} D_u samples at {args.size[0]}x{args.size[1]}")
    print(f"  label new only {s['label_incremental']:.2f} s vs full re-label {s['label_full']:.2f} s "
          f"-> ratio {inc['label_ratio']:.3f} (target <= 0.25); fixed part (model + data loading) "
          f"{s['label_fixed']:.2f} s, ratio without it {inc['label_ratio_marginal']:.3f}")
    print(f"  plan (inbox diff) {s['plan']:.3f} s, ingest {s['ingest']:.2f} s")
    if "round_seconds" in inc:
        print(f"  whole round {inc['round_seconds']:.1f} s (train {s['train']:.1f}, evaluate {s['evaluate']:.1f})")
    print(f"deployment no-op: direct flow call {min(dep['direct_s']):.2f} s, deployment run "
          f"{min(dep['deployment_s']):.2f} s -> overhead {dep['overhead_s']:.2f} s "
          f"(median {statistics.median(dep['deployment_s']) - statistics.median(dep['direct_s']):.2f} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
