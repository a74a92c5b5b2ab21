"""Fixed overhead of the three entry points on the TwoMoon pipeline (both rounds).

Runs the same pipeline (a) as plain stage-function calls, (b) via ``dvc repro`` in a
fresh git repository, (c) via ``prefect deployment run mke/twomoon --watch`` against a
real local Prefect server, all in one process run so the ratios share the machine's
state. Each entry point runs ``--repeats`` times on a fresh project, interleaved, and
the minimum counts (robust to other load on the machine). Prints the figures and
writes JSON.

    python bench/overhead.py [--repeats 2] [--out bench/results/overhead.json]
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

from mkepipe import stages  # noqa: E402
from mkepipe.config import load_params  # noqa: E402
from tests.conftest import make_project, run  # noqa: E402
from tests.prefect_server import prefect_server, served  # noqa: E402


def plain_calls(work: Path) -> float:
    params = load_params(ROOT / "params.yaml")
    t0 = time.perf_counter()
    data, models = work / "data", work / "models"
    stages.prepare(params, data)
    stages.teacher(params, data, models / "teacher.pt")
    for r in params.rounds:
        labels, students = work / f"labels{r.id}", models / f"round{r.id}"
        stages.pseudolabel(params, data, models / r.teacher, labels)
        stages.student(params, data, labels, students, round_id=r.id)
        report = work / f"report{r.id}"
        stages.evaluate(params, data, models / r.teacher, students, labels, report, r.id)
        stages.promote(params, models / r.teacher, students, report / "metrics.json",
                       models / f"teacher-after-round{r.id}.pt", report / "promotion.json")
    return time.perf_counter() - t0


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    run(cmd, cwd, env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "overhead.json")
    args = ap.parse_args()
    times: dict[str, list[float]] = {k: [] for k in ("fn", "dvc", "dvc_noop", "prefect", "prefect_noop", "server")}
    with tempfile.TemporaryDirectory(prefix="mke-bench-") as tmp:
        tmp = Path(tmp)
        for i in range(args.repeats):
            rep = tmp / f"rep{i}"
            times["fn"].append(plain_calls(rep / "plain"))
            (rep / "dvc").mkdir(parents=True)
            root, env = make_project(rep / "dvc")
            times["dvc"].append(timed(["dvc", "repro"], root, env))
            times["dvc_noop"].append(timed(["dvc", "repro"], root, env))
            (rep / "prefect").mkdir()
            proot, penv0 = make_project(rep / "prefect")
            t0 = time.perf_counter()
            with prefect_server(rep / "prefect-home", penv0) as penv:
                times["server"].append(time.perf_counter() - t0)
                with served(proot, penv, "mke/twomoon"):
                    times["prefect"].append(timed(["prefect", "deployment", "run", "mke/twomoon", "--watch"], proot, penv))
                    times["prefect_noop"].append(timed(["prefect", "deployment", "run", "mke/twomoon", "--watch"], proot, penv))
    fn, dvc_full, dvc_noop, prefect_full, prefect_noop, server_start = (
        min(times[k]) for k in ("fn", "dvc", "dvc_noop", "prefect", "prefect_noop", "server"))
    result = {
        "pipeline": "twomoon, 2 rounds", "repeats": args.repeats, "all_times_s": times, "plain_calls_s": fn,
        "dvc_repro_s": dvc_full, "dvc_repro_noop_s": dvc_noop,
        "prefect_run_s": prefect_full, "prefect_run_noop_s": prefect_noop, "prefect_server_start_s": server_start,
        "dvc_overhead_s": dvc_full - fn, "dvc_ratio": dvc_full / fn,
        "prefect_overhead_s": prefect_full - fn, "prefect_ratio": prefect_full / fn,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"plain function calls      {fn:7.2f} s   1.00x")
    print(f"dvc repro (fresh)         {dvc_full:7.2f} s   {dvc_full / fn:5.2f}x   overhead {dvc_full - fn:6.2f} s")
    print(f"dvc repro (no-op)         {dvc_noop:7.2f} s")
    print(f"prefect deployment run    {prefect_full:7.2f} s   {prefect_full / fn:5.2f}x   overhead {prefect_full - fn:6.2f} s")
    print(f"prefect run (up to date)  {prefect_noop:7.2f} s")
    print(f"prefect server start      {server_start:7.2f} s (once per service, not per run)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
