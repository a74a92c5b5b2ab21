import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mkepipe.cli import main
from mkepipe.config import load_params
from mkepipe.experiments.twomoon import reproduce as rep
from mkepipe.experiments.twomoon.reproduce import GRID, METHODS, PAPER_TABLE1

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_SEEDS = [81, 14, 3, 94, 35, 31, 28, 17, 94, 13]  # random.seed(42); randint(0, 100) × 10


@pytest.fixture
def tiny_params(tmp_path: Path) -> Path:
    """The project's params with TwoMoon trained for a few epochs only."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["experiment"] = "twomoon"
    params["teacher"]["twomoon"]["epochs"] = 20
    params["student"]["twomoon"]["epochs"] = 5
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _reproduce(tmp_path: Path, params: Path, *args: str) -> list[dict]:
    out = tmp_path / "out"
    assert main(["--params", str(params), "reproduce", "twomoon", "--workers", "2", "--out", str(out), *args]) == 0
    return json.loads((out / "table1.json").read_text())


def test_authors_student_seeds_are_the_notebooks():
    assert rep.authors_student_seeds(10) == NOTEBOOK_SEEDS


def test_authors_protocol_one_teacher_and_the_notebooks_student_seeds(tmp_path, tiny_params, capsys):
    rows = _reproduce(tmp_path, tiny_params, "--seeds", "3")
    assert len(rows) == 1 + sum(len(s) for _, s in GRID.values()) * len(METHODS)
    teacher = rows[0]
    for row in rows:
        assert row["protocol"] == "authors"
        assert row["seeds"] == NOTEBOOK_SEEDS[:3] and row["teacher_seeds"] == [39, 39, 39]
        assert len(row["accuracy_per_seed"]) == 3 and 0 <= row["collapsed_runs"] <= 3
        assert row["accuracy_mean"] == pytest.approx(np.mean(row["accuracy_per_seed"]), abs=0.01)
    assert len(set(teacher["accuracy_per_seed"])) == 1  # one teacher, so one teacher accuracy
    assert len(set(teacher["pseudo_label_accuracy_per_seed"])) == 1
    t1 = next(r for r in rows if r["perturbation"] == "T1" and r["strength"] == 2.0 and r["method"] == "mm_student")
    assert t1["paper"] == PAPER_TABLE1["T1"]["mm_student"][2]
    md = (tmp_path / "out" / "table1.md").read_text()
    assert "| T1 | 2 |" in md and "authors protocol" in md and "one teacher (seed 39)" in md
    assert "81, 14, 3" in md and "| 1 (81) |" in md
    assert (tmp_path / "out" / "fig3_boundaries.png").stat().st_size > 20_000
    out = capsys.readouterr().out
    assert "MM student" in out and "seed 39" in out


def test_per_seed_protocol_trains_one_teacher_per_seed(tmp_path, tiny_params):
    rows = _reproduce(tmp_path, tiny_params, "--seeds", "2", "--protocol", "per-seed")
    for row in rows:
        assert row["protocol"] == "per-seed"
        assert row["seeds"] == [0, 1] and row["teacher_seeds"] == [0, 1]
    assert "one teacher per run" in (tmp_path / "out" / "table1.md").read_text()


def test_runs_share_the_teacher_of_one_seed_and_flag_collapse(tmp_path, tiny_params, monkeypatch):
    import mkepipe.training.runs as runs

    trained = []
    real = runs.train_teacher
    monkeypatch.setattr(runs, "train_teacher", lambda *a, **k: trained.append(k["seed"]) or real(*a, **k))
    params = load_params(tiny_params)
    first = rep.run_seed(params, 81, str(tmp_path), teacher_seed=39)
    second = rep.run_seed(params, 14, str(tmp_path), teacher_seed=39)
    assert trained == [39]  # the second run loads the first run's teacher
    assert first["cells"]["teacher"] == second["cells"]["teacher"]
    from mkepipe.experiments.twomoon.data import make_splits

    y = make_splits(params.active("prepare"))["test"].y
    one_class = {round(100 * float(np.mean(y == k)), 2) for k in (0, 1)}
    for res in (first, second):
        assert set(res["collapsed"]) == set(res["cells"])
        for key, collapsed in res["collapsed"].items():
            if collapsed:  # one class for every test point scores that class's share
                assert round(res["cells"][key], 2) in one_class
