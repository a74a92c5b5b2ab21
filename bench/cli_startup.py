"""Start-up of the torch-free commands: ``mke --help``, ``mke show`` and validating
``params.yaml``, each in a fresh process, median of repeats; and whether any of them
imported torch (``python -X importtime``). Prints and writes JSON.

    python bench/cli_startup.py [--repeats 5] [--out bench/results/cli_startup.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = {"round": 1, "student_method": "mm_student", "metric": "accuracy", "teacher_accuracy": 70.0,
           "student_accuracy": 75.0, "methods": {"mm_student": 75.0}}
VALIDATE = "import mkepipe.config; mkepipe.config.load_params('params.yaml')"


def commands(reports: Path) -> dict[str, list[str]]:
    mke = [sys.executable, "-m", "mkepipe.cli"]
    return {"mke --help": mke + ["--help"], "mke show": mke + ["show", "--reports", str(reports)],
            "load_params": [sys.executable, "-c", VALIDATE]}


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - t


def imports_torch(cmd: list[str]) -> bool:
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in proc.stderr.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cli_startup.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp)
        (reports / "twomoon" / "round1").mkdir(parents=True)
        (reports / "twomoon" / "round1" / "metrics.json").write_text(json.dumps(METRICS))
        results = {}
        for name, cmd in commands(reports).items():
            timed(cmd)  # warm the page cache
            seconds = [timed(cmd) for _ in range(args.repeats)]
            results[name] = {"median_s": statistics.median(seconds), "min_s": min(seconds),
                             "imports_torch": imports_torch(cmd)}
            print(f"{name:<12} median {results[name]['median_s']:.2f} s (min {min(seconds):.2f} s), "
                  f"imports torch: {results[name]['imports_torch']}")
        bare = [timed([sys.executable, "-c", "pass"]) for _ in range(args.repeats)]
        results["python -c pass"] = {"median_s": statistics.median(bare)}
        print(f"{'python alone':<12} median {statistics.median(bare):.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
