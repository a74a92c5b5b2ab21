"""``mke``: the command line. ``dvc.yaml`` calls ``mke stage …``; people call the rest.

Exit codes: 0 success, 1 failure (bad input, missing files, damaged labels),
2 invalid configuration or usage (nothing was written).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mkepipe.config import ConfigError, load_params


def _stage(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    from mkepipe import stages

    if args.stage == "prepare":
        manifest = stages.prepare(params, args.out)
        print(f"prepared {manifest['num_samples']} samples of {params.experiment} into {args.out}")
    elif args.stage == "teacher":
        stages.teacher(params, args.data, args.out, args.history)
        print(f"teacher saved to {args.out}")
    elif args.stage == "pseudolabel":
        gen = stages.pseudolabel(params, args.data, args.teacher, args.out)
        print(f"label generation {gen.id} ({len(gen)} samples) in {gen.path}")
    elif args.stage == "student":
        saved = stages.student(params, args.data, args.labels, args.out, args.history, args.round)
        print(f"students saved: {', '.join(saved)}")
    elif args.stage == "evaluate":
        metrics = stages.evaluate(params, args.data, args.teacher, args.students, args.labels, args.out, args.round)
        print(f"round {args.round}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if isinstance(v, float)))
    elif args.stage == "promote":
        decision = stages.promote(params, args.teacher, args.students, args.metrics, args.out, args.decision)
        print(f"{decision.verdict}: " + "; ".join(decision.reasons) + f" -> {args.out}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from mkepipe.experiments.twomoon.reproduce import reproduce

    reproduce(args.experiment, seeds=args.seeds, out_dir=args.out, params_path=args.params, workers=args.workers)
    return 0


def _show(args: argparse.Namespace) -> int:
    from mkepipe.summary import print_summary

    params = load_params(args.params)
    return print_summary(Path(args.reports) / params.experiment, params)


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve_all

    serve_all(project_dir=Path(args.project).resolve())
    return 0


def _relabel(args: argparse.Namespace) -> int:
    from mkepipe.service import relabel

    params = load_params(args.params).model_copy(update={"experiment": args.experiment})
    out = relabel(Path(args.project), params, lambda pct, msg: print(f"{pct:3.0f}% {msg}"))
    print(f"relabel {args.experiment}: {out.status}, round {out.round}, {out.labeled} labeled, "
          f"{out.quarantined} quarantined" + (f", {out.decision.verdict}" if out.decision else ""))
    return 0


def _notify(args: argparse.Namespace) -> int:
    """Trigger relabel/<experiment> now: a flow run created through the API, not waited for."""
    if not os.environ.get("PREFECT_API_URL"):
        print("mke notify: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api, what `make serve` starts)",
              file=sys.stderr)
        return 2
    from prefect.deployments import run_deployment

    run = run_deployment(f"relabel/{args.experiment}", timeout=0, as_subflow=False, tags=["notify"])
    print(f"triggered relabel/{args.experiment}: flow run {run.name} ({run.id})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mke", description="Multimodal Knowledge Expansion pipeline")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)

    stage = sub.add_parser("stage", help="run one pipeline stage (called by dvc.yaml)")
    ssub = stage.add_subparsers(dest="stage", required=True)
    p = ssub.add_parser("prepare", help="materialise the dataset and its manifest")
    p.add_argument("--out", type=Path, required=True)
    p = ssub.add_parser("teacher", help="train the unimodal teacher on D_l")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--history", type=Path)
    p = ssub.add_parser("pseudolabel", help="write a label generation for D_u")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = ssub.add_parser("student", help="train the student and its baselines on a label generation")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--history", type=Path)
    p.add_argument("--round", type=int, default=1, help="round id in params.yaml (its baselines switch)")
    p = ssub.add_parser("evaluate", help="score teacher and students on the test split")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--students", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--round", type=int, default=1)
    p = ssub.add_parser("promote", help="copy the round's student, or its teacher if the student fails the "
                                        "promotion rule, to the next round's teacher checkpoint")
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--students", type=Path, required=True)
    p.add_argument("--metrics", type=Path, required=True, help="the round's metrics.json (evaluate stage)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--decision", type=Path, required=True, help="where the decision and its reasons go (JSON)")
    for p in ssub.choices.values():
        p.set_defaults(func=_stage)

    p = sub.add_parser("reproduce", help="run a paper table (TwoMoon: Table 1) and compare with the paper")
    p.add_argument("experiment", choices=["twomoon"])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--out", type=Path, default=None, help="default: reports/<experiment>")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("show", help="print the metrics of the last pipeline run")
    p.add_argument("--reports", default="reports")
    p.set_defaults(func=_show)

    p = sub.add_parser("serve", help="serve every experiment as Prefect deployment mke/<name>")
    p.add_argument("--project", default=".", help="project directory the flows run in")
    p.set_defaults(func=_serve)

    p = sub.add_parser("relabel", help="run one relabel round now, without Prefect (docs/service.md)")
    p.add_argument("--experiment", default="nyu")
    p.add_argument("--project", default=".", help="project directory")
    p.set_defaults(func=_relabel)

    p = sub.add_parser("notify", help="new sensor data arrived: trigger the relabel/<experiment> deployment now")
    p.add_argument("--experiment", default="nyu")
    p.set_defaults(func=_notify)

    from mkepipe.experiments.nyu import cli as nyu_data_cli
    from mkepipe.labels import cli as labels_cli

    labels_cli.add_parser(sub)
    nyu_data_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(f"mke: invalid configuration\n{err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError) as err:
        if os.environ.get("MKE_DEBUG"):
            raise
        print(f"mke: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
