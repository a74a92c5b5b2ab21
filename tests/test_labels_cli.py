"""`mke labels list|show|verify|diff` through a tiny argparse parser (as mkepipe.cli wires it)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from mkepipe.labels import LabelStore
from mkepipe.labels import cli as labels_cli
from tests._label_writer_proc import class_probs


def mke(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mke")
    labels_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def root(tmp_path):
    store = LabelStore(tmp_path / "labels" / "twomoon" / "round1")
    ids = [f"s{i}" for i in range(40)]
    a = store.write(ids, class_probs, kind="soft", num_classes=3, teacher_hash="t", dataset_hash="d",
                    class_prior=[0.3, 0.3, 0.4], progress=False)
    store.write(ids, lambda b: class_probs(b, scale=0.5), kind="soft", num_classes=3, teacher_hash="t2",
                dataset_hash="d", parent=None, progress=False)
    child = store.write(ids + ["new1", "new2"], class_probs, kind="soft", num_classes=3, teacher_hash="t",
                        dataset_hash="d2", parent=a, progress=False)
    (store.root / "soft-incomplete").mkdir()
    (store.root / "soft-incomplete" / "shard-00000.lbl").write_bytes(b"partial")
    return tmp_path / "labels", a, child


def test_list(root, capsys):
    top, a, child = root
    assert mke("labels", "list", "--root", str(top), "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    by_status = {r["id"]: r["status"] for r in rows}
    assert by_status[a.id] == "complete" and by_status["soft-incomplete"] == "incomplete"
    assert len(rows) == 4
    assert next(r for r in rows if r["id"] == child.id)["parent"] == a.id
    assert mke("labels", "list", "--root", str(top)) == 0
    out = capsys.readouterr().out
    assert a.id in out and "incomplete" in out


def test_show(root, capsys):
    top, a, child = root
    assert mke("labels", "show", a.id[:12], "--root", str(top), "--json") == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["id"] == a.id and "prior_ratio" in manifest["quality"]["summary"]
    assert mke("labels", "show", str(child.path), "--root", str(top)) == 0
    out = capsys.readouterr().out
    assert "mean confidence" in out and "entropy" in out and "with parent" in out


def test_verify_and_exit_codes(root, capsys):
    top, a, child = root
    assert mke("labels", "verify", child.id, "--root", str(top)) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert mke("labels", "verify", "soft-incomplete", "--root", str(top)) == 1
    assert "manifest.json" in capsys.readouterr().err
    assert mke("labels", "verify", "does-not-exist", "--root", str(top)) == 1
    assert "no generation 'does-not-exist'" in capsys.readouterr().err
    assert mke("labels", "verify", "soft-", "--root", str(top)) == 1
    assert "ambiguous" in capsys.readouterr().err


def test_diff(root, capsys):
    top, a, child = root
    other = [g for g in LabelStore(a.path.parent).list() if g.id not in (a.id, child.id)][0]
    assert mke("labels", "diff", a.id, other.id, "--root", str(top), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["common_samples"] == 40 and result["mean_kl"] > 0 and len(result["class_shift"]) == 3
    assert mke("labels", "diff", a.id, child.id, "--root", str(top)) == 0
    assert "flip rate" in capsys.readouterr().out


def test_module_entry_point(root):
    top, a, _ = root
    done = subprocess.run([sys.executable, "-m", "mkepipe.labels.cli", "labels", "verify", a.id,
                           "--root", str(top), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
