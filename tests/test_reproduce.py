import json

from mkepipe.cli import main
from mkepipe.experiments.twomoon.reproduce import GRID, METHODS, PAPER_TABLE1


def test_reproduce_writes_table1_json_markdown_and_figure(tmp_path, capsys):
    assert main(["reproduce", "twomoon", "--seeds", "2", "--workers", "2", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "table1.json").read_text())
    assert len(rows) == 1 + sum(len(s) for _, s in GRID.values()) * len(METHODS)
    for row in rows:
        assert {"perturbation", "strength", "method", "accuracy_mean", "accuracy_std", "seeds"} <= set(row)
        assert row["seeds"] == [0, 1] and 0 <= row["accuracy_mean"] <= 100
    t1 = next(r for r in rows if r["perturbation"] == "T1" and r["strength"] == 2.0 and r["method"] == "mm_student")
    assert t1["paper"] == PAPER_TABLE1["T1"]["mm_student"][2]
    assert "| T1 | 2 |" in (tmp_path / "table1.md").read_text()
    assert (tmp_path / "fig3_boundaries.png").stat().st_size > 20_000
    assert "MM student" in capsys.readouterr().out
