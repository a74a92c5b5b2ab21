"""A manifest is not trusted: shard paths, parents, edited and malformed fields are refused."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import pytest

from mkepipe.labels import DamagedGenerationError, Generation, LabelStore, LabelStoreError
from mkepipe.labels import cli as labels_cli
from tests._label_writer_proc import class_probs

IDS = [f"c{i:03d}" for i in range(30)]


def write(store, ids=IDS, **kw):
    kw = {"kind": "soft", "num_classes": 3, "teacher_hash": "t", "dataset_hash": "d", "shard_size": 10,
          "progress": False, **kw}
    return store.write(ids, lambda b: class_probs(b, k=kw["num_classes"]), **kw)


def edit_manifest(gen_path, edit) -> None:
    path = gen_path / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n")


def set_field(gen_path, field, value) -> None:
    edit_manifest(gen_path, lambda m: m.__setitem__(field, value))


def mke(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mke")
    labels_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mke labels: error: "), err
    return lines[0]


@pytest.fixture
def gen(tmp_path):
    return write(LabelStore(tmp_path / "labels" / "round0001"))


@pytest.mark.parametrize("target", ["relative", "absolute", "etc-relative", "etc-absolute"])
def test_shard_file_outside_the_generation_is_refused(gen, tmp_path, target):
    outside = tmp_path / "outside.lbl"
    shutil.copyfile(gen.path / "shard-00001.lbl", outside)  # same bytes: size and hashes would pass
    name = {"relative": os.path.relpath(outside, gen.path), "absolute": str(outside),
            "etc-relative": "../../../../etc/passwd", "etc-absolute": "/etc/passwd"}[target]
    edit_manifest(gen.path, lambda m: m["shards"][1].__setitem__("file", name))
    with pytest.raises(DamagedGenerationError, match=r"shards\[1\]\.file"):
        Generation(gen.path)


def test_shard_symlink_escaping_the_generation_is_refused(gen, tmp_path):
    outside = tmp_path / "outside.lbl"
    shutil.copyfile(gen.path / "shard-00001.lbl", outside)
    (gen.path / "shard-00001.lbl").unlink()
    (gen.path / "shard-00001.lbl").symlink_to(outside)
    with pytest.raises(DamagedGenerationError, match=r"shards\[1\]\.file"):
        Generation(gen.path)


def test_shard_entries_name_their_own_shard(gen):
    edit_manifest(gen.path, lambda m: m["shards"][1].__setitem__("file", "shard-00000.lbl"))
    with pytest.raises(DamagedGenerationError, match=r"shards\[1\]\.file"):
        Generation(gen.path)


@pytest.fixture
def rounds(tmp_path):
    """The relabel service's layout: one store per round, the child's parent one round back."""
    parent = write(LabelStore(tmp_path / "labels" / "round0001"))
    child = write(LabelStore(tmp_path / "labels" / "round0002"), IDS + ["new"], parent=parent, dataset_hash="d2")
    return parent, child


def test_parent_in_a_sibling_store_is_followed(rounds):
    parent, child = rounds
    assert child.manifest["parent"]["path"] == f"../../round0001/{parent.id}"
    assert Generation(child.path).parent.id == parent.id
    assert LabelStore(child.path.parent).open(child.id).verify()["parent"]["ok"]


def test_parent_outside_the_store_root_is_refused(rounds, tmp_path):
    parent, child = rounds
    with pytest.raises(DamagedGenerationError, match="parent"):
        Generation(child.path, root=child.path.parent)  # a narrower root excludes round0001
    moved = tmp_path / "elsewhere" / "round0001" / parent.id
    moved.parent.mkdir(parents=True)
    parent.path.rename(moved)
    edit_manifest(child.path, lambda m: m["parent"].__setitem__("path", os.path.relpath(moved, child.path)))
    with pytest.raises(DamagedGenerationError, match="parent"):
        Generation(child.path)
    with pytest.raises(DamagedGenerationError, match="parent"):
        LabelStore(child.path.parent).open(child.id)


def test_write_refuses_a_parent_its_child_could_not_find(rounds, tmp_path):
    parent, _ = rounds
    far = LabelStore(tmp_path / "elsewhere" / "deeper" / "round0003")
    with pytest.raises(LabelStoreError, match="outside"):
        write(far, IDS + ["x"], parent=parent)


def test_parent_must_hold_the_id_the_child_names(rounds):
    parent, child = rounds
    other = write(LabelStore(parent.path.parent), teacher_hash="t-other")
    shutil.rmtree(parent.path)
    shutil.copytree(other.path, parent.path)
    with pytest.raises(DamagedGenerationError, match="parent"):
        Generation(child.path)


EDITS = {
    "num_classes": 4,
    "kind": "weighted",
    "family": "bernoulli",
    "encoding": "sparse-q8",
    "teacher_hash": "t-edited",
    "dataset_hash": "d-edited",
    "params": {"T": 2},
    "id": "soft-0123456789abcdef",
    "samples": 29,
    "samples_total": 31,
    "shape": [2],
    "ids_sha256": "0" * 64,
}


@pytest.mark.parametrize("field", list(EDITS))
def test_edited_manifest_field_fails_verify(gen, field, capsys):
    assert mke("labels", "verify", str(gen.path)) == 0
    set_field(gen.path, field, EDITS[field])
    with pytest.raises(DamagedGenerationError, match=field):
        Generation(gen.path).verify()
    capsys.readouterr()
    assert mke("labels", "verify", str(gen.path)) == 1
    assert field in one_error_line(capsys)


def test_edited_parent_total_fails_verify(rounds):
    parent, child = rounds
    set_field(parent.path, "samples_total", 31)
    set_field(parent.path, "samples", 31)
    with pytest.raises(DamagedGenerationError, match="samples"):
        Generation(child.path).verify()


MALFORMED = [
    ("shards", ["shard-00000.lbl", "shard-00001.lbl", "shard-00002.lbl"]),
    ("shards", "shard-00000.lbl"),
    ("shards", [{"file": 0, "samples": 10, "bytes": 1, "sha256": "x", "index_sha256": "y"}]),
    ("num_classes", "3"),
    ("num_classes", True),
    ("shape", "10"),
    ("parent", "soft-0123456789abcdef"),
    ("parent", {"id": 5, "path": "x"}),
    ("samples", -1),
    ("kind", None),
    ("encoding", "zip"),
    ("params", []),
    ("quality", []),
]


@pytest.mark.parametrize("field,value", MALFORMED, ids=[f"{f}-{i}" for i, (f, _) in enumerate(MALFORMED)])
def test_malformed_manifest_field_is_refused(gen, field, value, capsys):
    set_field(gen.path, field, value)
    with pytest.raises(DamagedGenerationError, match=f"manifest field {field}"):
        Generation(gen.path)
    assert mke("labels", "show", str(gen.path)) == 1
    assert f"manifest field {field}" in one_error_line(capsys)


def test_missing_manifest_field_is_refused(gen):
    edit_manifest(gen.path, lambda m: m.pop("shards"))
    with pytest.raises(DamagedGenerationError, match="manifest field shards"):
        Generation(gen.path)


def test_cli_failures_are_one_line_and_exit_1(gen, tmp_path, capsys):
    root = str(tmp_path / "labels")
    write(LabelStore(tmp_path / "labels" / "k4"), num_classes=4, teacher_hash="k4")
    for argv in (["verify", "nope", "--root", root], ["show", "soft-", "--root", root],
                 ["diff", gen.id, "soft-", "--root", root]):
        capsys.readouterr()
        assert mke("labels", *argv) == 1
        one_error_line(capsys)
    k4 = LabelStore(tmp_path / "labels" / "k4").latest()
    assert mke("labels", "diff", gen.id, k4.id, "--root", root) == 1
    assert "class" in one_error_line(capsys)
    data = bytearray((gen.path / "shard-00002.lbl").read_bytes())
    data[20] ^= 0x5A
    (gen.path / "shard-00002.lbl").write_bytes(bytes(data))
    assert mke("labels", "verify", gen.id, "--root", root) == 1
    assert "shard-00002.lbl" in one_error_line(capsys)
    with pytest.raises(SystemExit) as usage:
        mke("labels", "verify")
    assert usage.value.code == 2


def test_cli_module_prints_no_traceback(gen):
    set_field(gen.path, "shards", ["shard-00000.lbl"])
    done = subprocess.run([sys.executable, "-m", "mkepipe.labels.cli", "labels", "verify", str(gen.path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("mke labels: error: ") and "Traceback" not in done.stderr
