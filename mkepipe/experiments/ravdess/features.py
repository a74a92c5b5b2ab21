"""RAVDESS model inputs: MFCCs of the audio and a face crop of each sampled frame."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torchaudio


class MfccExtractor:
    """A fixed-size MFCC matrix (n_mfcc, frames) per clip.

    The audio is padded with silence (or cut) to ``frames * hop_length`` samples first: that
    is what lets clips of different lengths share one shape, as the audio CNN needs.
    """

    def __init__(self, sample_rate: int, n_mfcc: int, n_mels: int, n_fft: int, hop_length: int, frames: int) -> None:
        self.sample_rate, self.frames, self.hop_length = sample_rate, frames, hop_length
        self.transform = torchaudio.transforms.MFCC(
            sample_rate=sample_rate, n_mfcc=n_mfcc,
            melkwargs={"n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels, "center": True})

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """``audio``: mono float32 at ``sample_rate``; returns float32 (n_mfcc, frames)."""
        length = self.frames * self.hop_length
        fitted = np.zeros(length, np.float32)
        fitted[:min(length, len(audio))] = audio[:length]
        with torch.no_grad():
            mfcc = self.transform(torch.from_numpy(fitted))
        return mfcc[:, :self.frames].numpy().astype(np.float32, copy=False)  # center=True adds one column


class FaceCropper:
    """A square face crop of an RGB frame, resized to ``size``².

    ``model_path`` picks the detector: None → a fixed centre crop, ``.xml`` → an OpenCV Haar
    cascade, ``.onnx`` → OpenCV's YuNet. With a detector the largest face box, enlarged by
    20 % and made square, is cropped; frames with no face fall back to the centre crop and
    are counted in ``fallbacks``.
    """

    MARGIN = 1.2

    def __init__(self, model_path: Path | None, size: int, crop_fraction: float) -> None:
        self.size, self.crop_fraction, self.fallbacks = size, crop_fraction, 0
        self.detector = None
        if model_path is None:
            self.method = "centre"
        elif Path(model_path).suffix.lower() == ".xml":
            self.method, self.detector = "haar", _load_haar(Path(model_path))
        elif Path(model_path).suffix.lower() == ".onnx":
            self.method, self.detector = "yunet", _load_yunet(Path(model_path))
        else:
            raise ValueError(f"face detector {model_path}: expected a Haar cascade (.xml) or a YuNet model (.onnx)")

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        box = self._detect(frame) if self.detector is not None else None
        if box is None:
            if self.detector is not None:
                self.fallbacks += 1
            box = self._centre_box(frame.shape[0], frame.shape[1])
        x0, y0, x1, y1 = box
        return cv2.resize(frame[y0:y1, x0:x1], (self.size, self.size), interpolation=cv2.INTER_AREA)

    def _detect(self, frame: np.ndarray) -> tuple[int, int, int, int] | None:
        height, width = frame.shape[:2]
        if self.method == "haar":
            faces = self.detector.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        else:
            self.detector.setInputSize((width, height))
            _, found = self.detector.detect(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            faces = [] if found is None else found[:, :4]
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        return _square(x + w / 2, y + h / 2, max(w, h) * self.MARGIN, width, height)

    def _centre_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        return _square(width / 2, height / 2, self.crop_fraction * min(height, width), width, height)


def _square(cx: float, cy: float, side: float, width: int, height: int) -> tuple[int, int, int, int]:
    """A square box of ``side`` centred at (cx, cy), shifted (and if needed shrunk) into the frame."""
    side = max(1, min(round(side), width, height))
    x0 = min(max(round(cx - side / 2), 0), width - side)
    y0 = min(max(round(cy - side / 2), 0), height - side)
    return x0, y0, x0 + side, y0 + side


def _load_haar(path: Path) -> object:
    if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 moved Haar cascades out of the main package
        raise ValueError(f"cannot load the Haar cascade {path}: OpenCV {cv2.__version__} has no CascadeClassifier; "
                         "use a YuNet model (.onnx) or OpenCV 4")
    cascade = cv2.CascadeClassifier()
    try:
        loaded = path.is_file() and cascade.load(str(path))
    except cv2.error:
        loaded = False
    if not loaded:
        raise ValueError(f"cannot load the Haar cascade {path} (opencv-python-headless ships none; give a file)")
    return cascade


def _load_yunet(path: Path) -> object:
    if not path.is_file():
        raise ValueError(f"YuNet model {path} not found")
    try:
        return cv2.FaceDetectorYN.create(str(path), "", (320, 320))
    except cv2.error as err:
        raise ValueError(f"cannot load the YuNet model {path}: {err}") from err
