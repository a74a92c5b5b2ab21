"""AudioSet / VGGSound label files, the class map and the clip index, on small files in
the real formats."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mkepipe.data.quarantine import REASONS, BadSample, QuarantineLog
from mkepipe.experiments.vggsound.catalog import (
    DEFAULT_CLASS_MAP,
    ClipIndex,
    Segment,
    VggRow,
    audioset_targets,
    find_clip,
    read_audioset_segments,
    read_class_indices,
    read_class_map,
    read_vggsound_csv,
    vggsound_target,
)

INDICES = """index,mid,display_name
0,/m/04rlf,"Music"
1,/m/07y_7,"Violin, fiddle"
2,/m/01xqw,"Cello"
3,/m/06mb1,"Rain"
4,/m/05zppz,"Male speech, man speaking"
"""

CLASS_MAP = """# a comment
# another, with "quotes"
name,vggsound_label,audioset_mid,audioset_name
violin,"playing violin, fiddle",/m/07y_7,"Violin, fiddle"
cello,playing cello,/m/01xqw,Cello
rain,raining,/m/06mb1,Rain
"""

SEGMENTS = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=5, num_segs=5, num_unique_labels=4, num_positive_labels=8
# YTID, start_seconds, end_seconds, positive_labels
-0_x-Y_1, 30.000, 40.000, "/m/04rlf,/m/07y_7"
a_b-c, 0.000, 10.000, "/m/06mb1"
speech_only, 5.000, 15.000, "/m/05zppz"
too,many,fields, 1.0, 2.0, "/m/04rlf"
notime, abc, 10.000, "/m/04rlf"
backwards, 10.000, 10.000, "/m/04rlf"
-0_x-Y_1, 30.000, 40.000, "/m/01xqw"
odd_mid, 0.000, 10.000, "/m/07y_7,/m/zzzz"

cellos, 20.000, 30.000, "/m/01xqw, /m/07y_7"
"""

