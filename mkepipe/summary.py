"""Human-facing results tables (rich in the terminal, Markdown in files)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from mkepipe.config import Params
from mkepipe.evaluation.reports import markdown_table

LABELS = {"teacher": "UM teacher", "um_student": "UM student", "noisy_student": "NOISY student",
          "mm_student_noreg": "MM student (no reg)", "mm_student": "MM student",
          "mm_student-hard": "MM student, hard labels", "mm_student-weighted": "MM student, weighted labels",
          "mm_student_sup": "MM student (sup)"}


EXPANSION_ROWS = (("correction_rate", "correction rate (D_u)"), ("corruption_rate", "corruption rate (D_u)"),
                  ("disagreement_rate", "disagrees with labels"))


def read_round_reports(report_dir: Path) -> list[tuple[int, dict[str, Any]]]:
    """(round id, metrics.json) of every ``round<N>/`` under ``report_dir`` in round
    order, with the promote stage's decision under ``"promotion"`` where it ran. Reads
    JSON only (no torch), so the Prefect flow can publish with it."""
    rows = []
    for path in Path(report_dir).glob("round*/metrics.json"):
        rid = path.parent.name.removeprefix("round")
        if not rid.isdigit():
            continue
        metrics = json.loads(path.read_text())
        decision = path.with_name("promotion.json")
        if decision.exists():
            metrics["promotion"] = json.loads(decision.read_text())
        rows.append((int(rid), metrics))
    return sorted(rows, key=lambda row: row[0])


def headline(metrics: dict[str, Any]) -> str:
    """The headline metric's name in a round's metrics.json (``teacher_<name>`` in reports
    written before the name was recorded)."""
    return metrics.get("metric") or next(k.removeprefix("teacher_") for k in metrics if k.startswith("teacher_"))


def round_rows(report_dir: Path, params: Params) -> list[tuple[int, dict[str, Any]]]:
    """:func:`read_round_reports` for the rounds ``params`` defines."""
    ids = {r.id for r in params.rounds}
    return [(rid, metrics) for rid, metrics in read_round_reports(report_dir) if rid in ids]


def print_summary(report_dir: Path, params: Params, console: Console | None = None) -> int:
    """Print every round's teacher (round 1: the UM teacher; later: what the previous
    round promoted), pseudo-label and method scores on test, the validation scores the
    promotion decided on, the student's expansion diagnostics and the promotion verdict,
    one column per round so the table fits an 80-column terminal, then each round's
    expansion verdict; 1 if no round ran yet."""
    console = console or Console()
    rows = round_rows(report_dir, params)
    if not rows:
        console.print(f"[red]no metrics under {report_dir}: run the pipeline first[/red]")
        return 1
    metric = headline(rows[-1][1])
    found = {m for _, r in rows for m in r.get("methods", {})}
    methods = [m for m in LABELS if m in found and m != "teacher"] + sorted(found - set(LABELS))
    table = Table(title=f"{params.experiment}: test {metric} (%)")
    table.add_column("model")
    for rid, _ in rows:
        table.add_column(f"round {rid}", justify="right")

    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    table.add_row("teacher", *(fmt(r[f"teacher_{metric}"]) for _, r in rows))
    table.add_row("pseudo labels (D_u)", *(fmt(r.get(f"pseudo_label_{metric}")) for _, r in rows))
    for m in methods:
        table.add_row(LABELS.get(m, m), *(fmt(r.get("methods", {}).get(m)) for _, r in rows))
    table.add_section()
    table.add_row(f"teacher, val {metric}", *(fmt(r.get(f"teacher_{metric}_val")) for _, r in rows))
    table.add_row(f"student, val {metric}", *(fmt(r.get(f"student_{metric}_val")) for _, r in rows))
    for key, label in EXPANSION_ROWS:
        if any(key in r for _, r in rows):
            table.add_row(label, *(fmt(r.get(key)) for _, r in rows))
    if any("promotion" in r for _, r in rows):
        table.add_row("promotion (on val)", *(r["promotion"]["verdict"] if "promotion" in r else "–"
                                              for _, r in rows))
    console.print(table)
    for rid, r in rows:
        diag = r.get("expansion", {}).get(r.get("student_method"))
        if diag:
            console.print(f"round {rid}: {diag['verdict']}")
    return 0


def _cell(rows: Sequence[dict], pert: str, strength: float, method: str) -> dict:
    return next(r for r in rows if r["perturbation"] == pert and r["strength"] == strength and r["method"] == method)


def _grid(rows: Sequence[dict]):
    for pert in ("T1", "T2", "T3"):
        for strength in sorted({r["strength"] for r in rows if r["perturbation"] == pert}):
            yield pert, strength, [_cell(rows, pert, strength, m) for m in ("um_student", "mm_student", "mm_student_sup")]


def _fmt(r: dict, short: bool = False) -> str:
    """``mean ± std (paper)``, then the runs that collapsed to one class, if any."""
    measured, paper, collapsed = f"{r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f}", f"{r['paper']:.2f}", \
        r.get("collapsed_runs", 0)
    if short:
        return f"{measured} ({paper})" + (f" {collapsed}c" if collapsed else "")
    return f"{measured} ({paper}" + (f", {collapsed} collapsed" if collapsed else "") + ")"


def _seed_list(seeds: Sequence[int]) -> str:
    distinct = sorted(set(seeds))
    return str(distinct[0]) if len(distinct) == 1 else ", ".join(map(str, seeds))


def table1_protocol(rows: Sequence[dict]) -> str:
    """One sentence: the protocol, the teacher seed(s) and the student seeds of the runs."""
    teacher = _cell(rows, "none", 0.0, "teacher")
    runs, protocol = len(teacher["seeds"]), teacher.get("protocol", "per-seed")
    teachers = teacher.get("teacher_seeds", teacher["seeds"])
    one = len(set(teachers)) == 1
    kind = f"one teacher (seed {teachers[0]})" if one else f"one teacher per run (seeds {_seed_list(teachers)})"
    return (f"{protocol} protocol, {runs} runs: {kind}; student seeds {_seed_list(teacher['seeds'])}"
            + (" (the authors' notebook: random.seed(42), randint(0, 100) per run)" if protocol == "authors" else ""))


_PER_RUN_METHODS = {"um_student": "UM", "mm_student": "MM", "mm_student_sup": "MM (sup)"}


def table1_markdown(rows: Sequence[dict]) -> str:
    """``table1.md``: the protocol, mean ± std (paper, collapsed runs) per cell, then every
    run's value."""
    teacher = _cell(rows, "none", 0.0, "teacher")
    body = [[pert, f"{strength:g}", *(_fmt(c) for c in cells)] for pert, strength, cells in _grid(rows)]
    seeds = teacher["seeds"]
    runs = [f"{i + 1} ({s})" for i, s in enumerate(seeds)]
    per_run = [["teacher", "", "", *(f"{a:.1f}" for a in teacher["accuracy_per_seed"])]]
    if "pseudo_label_accuracy_per_seed" in teacher:
        labels = teacher["pseudo_label_accuracy_per_seed"]
        per_run.append(["pseudo labels (D_u)", "", "", *(f"{a:.1f}" for a in labels)])
    for pert, strength, cells in _grid(rows):
        for c in cells:
            per_run.append([pert, f"{strength:g}", _PER_RUN_METHODS[c["method"]],
                            *(f"{a:.1f}" for a in c["accuracy_per_seed"])])
    return (f"# TwoMoon, paper Table 1 — ours (paper), test accuracy %, mean ± std over {len(seeds)} runs\n\n"
            f"Runs: {table1_protocol(rows)}. \"collapsed\": runs that predict one class for "
            "the whole test set.\n\n"
            f"UM teacher: {_fmt(teacher)}\n\n"
            + markdown_table(["perturbation", "strength", "UM student", "MM student", "MM student (sup)"], body)
            + "\n## Every run (run (student seed))\n\n"
            + markdown_table(["T", "strength", "model", *runs], per_run))


def print_table1(rows: Sequence[dict], console: Console | None = None) -> None:
    console = console or Console()
    teacher = _cell(rows, "none", 0.0, "teacher")
    table = Table(title=f"TwoMoon Table 1 — ours (paper), {len(teacher['seeds'])} runs; "
                        f"UM teacher {_fmt(teacher, short=True)}",
                  caption=f"{table1_protocol(rows)}; Nc: N runs predict one class for the whole test set")
    for col in ("T", "strength", "UM student", "MM student", "MM student (sup)"):
        table.add_column(col, justify="right")
    for pert, strength, cells in _grid(rows):
        table.add_row(pert, f"{strength:g}", *(_fmt(c, short=True) for c in cells))
    console.print(table)
