"""Crash safety: SIGKILL mid-generation then resume; flipped bytes are refused by name."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mkepipe.labels import DamagedGenerationError, Generation, LabelStore
from mkepipe.labels import cli as labels_cli
from tests._label_writer_proc import class_probs

HELPER = Path(__file__).with_name("_label_writer_proc.py")
N = 40  # 5 shards of 8


def run_helper(root: Path, *extra: str, wait: bool = True):
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    cmd = [sys.executable, str(HELPER), str(root), str(N), *extra]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the labeling subprocess"
        time.sleep(0.05)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sigkill_mid_generation_then_resume_is_byte_identical(tmp_path):
    reference = run_helper(tmp_path / "clean")
    assert reference["calls"] == 10 and reference["samples"] == N

    crashed = tmp_path / "crashed"
    marker = tmp_path / "hanging"
    proc = run_helper(crashed, "--hang-at", "6", "--marker", str(marker), wait=False)
    try:
        gen_dir = crashed / reference["id"]
        # call 6 is the second batch of shard 2: shards 0-1 are committed, shard 2 is half written
        wait_for(lambda: marker.exists() and (gen_dir / "shard-00001.lbl").exists()
                 and any(".tmp-" in p.name and p.stat().st_size > 100 for p in gen_dir.iterdir()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (gen_dir / "manifest.json").exists()
    assert LabelStore(crashed).list() == []
    with pytest.raises(DamagedGenerationError, match="manifest.json"):
        LabelStore(crashed).open(reference["id"])

    resumed = run_helper(crashed)
    assert resumed["id"] == reference["id"]
    assert resumed["calls"] == 6 and resumed["samples"] == 24  # shards 2-4 only
    assert tree_bytes(crashed) == tree_bytes(tmp_path / "clean")
    again = run_helper(crashed)
    assert again["calls"] == 0  # complete: a no-op


@pytest.fixture
def three_shards(tmp_path):
    store = LabelStore(tmp_path / "store")
    ids = [f"c{i:03d}" for i in range(30)]
    gen = store.write(ids, class_probs, kind="soft", num_classes=3, teacher_hash="t", dataset_hash="d",
                      shard_size=10, batch_size=10, progress=False)
    return gen, ids


def flip_byte(path: Path, where: str) -> None:
    data = bytearray(path.read_bytes())
    offset = {"header": 3, "block": 20, "index": len(data) - 120, "footer": len(data) - 30}[where]
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def verify_cli(gen_path: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    labels_cli.add_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["labels", "verify", str(gen_path), *extra])
    return args.func(args)


@pytest.mark.parametrize("where", ["header", "block", "index", "footer"])
def test_flipped_byte_is_refused_naming_the_shard(three_shards, where, capsys):
    gen, ids = three_shards
    assert verify_cli(gen.path) == 0
    flip_byte(gen.path / "shard-00001.lbl", where)
    capsys.readouterr()

    assert verify_cli(gen.path) == 1
    assert "shard-00001.lbl" in capsys.readouterr().err
    assert verify_cli(gen.path, "--json") == 1
    assert json.loads(capsys.readouterr().out)["file"].endswith("shard-00001.lbl")

    for check in ("shard", "block"):
        reopened = Generation(gen.path, check=check)
        with pytest.raises(DamagedGenerationError, match="shard-00001.lbl"):
            reopened.get(ids[15])
        with pytest.raises(DamagedGenerationError, match="shard-00001.lbl"):
            reopened.arrays()
        with pytest.raises(DamagedGenerationError, match="shard-00001.lbl"):
            reopened.verify()
    if where == "block":  # intact shards stay readable; the damaged one never is
        np.testing.assert_array_equal(Generation(gen.path).get(ids[3]).hard, class_probs([ids[3]])[0].argmax())
    else:  # a damaged index hides where ids live: every lookup refuses, naming the shard
        with pytest.raises(DamagedGenerationError, match="shard-00001.lbl"):
            Generation(gen.path).get(ids[3])


def test_missing_or_truncated_shard_refused_on_open(three_shards):
    gen, _ = three_shards
    shard = gen.path / "shard-00002.lbl"
    shard.write_bytes(shard.read_bytes()[:-5])
    with pytest.raises(DamagedGenerationError, match="shard-00002.lbl"):
        Generation(gen.path)
    shard.unlink()
    with pytest.raises(DamagedGenerationError, match="shard-00002.lbl"):
        Generation(gen.path)
    assert verify_cli(gen.path) == 1


def test_damaged_shard_left_by_a_crash_is_rewritten_on_resume(tmp_path):
    """A committed-but-corrupted shard of an unfinished generation is relabeled, not reused."""
    store = LabelStore(tmp_path)
    ids = [f"c{i:03d}" for i in range(20)]
    kwargs = dict(kind="hard", num_classes=3, teacher_hash="t", dataset_hash="d", shard_size=10, progress=False)
    gen = store.write(ids, class_probs, **kwargs)
    reference = tree_bytes(gen.path)
    (gen.path / "manifest.json").unlink()
    flip_byte(gen.path / "shard-00000.lbl", "block")
    seen = []
    again = store.write(ids, lambda b: seen.extend(b) or class_probs(b), **kwargs)
    assert seen == ids[:10]
    assert {k: v for k, v in tree_bytes(again.path).items() if k != "manifest.json"} == \
        {k: v for k, v in reference.items() if k != "manifest.json"}
