"""The Markdown report of a relabel round: paper-shaped tables, what was ingested and
quarantined, the label lineage and the promotion decision."""
from __future__ import annotations

from typing import Any, Iterable

from mkepipe.labels import Generation
from mkepipe.promotion import Decision
from mkepipe.service.ingest import Ingested
from mkepipe.service.state import Layout, ServiceState

METHOD_NAMES = {"teacher": "UM teacher", "um_student": "UM student", "noisy_student": "NOISY student",
                "mm_student_noreg": "MM student (no reg)", "mm_student": "MM student (ours)",
                "mm_student_sup": "MM student (sup)", "pseudo_labels": "pseudo labels (on D_u)"}


def markdown_table(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    if not rows:
        return "(none)"
    header = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r.get(h, "")) for h in header) + " |" for r in rows]
    return "\n".join(lines)


def method_rows(metrics: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    """One row per model, in the paper's order (Table 3 shape)."""
    details = metrics["details"]
    order = [m for m in METHOD_NAMES if m in details] + [m for m in details if m not in METHOD_NAMES]
    return [{"method": METHOD_NAMES.get(m, m), metric: round(float(details[m][metric]), 2)} for m in order]


def expansion_lines(metrics: dict[str, Any]) -> list[str]:
    """The student's expansion diagnostics (:mod:`mkepipe.evaluation.expansion`) as Markdown lines."""
    diag = metrics["expansion"][metrics["student_method"]]
    keys = ("correction_rate", "corruption_rate", "disagreement_rate", "teacher_confidence_where_disagree",
            "teacher_confidence_where_agree")
    return [f"**{diag['verdict']}**", ""] + [f"- {k.replace('_', ' ')}: {diag[k]:.2f} %" for k in keys if k in diag]


def round_report(new: ServiceState, prev: ServiceState, gen: Generation, ingested: Ingested,
                 metrics: dict[str, Any], decision: Decision, metric: str, layout: Layout) -> str:
    n = new.round
    quarantined = [{"sample": e.id, "reason": e.reason, "detail": e.detail} for e in ingested.quarantine.entries]
    figures = sorted(p.name for p in layout.reports(n).glob("*.png"))
    parent = gen.manifest["parent"]["id"] if gen.manifest.get("parent") else "none"
    lines = [
        f"# Relabel round {n} ({new.experiment})", "",
        f"**Promotion decision: {decision.verdict}.** Current teacher: `{new.teacher}`.", "",
        *[f"- {r}" for r in decision.reasons], "",
        f"## Test {metric} (paper Table 3 shape)", "", markdown_table(method_rows(metrics, metric)), "",
        "## Expansion on D_u", "", *expansion_lines(metrics), "",
        "## Rounds", "", markdown_table(new.history), "",
        "## Data", "",
        f"- dataset version `{new.dataset}` (previous `{prev.dataset}`): "
        f"{len(ingested.added)} new samples ingested, {len(quarantined)} quarantined",
        f"- label generation `{gen.id}`, parent `{parent}`: {gen.manifest['samples']} samples labeled by "
        f"`{prev.teacher}`, {gen.manifest['samples_total']} in total", "",
        "### Quarantined", "", markdown_table(quarantined), "",
        "## Figures", "", *[f"- [{f}]({f})" for f in figures], "",
    ]
    return "\n".join(lines)
