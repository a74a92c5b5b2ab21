"""RAVDESS file names: seven 2-digit fields, and the quarantine reasons of the scan.

``01-01-06-01-02-01-12.mp4`` is modality-channel-emotion-intensity-statement-repetition-actor:
modality 01 audio-video, 02 video-only, 03 audio-only; emotion 01 neutral … 08 surprised;
intensity 01 normal, 02 strong (neutral has only normal); odd actors are male.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from mkepipe.data.quarantine import BadSample, register_reason

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
FIELDS = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")

for _name, _text in (
        ("bad_name", "file name is not a valid RAVDESS identifier (seven 2-digit fields, known codes, "
                     "actor matching its Actor_XX folder)"),
        ("duplicate_id", "another file already gives this clip identifier for the same modality")):
    register_reason(_name, _text)

_RANGES = {"modality": (1, 3), "channel": (1, 2), "emotion": (1, 8), "intensity": (1, 2),
           "statement": (1, 2), "repetition": (1, 2), "actor": (1, 24)}


@dataclass(frozen=True)
class Identifier:
    """One parsed RAVDESS file name."""

    modality: int
    channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def clip_key(self) -> str:
        """The six fields after modality: the 01-/02- mp4 and the 03- wav of one trial share it."""
        return self.name[3:]

    @property
    def label(self) -> int:
        """0-based class index into :data:`EMOTIONS`."""
        return self.emotion - 1

    @property
    def name(self) -> str:
        return "-".join(f"{getattr(self, f):02d}" for f in FIELDS)

    @property
    def is_male(self) -> bool:
        return self.actor % 2 == 1


def parse_identifier(filename: str) -> Identifier:
    """Parse a RAVDESS file name (a path or a name with or without extension).

    Channel 02 (song) is a valid RAVDESS code and is accepted; the speech set has 01 only.
    Raises :class:`BadSample` ``bad_name`` naming the first field that is wrong.
    """
    stem = PurePath(filename).stem
    parts = stem.split("-")
    if len(parts) != len(FIELDS) or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise BadSample("bad_name", f"{filename!r}: expected seven 2-digit fields like 01-01-06-01-02-01-12")
    values = dict(zip(FIELDS, (int(p) for p in parts)))
    for field, (low, high) in _RANGES.items():
        if not low <= values[field] <= high:
            raise BadSample("bad_name", f"{filename!r}: {field} {values[field]:02d} not in {low:02d}..{high:02d}")
    if values["emotion"] == 1 and values["intensity"] == 2:
        raise BadSample("bad_name", f"{filename!r}: neutral has no strong intensity")
    return Identifier(**values)
