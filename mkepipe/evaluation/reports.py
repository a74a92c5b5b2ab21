"""Report writers: JSON/CSV for DVC and scripts, Markdown for people."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

from mkepipe.fileio import atomic_write, atomic_write_text


def write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Rows of dicts with the same keys (e.g. a training history for ``dvc plots``)."""
    fields = list(rows[0]) if rows else []

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    return atomic_write(path, write)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