VGGSOUND = """---g-f_I2yQ,1,"playing violin, fiddle",train
-x_y,30,playing cello,test
zz-top_0,12,people marching,train
bad_start,1.5,raining,train
short,1,raining
wrong_split,3,raining,validation
-x_y,30,raining,test
rain_1,0,"raining",train
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def class_map(tmp_path):
    return read_class_map(write(tmp_path / "map.csv", CLASS_MAP))


def test_class_indices_quoted_names_with_commas(tmp_path):
    known = read_class_indices(write(tmp_path / "class_labels_indices.csv", INDICES))
    assert list(known) == ["/m/04rlf", "/m/07y_7", "/m/01xqw", "/m/06mb1", "/m/05zppz"]
    assert known["/m/07y_7"] == "Violin, fiddle"
    assert known["/m/05zppz"] == "Male speech, man speaking"


@pytest.mark.parametrize("text, where", [
    ("mid,name\n/m/04rlf,Music\n", "header"),
    ("", "empty file"),
    (INDICES + "5,/m/xyz\n", "class_labels_indices.csv:7"),
    (INDICES + "x,/m/xyz,Thing\n", "class_labels_indices.csv:7"),
    (INDICES + "5,/m/04rlf,Music again\n", "class_labels_indices.csv:7: mid /m/04rlf appears twice"),
])
def test_class_indices_bad_file_names_the_line(tmp_path, text, where):
    with pytest.raises(ValueError, match=where):
        read_class_indices(write(tmp_path / "class_labels_indices.csv", text))


def test_audioset_segments_parse_and_quarantine(tmp_path):
    path = write(tmp_path / "balanced_train_segments.csv", SEGMENTS)
    qlog = QuarantineLog()
    segs = read_audioset_segments(path, qlog)
    assert segs == [
        Segment("-0_x-Y_1", 30.0, 40.0, ("/m/04rlf", "/m/07y_7"), 4),
        Segment("a_b-c", 0.0, 10.0, ("/m/06mb1",), 5),
        Segment("speech_only", 5.0, 15.0, ("/m/05zppz",), 6),
        Segment("odd_mid", 0.0, 10.0, ("/m/07y_7", "/m/zzzz"), 11),
        Segment("cellos", 20.0, 30.0, ("/m/01xqw", "/m/07y_7"), 13),
    ]
    got = {(e.id, e.reason) for e in qlog.entries}
    assert got == {("audioset:balanced_train_segments.csv:7", "bad_row"),
                   ("audioset:balanced_train_segments.csv:8", "bad_row"),
                   ("audioset:balanced_train_segments.csv:9", "bad_row"),
                   ("audioset:balanced_train_segments.csv:10", "duplicate_row")}
    assert {e.split for e in qlog.entries} == {"labeled"}
    assert all(e.sources == (str(path),) for e in qlog.entries)
    details = {e.id.rsplit(":", 1)[1]: e.detail for e in qlog.entries}
    assert "6 fields" in details["7"] and "not numbers" in details["8"] and "start < end" in details["9"]
    assert "line 4" in details["10"]


def test_vggsound_csv_parse_and_quarantine(tmp_path):
    path = write(tmp_path / "vggsound.csv", VGGSOUND)
    qlog = QuarantineLog()
    rows = read_vggsound_csv(path, qlog)
    assert rows == [
        VggRow("---g-f_I2yQ", 1, "playing violin, fiddle", "train", 1),
        VggRow("-x_y", 30, "playing cello", "test", 2),
        VggRow("zz-top_0", 12, "people marching", "train", 3),
        VggRow("rain_1", 0, "raining", "train", 8),
    ]
    got = {(e.id, e.reason, e.split) for e in qlog.entries}
    assert got == {("vggsound:vggsound.csv:4", "bad_row", "unlabeled"),
                   ("vggsound:vggsound.csv:5", "bad_row", "unlabeled"),
                   ("vggsound:vggsound.csv:6", "bad_row", "unlabeled"),
                   ("vggsound:vggsound.csv:7", "duplicate_row", "test")}


def test_reasons_are_registered():
    for reason in ("bad_row", "unknown_label", "missing_clip", "duplicate_row"):
        assert reason in REASONS


def test_targets(tmp_path, class_map):
    known = read_class_indices(write(tmp_path / "class_labels_indices.csv", INDICES))
    segs = {s.ytid: s for s in read_audioset_segments(write(tmp_path / "s.csv", SEGMENTS), QuarantineLog())}
    assert audioset_targets(segs["-0_x-Y_1"], class_map, set(known)) == (0,)  # Music is known, outside the map
    assert audioset_targets(segs["cellos"], class_map, known) == (0, 1)  # sorted
    assert audioset_targets(segs["speech_only"], class_map, known) is None
    with pytest.raises(BadSample) as err:
        audioset_targets(segs["odd_mid"], class_map, known)
    assert err.value.reason == "unknown_label" and "/m/zzzz" in err.value.detail
    rows = read_vggsound_csv(write(tmp_path / "vggsound.csv", VGGSOUND), QuarantineLog())
    assert [vggsound_target(r, class_map) for r in rows] == [0, 1, None, 2]


def test_class_map(class_map):
    assert class_map.names == ("violin", "cello", "rain")
    assert class_map.by_label == {"playing violin, fiddle": 0, "playing cello": 1, "raining": 2}
    assert class_map.by_mid == {"/m/07y_7": 0, "/m/01xqw": 1, "/m/06mb1": 2}
    sub = class_map.subset(["rain", "violin"])
    assert sub.names == ("rain", "violin") and sub.by_mid == {"/m/06mb1": 0, "/m/07y_7": 1}
    with pytest.raises(ValueError, match="'piano'"):
        class_map.subset(["piano"])


@pytest.mark.parametrize("extra, message", [
    ("cello2,playing cello,/m/0zzz,Cello\n", "vggsound_label not unique: 'playing cello'"),
    ("cello,other,/m/0zzz,Other\n", "name not unique: 'cello'"),
    ("rain2,rainy,/m/06mb1,Rain\n", "audioset_mid not unique: '/m/06mb1'"),
    ("piano,playing piano,/m/05r5c\n", r"map.csv:7: expected name"),
    (",playing piano,/m/05r5c,Piano\n", r"map.csv:7: expected name"),
])
def test_class_map_bad_rows(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        read_class_map(write(tmp_path / "map.csv", CLASS_MAP + extra))


def test_class_map_needs_header(tmp_path):
    with pytest.raises(ValueError, match="expected the header"):
        read_class_map(write(tmp_path / "map.csv", "violin,playing violin,/m/07y_7,Violin\n"))


def test_class_map_validate(tmp_path, class_map, caplog):
    known = read_class_indices(write(tmp_path / "class_labels_indices.csv", INDICES))
    class_map.validate(known)
    bad = read_class_map(write(tmp_path / "bad.csv", CLASS_MAP + "piano,playing piano,/m/05r5c,Piano\n"
                                                                 "organ,playing organ,/m/013y1f,Organ\n"))
    with pytest.raises(ValueError, match=r"piano \(/m/05r5c\), organ \(/m/013y1f\)"):
        bad.validate(known)
    misnamed = read_class_map(write(tmp_path / "misnamed.csv", CLASS_MAP.replace("Rain", "Stream")))
    with caplog.at_level(logging.WARNING):
        misnamed.validate(known)
    assert "'Rain' in class_labels_indices.csv, the map says 'Stream'" in caplog.text


def test_shipped_class_map():
    shipped = read_class_map(DEFAULT_CLASS_MAP)
    assert 40 <= len(shipped.names) <= 60
    assert shipped.names[:8] == ("violin", "cello", "trumpet", "saxophone", "rain", "waterfall", "helicopter",
                                 "lawn_mower")
    assert all(e.audioset_mid.startswith(("/m/", "/t/", "/g/")) and e.audioset_name for e in shipped.entries)
    assert shipped.by_label["playing violin, fiddle"] == 0


def test_clip_index(tmp_path):
    audio = tmp_path / "audio"
    (audio / "eval").mkdir(parents=True)
    for name in ("-0_x-Y_1_30.wav", "-0_x-Y_1_000030.mp4", "a_b-c_000000.FLAC", "eval/cellos_20.mp4",
                 "cellos_20.txt", "noid.wav", "x_1.5.wav", "_12.wav"):
        (audio / name).write_bytes(b"")
    index = ClipIndex(audio, (".wav", ".flac", ".mp4"))
    assert len(index) == 3
    assert index.find("-0_x-Y_1", 30) == audio / "-0_x-Y_1_30.wav"  # .wav preferred to .mp4
    assert index.find("a_b-c", 0) == audio / "a_b-c_000000.FLAC"
    assert index.find("cellos", 20) == audio / "eval" / "cellos_20.mp4"
    assert index.find("cellos", 21) is None
    assert index.find("-0_x-Y", 1) is None
    assert ClipIndex(audio, (".mp4",)).find("-0_x-Y_1", 30) == audio / "-0_x-Y_1_000030.mp4"
    assert find_clip(audio, "a_b-c", 0, (".flac",)) == audio / "a_b-c_000000.FLAC"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ClipIndex(tmp_path / "nowhere", (".mp4",))
