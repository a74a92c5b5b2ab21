"""Band-limited audio resampling, set up as librosa's ``kaiser_best``."""
from __future__ import annotations

import numpy as np
import torch
import torchaudio

# librosa's "kaiser_best" in torchaudio's terms
KAISER_BEST = dict(lowpass_filter_width=64, rolloff=0.9475937167399596, resampling_method="sinc_interp_kaiser",
                   beta=14.769656459379492)


def resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Band-limited resampling of a mono float32 signal from ``orig`` Hz to ``new`` Hz."""
    if orig == new:
        return x
    out = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(x, np.float32)), orig, new,
                                         **KAISER_BEST)
    return out.numpy()
