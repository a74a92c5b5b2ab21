"""The relabel service's pure parts: inbox diff, sample validation, promotion rule,
transient-error retries, the state pointer and the service config."""
import errno
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mkepipe.config import ConfigError, parse_params
from mkepipe.data.quarantine import BadSample
from mkepipe.experiments.nyu.raw_scenes import encode_depth, encode_pnm, frame_name
from mkepipe.experiments.nyu.inbox import load_sample, scan_inbox
from mkepipe.promotion import decide
from mkepipe.service.inbox import diff_inbox
from mkepipe.service.retry import is_transient, retry_transient
from mkepipe.service.state import Layout, ServiceState, read_state, write_state


def _raw_scene(folder, n=2, drop_rgb_of=None):
    folder.mkdir(parents=True)
    for i in range(n):
        t = 100.0 + i
        if i != drop_rgb_of:
            (folder / frame_name("r", t, i)).write_bytes(encode_pnm(np.full((6, 8, 3), 50 * i, np.uint8)))
        (folder / frame_name("d", t + 0.01, i)).write_bytes(encode_depth(np.full((6, 8), 2.0, np.float32)))


def test_scan_finds_both_layouts_and_diff_keeps_only_new(tmp_path):
    _raw_scene(tmp_path / "kitchen_0001", n=2)
    (tmp_path / "b1" / "rgb").mkdir(parents=True)
    (tmp_path / "b1" / "depth").mkdir()
    cv2.imwrite(str(tmp_path / "b1" / "rgb" / "0001.png"), np.zeros((6, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b1" / "depth" / "0001.png"), np.full((6, 8), 1500, np.uint16))
    samples = scan_inbox(tmp_path)
    assert [s.id[:len("inbox/kitchen_0001")] for s in samples[1:]] == ["inbox/kitchen_0001"] * 2
    assert samples[0].id == "inbox/b1/0001" and samples[0].layout == "png"
    rgb, depth, _, _ = load_sample(samples[0])
    assert rgb.shape == (6, 8, 3) and np.allclose(depth, 1.5)
    ingested = {samples[1].id: samples[1].sha256, samples[2].id: "old-content"}
    rejected = {samples[0].id: {"sha256": samples[0].sha256, "reason": "unreadable"}}
    d = diff_inbox(samples, ingested, rejected)
    assert d.new == [] and d.changed == [samples[2]] and not d.empty
    assert diff_inbox(samples, {s.id: s.sha256 for s in samples}, {}).empty


def test_missing_and_broken_modalities_are_bad_samples(tmp_path):
    _raw_scene(tmp_path / "s", n=2, drop_rgb_of=1)
    (tmp_path / "b" / "rgb").mkdir(parents=True)
    (tmp_path / "b" / "depth").mkdir()
    cv2.imwrite(str(tmp_path / "b" / "rgb" / "0001.png"), np.zeros((6, 8, 3), np.uint8))
    (tmp_path / "b" / "depth" / "0001.png").write_bytes(b"not a png")
    cv2.imwrite(str(tmp_path / "b" / "rgb" / "0002.png"), np.zeros((6, 8, 3), np.uint8))
    reasons = {}
    for s in scan_inbox(tmp_path):
        try:
            load_sample(s)
        except BadSample as err:
            reasons[s.id] = err.reason
    assert reasons == {"inbox/b/0001": "unreadable", "inbox/b/0002": "missing_modality",
                       next(k for k in reasons if k.startswith("inbox/s/")): "no_rgb_in_sync_tolerance"}


SEG = {"miou": 40.0, "iou_per_class": {"wall": 60.0, "floor": 50.0, "bed": 10.0, "chair": 0.0}}


def test_promotion_needs_quality_and_no_class_collapse():
    better = {"miou": 42.0, "iou_per_class": {"wall": 61.0, "floor": 52.0, "bed": 12.0}}
    assert decide(SEG, better, "miou", "iou_per_class").promote
    assert not decide(SEG, better, "miou", "iou_per_class", min_gain=5).promote
    collapsed = {"miou": 41.0, "iou_per_class": {"wall": 95.0, "floor": 0.0, "bed": 0.0}}  # majority class only
    d = decide(SEG, collapsed, "miou", "iou_per_class")
    assert not d.promote and "class collapse" in d.reasons[1]


def test_classification_collapse_is_checked_on_recall():
    # TwoMoon round 2 under regularisation predicts the majority class: ~50 % < teacher's 68 %.
    teacher = {"accuracy": 68.0, "recall_per_class": {"lower moon": 60.0, "upper moon": 76.0}}
    d = decide(teacher, {"accuracy": 51.5, "recall_per_class": {"lower moon": 100.0, "upper moon": 0.0}},
               "accuracy", "recall_per_class")
    assert not d.promote and d.verdict == "kept teacher" and "recognises 1 of the teacher's 2" in d.reasons[1]
    strict = decide(teacher, {"accuracy": 70.0, "recall_per_class": {"lower moon": 100.0, "upper moon": 0.0}},
                    "accuracy", "recall_per_class", min_class_coverage=0.75)
    assert not strict.promote and "class collapse" in strict.reasons[1]


def test_only_transient_errors_are_retried():
    assert is_transient(OSError(errno.EAGAIN, "again")) and is_transient(OSError(errno.EIO, "io"))
    assert is_transient(TimeoutError()) and not is_transient(FileNotFoundError(errno.ENOENT, "gone"))
    assert not is_transient(ValueError("bad data"))
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError(errno.EIO, "disk hiccup")
        return "ok"

    assert retry_transient(flaky, attempts=3, delay_s=0) == "ok" and len(calls) == 3
    calls.clear()

    def broken():
        calls.append(1)
        raise ValueError("deterministic")

    with pytest.raises(ValueError):
        retry_transient(broken, attempts=3, delay_s=0)
    assert len(calls) == 1


def test_state_round_trips_and_is_replaced_whole(tmp_path):
    layout = Layout(tmp_path)
    assert read_state(layout) is None
    state = ServiceState("nyu", 1, "datasets/v0001", "labels/round0001/g", "models/round0000/teacher.pt",
                         {"inbox/a/1": "abc"})
    write_state(layout, state)
    assert read_state(layout) == state
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left behind


def test_service_config_is_validated():
    nyu = {"experiment": "nyu"}
    assert parse_params({**nyu, "service": {"interval_minutes": 5, "schedule": False}}).service.interval_minutes == 5
    with pytest.raises(ConfigError, match="service.interval_minutes"):
        parse_params({**nyu, "service": {"interval_minutes": 0}})
    with pytest.raises(ConfigError, match="promotion.min_class_coverage"):
        parse_params({**nyu, "promotion": {"min_class_coverage": 2}})
    with pytest.raises(ConfigError, match="service.intervall"):
        parse_params({**nyu, "service": {"intervall": 5}})


def test_notify_refuses_without_an_api_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path)  # a home without the profile `make serve` writes
    proc = subprocess.run([sys.executable, "-m", "mkepipe.cli", "notify", "--experiment", "nyu"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr  # never the CLI's silent throw-away server
    assert "PREFECT_API_URL" in proc.stderr


def test_flow_tasks_retry_only_transient_failures():
    from prefect.states import Failed

    from flows.relabel_flow import retry_if_transient

    assert retry_if_transient(None, None, Failed(data=OSError(errno.EAGAIN, "busy")))
    assert not retry_if_transient(None, None, Failed(data=BadSample("unreadable", "corrupt")))
    assert not retry_if_transient(None, None, Failed(data=FileNotFoundError(errno.ENOENT, "gone")))
