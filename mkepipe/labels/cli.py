"""``mke labels list|show|verify|diff``: inspect label generations (rich tables or ``--json``).

Wire into a parent parser with ``add_parser(subparsers)`` and call ``args.func(args)``;
``python -m mkepipe.labels.cli ...`` runs it standalone. Exit codes: 0 ok, 1 any failure
(damaged or incomplete generation, not found, ambiguous, unreadable), printed as one
line ``mke labels: error: ...`` on stderr, never a traceback; 2 usage errors (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ._format import DamagedGenerationError, LabelStoreError
from .generation import Generation
from .quality import compare
from .store import scan

MAX_CLASS_ROWS = 40
WORDS = {  # how the quality and diff tables name the family's quantities
    "simplex": {"entropy": "entropy/log K", "hist": "pseudo-label frac", "flip": "argmax flip rate",
                "kl": "mean KL(a||b)"},
    "bernoulli": {"entropy": "binary entropy/log 2", "hist": "positive rate", "flip": "bit flip rate",
                  "kl": "mean binary KL(a||b)"},
}


def add_parser(subparsers) -> None:
    """Add the ``labels`` command (with list/show/verify/diff) to an argparse subparsers object."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default="labels", help="directory searched for generations (default: labels)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    labels = subparsers.add_parser("labels", help="inspect pseudo-label generations")
    sub = labels.add_subparsers(dest="labels_command", metavar="{list,show,verify,diff}", required=True)
    sub.add_parser("list", parents=[common], help="list generations below --root").set_defaults(func=cmd_list)
    show = sub.add_parser("show", parents=[common], help="manifest and label quality of a generation")
    show.add_argument("gen", help="generation id (under --root) or directory")
    show.set_defaults(func=cmd_show)
    verify = sub.add_parser("verify", parents=[common], help="check every shard checksum (exit 1 on damage)")
    verify.add_argument("gen", help="generation id (under --root) or directory")
    verify.add_argument("--no-parents", action="store_true", help="do not verify the parent chain")
    verify.set_defaults(func=cmd_verify)
    diff = sub.add_parser("diff", parents=[common], help="flip rate, KL and class shift between generations")
    diff.add_argument("gen_a")
    diff.add_argument("gen_b")
    diff.add_argument("--max-samples", type=int, default=None, help="compare at most this many common ids")
    diff.set_defaults(func=cmd_diff)


def resolve(gen: str, root: str) -> Generation:
    """A generation from a directory path, or from an id (or unique id prefix) below ``root``."""
    path = Path(gen)
    if path.is_dir():
        return Generation(path)
    matches = [e for e in (scan(root) if Path(root).is_dir() else []) if e["path"].name.startswith(gen)]
    exact = [e for e in matches if e["path"].name == gen]
    matches = exact or matches
    if not matches:
        raise LookupError(f"no generation {gen!r} below {root!r}")
    if len(matches) > 1:
        raise LookupError(f"{gen!r} is ambiguous below {root!r}: {[str(e['path']) for e in matches]}")
    return Generation(matches[0]["path"])


def _console():
    from rich.console import Console
    return Console(width=None if sys.stdout.isatty() else 200)  # pipes/logs get unwrapped tables


def _table(title: str, columns: list[str]):
    from rich.table import Table
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def _emit_json(obj) -> None:
    print(json.dumps(obj, indent=1, sort_keys=True, default=str))


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.2f} MB"


def _summary(gen: Generation) -> dict:
    m = gen.manifest
    return {"id": gen.id, "path": str(gen.path), "family": gen.family, "kind": gen.kind,
            "num_classes": gen.num_classes,
            "encoding": m["encoding"], "shape": m["shape"], "samples": m["samples"],
            "samples_total": m["samples_total"], "shards": len(m["shards"]),
            "bytes": sum(s["bytes"] for s in m["shards"]), "parent": (m["parent"] or {}).get("id"),
            "created_at": m["created_at"], "teacher_hash": m["teacher_hash"], "dataset_hash": m["dataset_hash"]}


FAILURES = (LabelStoreError, LookupError, OSError, ValueError, TypeError)  # all a bad store can raise


def _guard(func):
    """Turn every failure into one ``mke labels: error: ...`` line on stderr and exit code 1
    (with ``--json``, a damaged generation is also reported as JSON on stdout)."""
    def run(args) -> int:
        try:
            return func(args)
        except FAILURES as exc:
            if args.json and isinstance(exc, DamagedGenerationError):
                _emit_json({"ok": False, "file": str(exc.path), "reason": exc.reason})
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"mke labels: error: {message}", file=sys.stderr)
            return 1
    run.__name__ = func.__name__
    return run


