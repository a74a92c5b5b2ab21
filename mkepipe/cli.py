"""``mke``: the command line. ``dvc.yaml`` calls ``mke stage …``; people call the rest.

Exit codes: 0 success, 1 failure (bad input, missing files, damaged labels, diverged
training), 2 invalid configuration or usage (nothing was written). Every expected
failure is one line on stderr; ``--debug`` shows the traceback instead. Building the
parser imports no torch: stage arguments come from :data:`mkepipe.stages.STAGES`, and
experiment commands from the registry's torch-free specs.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from mkepipe.config import ConfigError, load_params
from mkepipe.experiments import RegistryError, get_spec, load_object, specs


def data_commands(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The subcommands of ``mke data``, the dataset utilities every experiment may add to
    (``mke data synth-nyu``, ``synth-ravdess``…): created by the first experiment that asks."""
    data = subparsers.choices.get("data")
    if data is None:
        data = subparsers.add_parser("data", help="dataset utilities (synthetic defaults in the real formats)")
        return data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    return next(a for a in data._actions if isinstance(a, argparse._SubParsersAction))


def _stage(args: argparse.Namespace) -> int:
    from mkepipe.stages import get_stage

    params = load_params(args.params)
    stage = get_stage(args.stage)
    kwargs = {a.name: getattr(args, a.name) for a in stage.args if getattr(args, a.name) is not None}
    result = stage.func(params, **kwargs)
    print(stage.report(result, kwargs))
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from mkepipe.pipeline import check, dvc_yaml, link_experiments

    path = Path(args.project) / "dvc.yaml"
    if args.check:
        current = check(path)
        print(f"{path}: {'current' if current else 'differs from mkepipe.stages.STAGES: run mke pipeline --write'}")
        return 0 if current else 1
    if args.write:
        path.write_text(dvc_yaml())
        for name, link in link_experiments(Path(args.project)).items():
            print(f"experiments/{name} -> {link}")
        print(f"wrote {path}")
    else:
        print(dvc_yaml(), end="")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    spec = get_spec(args.experiment)
    load_object(spec.reproduce)(args.experiment, seeds=args.seeds, out_dir=args.out, params_path=args.params,
                                workers=args.workers, protocol=args.protocol)
    return 0


def _show(args: argparse.Namespace) -> int:
    from mkepipe.summary import print_summary

    params = load_params(args.params)
    return print_summary(Path(args.reports) / params.experiment, params)


def _experiments(args: argparse.Namespace) -> int:
    for name, spec in specs().items():
        extras = [w for w, on in (("relabel inbox", spec.inbox), ("paper table", spec.reproduce)) if on]
        print(f"{name:<12} {spec.description}" + (f" [{', '.join(extras)}]" if extras else ""))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve_all

    serve_all(project_dir=Path(args.project).resolve())
    return 0


def _relabel(args: argparse.Namespace) -> int:
    from mkepipe.service import relabel

    params = load_params(args.params)
    if args.experiment:
        params = params.model_copy(update={"experiment": get_spec(args.experiment).name})
    out = relabel(Path(args.project), params, lambda pct, msg: print(f"{pct:3.0f}% {msg}"))
    print(f"relabel {params.experiment}: {out.status}, round {out.round}, {out.labeled} labeled, "
          f"{out.quarantined} quarantined" + (f", {out.decision.verdict}" if out.decision else ""))
    return 0


def _notify(args: argparse.Namespace) -> int:
    """Trigger relabel/<experiment> now: a flow run created through the API, not waited for."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        print("mke notify: no Prefect API: set PREFECT_HOME to the project's .prefect (what `make serve` "
              "writes) or PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)", file=sys.stderr)
        return 2
    from prefect.deployments import run_deployment

    experiment = args.experiment or load_params(args.params).experiment
    run = run_deployment(f"relabel/{experiment}", timeout=0, as_subflow=False, tags=["notify"])
    print(f"triggered relabel/{experiment}: flow run {run.name} ({run.id})")
    return 0


def _add_stage_parsers(sub: argparse._SubParsersAction) -> None:
    from mkepipe.stages import STAGES

    stage = sub.add_parser("stage", help="run one pipeline stage (called by dvc.yaml)")
    ssub = stage.add_subparsers(dest="stage", required=True)
    for s in STAGES:
        p = ssub.add_parser(s.name, help=s.help, description=s.help)
        for a in s.args:
            p.add_argument(f"--{a.name.replace('_', '-')}", dest=a.name, type=a.type, required=a.required,
                           help=f"{a.help} (dvc.yaml: {a.dvc})")
        p.set_defaults(func=_stage)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mke", description="Multimodal Knowledge Expansion pipeline")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_stage_parsers(sub)

    p = sub.add_parser("pipeline", help="print dvc.yaml as derived from the stage list (--write, --check)")
    p.add_argument("--write", action="store_true", help="write dvc.yaml and link experiments/<name> to each "
                                                        "experiment's code")
    p.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is not what the stage list gives")
    p.add_argument("--project", default=".", help="project directory")
    p.set_defaults(func=_pipeline)

    tables = [name for name, spec in specs().items() if spec.reproduce]
    p = sub.add_parser("reproduce", help="run an experiment's paper table and compare with the paper")
    p.add_argument("experiment", choices=tables)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--protocol", default=None, help="the experiment's protocol variant (TwoMoon: authors | per-seed)")
    p.add_argument("--out", type=Path, default=None, help="default: reports/<experiment>")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("show", help="print the metrics of the last pipeline run")
    p.add_argument("--reports", default="reports")
    p.set_defaults(func=_show)

    sub.add_parser("experiments", help="list the registered experiments").set_defaults(func=_experiments)

    p = sub.add_parser("serve", help="serve every experiment as Prefect deployment mke/<name>, and relabel/<name> "
                                     "for those with an inbox")
    p.add_argument("--project", default=".", help="project directory the flows run in (fixed for the service)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("relabel", help="run one relabel round now, without Prefect (docs/service.md)")
    p.add_argument("--experiment", default=None, help="default: the experiment named in params.yaml")
    p.add_argument("--project", default=".", help="project directory")
    p.set_defaults(func=_relabel)

    p = sub.add_parser("notify", help="new sensor data arrived: trigger the relabel/<experiment> deployment now")
    p.add_argument("--experiment", default=None, help="default: the experiment named in params.yaml")
    p.set_defaults(func=_notify)

    from mkepipe.labels import cli as labels_cli

    labels_cli.add_parser(sub)
    for spec in specs().values():
        if spec.cli:
            load_object(spec.cli)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or bool(os.environ.get("MKE_DEBUG"))
    try:
        args = build_parser().parse_args(argv)
        if args.command == "stage":
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
        return int(args.func(args) or 0)
    except ConfigError as err:
        if debug:
            raise
        print(f"mke: invalid configuration\n{err}", file=sys.stderr)
        return 2
    except (RegistryError, FileNotFoundError, ValueError, KeyError, OSError, ArithmeticError, RuntimeError) as err:
        if debug:
            raise
        print(f"mke: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
