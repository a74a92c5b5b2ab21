"""Media writers: audio-video ``.mp4`` (H.264 yuv420p + AAC, as RAVDESS and VGGSound are
distributed) through PyAV, and 16-bit PCM ``.wav`` through the stdlib ``wave``.

Both write atomically (:func:`mkepipe.fileio.atomic_write`: temporary name beside the
target, fsync, rename), so a killed run leaves no half file under a real name. The
temporary name has no ``.mp4`` ending, so the container format is named explicitly.
"""
from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

from mkepipe.fileio import atomic_write

# crf 18, not x264's default 23: the real files are 720p at a high bitrate, and at 128×96
# the default smears the few-pixel facial features; one thread: the generator runs one
# encoder per core. No macroblock tree: at some frame widths (96 px) its SIMD code reads
# memory it never wrote, and the same frames encoded twice came out different (measured:
# 4 of 5 encodes of one clip differed; decoded pixels up to 36 levels apart).
H264_OPTIONS = {"preset": "veryfast", "crf": "18", "threads": "1", "x264-params": "mbtree=0"}
AAC_BIT_RATE = 96_000  # mono speech; the real files carry stereo AAC at about twice this
AAC_OPTIONS = {"aac_coder": "fast"}  # FFmpeg's default two-loop search is ~4x slower for no audible gain here
AAC_FRAME = 1024  # samples per AAC frame: fed whole, no resampler in between


def _pcm16(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (1-d), got shape {audio.shape}")
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono float audio in [-1, 1] as 16-bit PCM ``.wav`` (values beyond are clipped)."""
    pcm = _pcm16(audio)

    def write(tmp: Path) -> None:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())

    return atomic_write(path, write)


def write_mp4(path: str | Path, frames: np.ndarray, fps: float, audio: np.ndarray | None = None,
              sample_rate: int = 48_000) -> Path:
    """Write ``frames`` (F, H, W, 3) uint8 RGB as H.264 yuv420p at ``fps`` and, unless
    ``audio`` is None, mono float audio in [-1, 1] as an AAC track at ``sample_rate``.
    H and W must be even (4:2:0 chroma)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (F, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    n, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs an even frame size, got {h}x{w}")
    rate = Fraction(fps).limit_denominator(1001)
    pcm = None if audio is None else _pcm16(audio)

    def write(tmp: Path) -> None:
        import av

        with av.open(str(tmp), mode="w", format="mp4") as container:
            video = container.add_stream("libx264", rate=rate, options=H264_OPTIONS)
            video.width, video.height, video.pix_fmt = w, h, "yuv420p"
            video.codec_context.thread_count = 1  # the "threads" option is not applied; threads make x264 vary
            sound = None
            if pcm is not None:
                sound = container.add_stream("aac", rate=int(sample_rate), layout="mono", options=AAC_OPTIONS)
                sound.bit_rate = AAC_BIT_RATE
            for frame in frames:
                container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(video.encode())
            if sound is not None:
                samples = pcm.astype(np.float32) / np.float32(32767.0)  # the wav's 16-bit values: one signal
                for start in range(0, len(samples), AAC_FRAME):
                    block = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, start:start + AAC_FRAME]),
                                                       format="fltp", layout="mono")
                    block.sample_rate, block.pts = int(sample_rate), start
                    container.mux(sound.encode(block))
                container.mux(sound.encode())

    return atomic_write(path, write)
