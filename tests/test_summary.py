"""`mke show`: one row per model, one column per round, readable in an 80-column terminal."""
import json

import yaml
from rich.console import Console

from mkepipe.config import parse_params
from mkepipe.summary import print_summary, read_round_reports, round_rows
from tests.conftest import ROOT


def _params():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["experiment"] = "nyu"
    return parse_params(raw, str(ROOT / "params.yaml"))


def _write_round(reports, rid, methods, quality, verdict=None):
    d = reports / f"round{rid}"
    d.mkdir(parents=True)
    d.joinpath("metrics.json").write_text(json.dumps(
        {"teacher_miou": 31.5, "pseudo_label_miou": quality, "methods": methods}))
    if verdict:
        d.joinpath("promotion.json").write_text(json.dumps({"verdict": verdict}))


def test_show_transposes_and_fits_80_columns(tmp_path):
    reports = tmp_path / "nyu"
    round1 = {"um_student": 26.8, "noisy_student": 26.8, "mm_student_noreg": 31.18, "mm_student": 28.81,
              "mm_student-hard": 29.47, "mm_student_sup": 45.36}
    _write_round(reports, 1, round1, 28.21, verdict="kept teacher")
    _write_round(reports, 2, {"mm_student": 23.52}, None)
    console = Console(width=80, record=True)
    assert print_summary(reports, _params(), console) == 0
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    row = next(line for line in lines if "MM student, hard labels" in line)
    assert "29.47" in row and "–" in row  # round 2 trained no ablation
    row = next(line for line in lines if "pseudo labels (D_u)" in line)
    assert "28.21" in row and "–" in row  # round 2 had no D_u truth
    row = next(line for line in lines if line.startswith("│ promotion"))
    assert "kept teacher" in row and "–" in row  # round 2's promote stage has not run
    names = [line.split("│")[1].strip() for line in lines if line.count("│") >= 3]
    assert names[:3] == ["teacher", "pseudo labels (D_u)", "UM student"]


def test_show_without_runs_says_so(tmp_path):
    console = Console(width=80, record=True)
    assert print_summary(tmp_path / "nyu", _params(), console) == 1
    assert "run the pipeline first" in " ".join(console.export_text().split())


def test_round_reports_in_numeric_order_with_their_decisions(tmp_path):
    for rid in (10, 2, 1):
        _write_round(tmp_path, rid, {"mm_student": float(rid)}, None, verdict="promoted" if rid == 1 else None)
    (tmp_path / "roundabout").mkdir()
    rows = read_round_reports(tmp_path)
    assert [rid for rid, _ in rows] == [1, 2, 10]
    assert rows[0][1]["promotion"] == {"verdict": "promoted"} and "promotion" not in rows[1][1]
    assert [rid for rid, _ in round_rows(tmp_path, _params())] == [1, 2]  # params.yaml defines rounds 1 and 2
