"""Pseudo-label store: versioned, compact, verifiable label generations.

See ``docs/labels.md`` for the on-disk format, the encodings and their error bounds.
"""

from ._format import DamagedGenerationError, LabelStoreError
from .codecs import codec_names, create_codec
from .generation import Generation, Record
from .quality import compare
from .store import LabelStore, scan

__all__ = ["LabelStore", "Generation", "Record", "LabelStoreError", "DamagedGenerationError",
           "compare", "scan", "create_codec", "codec_names"]