@_guard
def cmd_list(args) -> int:
    entries = scan(args.root) if Path(args.root).is_dir() else []
    rows = [dict(_summary(e["generation"]), status="complete") if e["status"] == "complete"
            else {"path": str(e["path"]), "id": e["path"].name, "status": e["status"], "error": e["error"]}
            for e in entries]
    if args.json:
        _emit_json(rows)
        return 0
    table = _table(f"label generations below {args.root}", ["id", "status", "family", "kind", "K", "encoding",
                                                            "samples", "shards", "size", "parent", "created",
                                                            "path"])
    for r in rows:
        ok = r["status"] == "complete"
        table.add_row(r["id"], r["status"] if ok else f"[red]{r['status']}[/red]", r.get("family", ""),
                      r.get("kind", ""), str(r.get("num_classes", "")), r.get("encoding", ""),
                      f"{r['samples']}/{r['samples_total']}" if ok else "", str(r.get("shards", "")),
                      _mb(r["bytes"]) if ok else "", r.get("parent") or "", r.get("created_at", ""),
                      os.path.relpath(r["path"]))
    _console().print(table)
    return 0


@_guard
def cmd_show(args) -> int:
    gen = resolve(args.gen, args.root)
    if args.json:
        _emit_json(dict(gen.manifest, path=str(gen.path)))
        return 0
    console = _console()
    info = _table(f"generation {gen.id}", ["field", "value"])
    for key, value in _summary(gen).items():
        info.add_row(key, str(value))
    info.add_row("params", json.dumps(gen.manifest["params"], sort_keys=True))
    console.print(info)
    for label, block in (("own samples", gen.manifest["quality"]),
                         ("with parent", gen.manifest.get("quality_total"))):
        if block:
            _print_quality(console, f"quality ({label})", block["summary"], WORDS[gen.family])
    return 0


def _print_quality(console, title: str, q: dict, words: dict) -> None:
    head = _table(title, ["units", "mean confidence", f"mean {words['entropy']}", "mean weight",
                          f"frac conf < {q['confidence_threshold']}", "prior TV", "prior KL"])
    head.add_row(str(q["units"]), f"{q['mean_confidence']:.4f}", f"{q['mean_entropy']:.4f}",
                 f"{q['mean_weight']:.4f}", f"{q['frac_below_threshold']:.4f}",
                 str(q.get("prior_tv", "-")), str(q.get("prior_kl", "-")))
    console.print(head)
    classes = _table("class histogram vs labeled-set prior", ["class", words["hist"], "prior", "ratio"])
    order = sorted(range(len(q["class_hist"])), key=lambda c: -q["class_hist"][c])[:MAX_CLASS_ROWS]
    for c in order:
        prior = q.get("class_prior")
        classes.add_row(str(c), f"{q['class_hist'][c]:.4f}", f"{prior[c]:.4f}" if prior else "-",
                        f"{q['prior_ratio'][c]:.3f}" if prior else "-")
    console.print(classes)
    bins = q["hist_bins"]
    ent = _table(f"{words['entropy']} histogram", ["bin", "fraction", ""])
    for i, frac in enumerate(q["entropy_hist"]):
        ent.add_row(f"[{i / bins:.2f}, {(i + 1) / bins:.2f})", f"{frac:.4f}", "#" * round(40 * frac))
    console.print(ent)


@_guard
def cmd_verify(args) -> int:
    gen = resolve(args.gen, args.root)
    report = gen.verify(parents=not args.no_parents)
    if args.json:
        _emit_json(report)
        return 0
    rate = report["bytes"] / 1e6 / max(report["seconds"], 1e-9)
    print(f"OK {gen.id}: {report['shards']} shards, {report['samples']} samples, {_mb(report['bytes'])} "
          f"verified ({rate:.0f} MB/s){' + parents' if report.get('parent') else ''}")
    if report["stray_files"]:
        print(f"note: stray temporary files (ignored): {report['stray_files']}")
    return 0


@_guard
def cmd_diff(args) -> int:
    a, b = resolve(args.gen_a, args.root), resolve(args.gen_b, args.root)
    result = compare(a, b, max_samples=args.max_samples)
    if args.json:
        _emit_json(result)
        return 0
    console = _console()
    words = WORDS[result["family"]]
    head = _table(f"{a.id} -> {b.id}", ["common samples", "only in a", "only in b", "units", words["flip"],
                                        words["kl"]])
    head.add_row(str(result["common_samples"]), str(result["only_in_a"]), str(result["only_in_b"]),
                 str(result["units"]), f"{result['flip_rate']:.4f}",
                 "-" if result["mean_kl"] is None else f"{result['mean_kl']:.5f}")
    console.print(head)
    shift = _table(f"per-class shift ({words['hist']})", ["class", "a", "b", "b - a"])
    order = sorted(range(len(result["class_shift"])), key=lambda c: -abs(result["class_shift"][c]))
    for c in order[:MAX_CLASS_ROWS]:
        shift.add_row(str(c), f"{result['class_frac_a'][c]:.4f}", f"{result['class_frac_b'][c]:.4f}",
                      f"{result['class_shift'][c]:+.4f}")
    console.print(shift)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mke")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
