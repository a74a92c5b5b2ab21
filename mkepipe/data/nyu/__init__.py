"""NYU Depth V2 (paper Table 3): loaders for the labeled ``.mat``, the raw scene folders
and the PNG layout; HHA; the synthetic default; the prepare step and its readers.

``prepare_nyu(cfg, out_dir)`` writes the dataset; ``load_split``/``load_unlabeled_truth``
read it back. See ``docs/nyu_data.md``.
"""
from mkepipe.config import NyuPrepareConfig, NyuSynthConfig
from mkepipe.data.nyu.classes import IGNORE_INDEX, NUM_CLASSES, VOID, classes40
from mkepipe.data.nyu.dataset import SPLITS, has_unlabeled_truth, load_split, load_unlabeled_truth
from mkepipe.data.nyu.hha import NYU_RGB, HHACache, Intrinsics, compute_hha, encode_depth
from mkepipe.data.nyu.prepare import prepare_nyu
from mkepipe.data.nyu.quarantine import read_quarantine
from mkepipe.data.nyu.synth import write_synthetic_nyu
from mkepipe.data.nyu.truth_guard import UnlabeledTruthAccessError, forbid_unlabeled_truth

__all__ = [
    "IGNORE_INDEX", "NUM_CLASSES", "VOID", "classes40", "SPLITS", "has_unlabeled_truth", "load_split",
    "load_unlabeled_truth", "NYU_RGB", "HHACache", "Intrinsics", "compute_hha", "encode_depth", "NyuPrepareConfig",
    "NyuSynthConfig", "prepare_nyu", "read_quarantine", "write_synthetic_nyu", "UnlabeledTruthAccessError",
    "forbid_unlabeled_truth",
]
