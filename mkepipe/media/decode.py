"""Read media: sampled video frames and audio from mp4 and other containers (PyAV, whose
wheels bundle FFmpeg), PCM wav (stdlib ``wave``).

Every failure is a :class:`BadSample` with a reason and a detail naming what failed, so a
prepare step quarantines the clip instead of stopping.
"""
from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from mkepipe.data.quarantine import BadSample, register_reason

for _name, _text in (
        ("no_audio", "media without an audio track, and no other file that gives its audio"),
        ("empty_audio", "audio with no samples or only silence"),
        ("too_short", "clip shorter than one sampling interval")):
    register_reason(_name, _text)


@dataclass
class Video:
    """Frames sampled from a clip at a fixed interval."""

    frames: np.ndarray  # (F, H, W, 3) uint8 RGB
    times: np.ndarray  # presentation time in seconds of each returned frame
    fps: float
    duration: float


def read_video(path: Path, every_s: float) -> Video:
    """One RGB frame per sample time 0, every_s, 2·every_s, … < duration: the decoded frame
    whose presentation time is nearest. Frames are decoded once and not all held."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadSample("unreadable", f"{Path(path).name}: no video stream")
            return _sample_video(container, container.streams.video[0], every_s)
    except (av.error.FFmpegError, OSError) as err:
        raise _media_error(path, err) from err


def read_audio_track(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream as mono float32 in [-1, 1] (mean of the channels) at its native rate."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadSample("no_audio", f"{Path(path).name}: no audio stream")
            stream = container.streams.audio[0]
            audio = _decode_audio(container, stream)
            rate = stream.rate
    except (av.error.FFmpegError, OSError) as err:
        raise _media_error(path, err) from err
    return _check_audio(path, audio), rate


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Integer PCM wav (8/16/24/32-bit, any channel count) as mono float32 in [-1, 1] and its rate."""
    try:
        with wave.open(str(path), "rb") as wav:
            n, channels, width, rate = wav.getnframes(), wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            data = wav.readframes(n)
    except (wave.Error, EOFError) as err:
        raise BadSample("unreadable", f"{Path(path).name}: not a PCM wav ({err})") from err
    except FileNotFoundError as err:
        raise BadSample("unreadable", f"{Path(path).name}: file missing") from err
    except OSError as err:
        raise BadSample("io_error", f"{Path(path).name}: {err}") from err
    if len(data) < n * channels * width:
        raise BadSample("unreadable", f"{Path(path).name}: truncated, {len(data) // (channels * width)} of {n} frames")
    samples = _pcm_to_float(data, width).reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return _check_audio(path, samples), rate


def _media_error(path: Path, err: Exception) -> BadSample:
    detail = f"{Path(path).name}: {getattr(err, 'strerror', None) or err}"
    if isinstance(err, OSError) and not isinstance(err, (FileNotFoundError, av.error.FFmpegError)):
        return BadSample("io_error", detail)
    return BadSample("unreadable", detail)


def _sample_video(container: av.container.InputContainer, stream: av.VideoStream, every_s: float) -> Video:
    rate = stream.average_rate or stream.guessed_rate
    if not rate:
        raise BadSample("unreadable", "the video stream has no frame rate")
    fps = float(rate)
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    known = _stream_duration(container, stream)
    if known is not None and known < every_s:
        raise BadSample("too_short", f"{known:.2f} s, shorter than the {every_s} s sampling interval")
    stream.thread_type = "AUTO"
    sampler = _Sampler(every_s, known)
    time = 0.0
    try:
        for index, frame in enumerate(container.decode(stream)):
            time = frame.time - start if frame.time is not None else index / fps
            sampler.add(time, frame)
    except av.error.FFmpegError as err:
        raise BadSample("unreadable", f"{_stopped(time, known)} ({err})") from err
    if sampler.previous is None:
        raise BadSample("unreadable", "no video frame could be decoded")
    end = time + 1 / fps
    if known is not None and known - end > max(2 / fps, 0.1):  # the file ends before its header says
        raise BadSample("unreadable", _stopped(time, known))
    duration = known if known is not None else end
    if duration < every_s:
        raise BadSample("too_short", f"{duration:.2f} s, shorter than the {every_s} s sampling interval")
    sampler.finish(duration)
    return Video(np.stack(sampler.frames), np.array(sampler.times), fps, duration)


def _stopped(time: float, known: float | None) -> str:
    return f"truncated: decoding stopped at {time:.1f} s" + (f" of {known:.1f} s" if known is not None else "")


def _stream_duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


class _Sampler:
    """For each sample time k·every_s, the frame nearest it, seeing each decoded frame once
    and holding only the previous one."""

    def __init__(self, every_s: float, duration: float | None) -> None:
        self.every_s, self.limit = every_s, math.inf if duration is None else duration
        self.previous: tuple[float, av.VideoFrame] | None = None
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        # one reformatter keeps its swscale context: VideoFrame.to_ndarray(format=...) builds a
        # new one per frame, ~30x slower on small frames
        self.reformatter = VideoReformatter()

    def add(self, time: float, frame: av.VideoFrame) -> None:
        while self._target() < self.limit and self._target() <= time:
            target = self._target()
            before = self.previous is not None and target - self.previous[0] <= time - target
            self._keep(*(self.previous if before else (time, frame)))
        self.previous = (time, frame)

    def finish(self, duration: float) -> None:
        """Sample times after the last frame (but before ``duration``) take the last frame."""
        while self._target() < min(duration, self.limit):
            self._keep(*self.previous)

    def _target(self) -> float:
        return len(self.frames) * self.every_s

    def _keep(self, time: float, frame: av.VideoFrame) -> None:
        self.frames.append(self.reformatter.reformat(frame, format="rgb24").to_ndarray())
        self.times.append(time)


def _decode_audio(container: av.container.InputContainer, stream: av.AudioStream) -> np.ndarray:
    resampler = av.AudioResampler(format="fltp")  # planar float, rate and layout kept
    chunks = []
    for frame in container.decode(stream):
        chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float32)


def _check_audio(path: Path, audio: np.ndarray) -> np.ndarray:
    if audio.size == 0:
        raise BadSample("empty_audio", f"{Path(path).name}: no samples")
    if not np.any(audio):
        raise BadSample("empty_audio", f"{Path(path).name}: all {audio.size} samples are zero")
    return np.clip(audio, -1.0, 1.0)


def _pcm_to_float(data: bytes, width: int) -> np.ndarray:
    """Little-endian integer PCM to float32: 8-bit is unsigned, 16/24/32-bit signed."""
    if width == 1:
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
    if width == 3:  # no 24-bit dtype: place the 3 bytes in the top of an int32
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        padded = np.zeros((len(raw), 4), np.uint8)
        padded[:, 1:] = raw
        return padded.view("<i4")[:, 0].astype(np.float32) / 2.0 ** 31
    if width in (2, 4):
        return np.frombuffer(data, f"<i{width}").astype(np.float32) / 2.0 ** (8 * width - 1)
    raise BadSample("unreadable", f"{width * 8}-bit samples are not integer PCM")
