"""RAVDESS readers on small media files written here with raw PyAV and ``wave``."""
from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest

from mkepipe.data.quarantine import BadSample, QuarantineLog
from mkepipe.experiments.ravdess.catalog import scan
from mkepipe.experiments.ravdess.features import FaceCropper, MfccExtractor
from mkepipe.experiments.ravdess.identifiers import EMOTIONS, parse_identifier
from mkepipe.media.decode import read_audio_track, read_video, read_wav
from mkepipe.media.resample import resample

FPS, SECONDS, RATE, TONE = 25, 2.2, 48_000, 440.0


def _tone(seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * TONE * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def write_mp4(path: Path, seconds: float = SECONDS, audio_channels: int = 1, faststart: bool = False) -> Path:
    """H.264 yuv420p 64×48 whose grey level ramps up with time; AAC 48 kHz 440 Hz tone (0 channels: none)."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=RATE) if audio_channels else None  # all streams before muxing
        if audio is not None:
            audio.layout = "mono" if audio_channels == 1 else "stereo"
            audio.bit_rate = 192_000  # FFmpeg's AAC at its ~70 kb/s default distorts a pure tone
        n_frames = round(seconds * FPS)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 255 * i // n_frames, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if audio is not None:
            _write_tone(out, audio, seconds, audio_channels)
    return path


def _write_tone(out: av.container.OutputContainer, audio: av.AudioStream, seconds: float, channels: int) -> None:
    signal = _tone(seconds, RATE)
    for start in range(0, len(signal), 1024):
        block = np.ascontiguousarray(np.tile(signal[start:start + 1024], (channels, 1)))
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=audio.layout.name)
        frame.sample_rate, frame.pts = RATE, start
        out.mux(audio.encode(frame))
    out.mux(audio.encode())


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1) -> Path:
    """16-bit PCM; ``samples`` int16, interleaved when ``channels`` > 1."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.fixture(scope="module")
def av_mp4(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("media") / "01-01-03-01-01-01-01.mp4")


def _reason(call, *args) -> str:
    with pytest.raises(BadSample) as caught:
        call(*args)
    return caught.value.reason


# ---- good input


def test_read_video_samples_every_half_second(av_mp4):
    video = read_video(av_mp4, 0.5)
    assert video.fps == FPS and video.duration == pytest.approx(SECONDS)
    assert video.frames.shape == (5, 48, 64, 3) and video.frames.dtype == np.uint8  # t = 0, 0.5, …, 2.0
    assert np.abs(video.times - np.arange(5) * 0.5).max() <= 0.5 / FPS + 1e-9
    brightness = video.frames.mean(axis=(1, 2, 3))
    assert brightness[0] < 5 and np.all(np.diff(brightness) > 40)
    expected = 255 * np.round(video.times * FPS) / round(SECONDS * FPS)
    assert np.abs(brightness - expected).max() < 8  # each is the frame shown at its time


def test_read_audio_track_mono_and_stereo(av_mp4, tmp_path):
    audio, rate = read_audio_track(av_mp4)
    assert rate == RATE and audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / rate == pytest.approx(SECONDS, abs=0.05)
    assert _peak_hz(audio, rate) == pytest.approx(TONE, abs=2)
    stereo, _ = read_audio_track(write_mp4(tmp_path / "stereo.mp4", audio_channels=2))
    assert np.abs(stereo).max() == pytest.approx(0.5, abs=0.05)  # channel mean, not FFmpeg's 0.707·(L+R)


def test_read_wav_exact_values(tmp_path):
    mono = np.array([0, 16384, -16384, 32767, -32768], np.int16)
    audio, rate = read_wav(write_wav(tmp_path / "m.wav", mono))
    assert rate == RATE and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, mono / 32768)
    stereo = np.array([16384, 0, -16384, -16384], np.int16)  # frames (0.5, 0), (-0.5, -0.5)
    audio, _ = read_wav(write_wav(tmp_path / "s.wav", stereo, channels=2))
    np.testing.assert_array_equal(audio, [0.25, -0.5])


@pytest.mark.parametrize("width, raw, expected", [
    (1, bytes([128, 192, 0]), [0.0, 0.5, -1.0]),  # 8-bit is unsigned
    (3, bytes([0, 0, 0x40, 0, 0, 0x80]), [0.5, -1.0]),
    (4, np.array([2 ** 30, -2 ** 31], "<i4").tobytes(), [0.5, -1.0])])
def test_read_wav_other_widths(tmp_path, width, raw, expected):
    with wave.open(str(tmp_path / "w.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(8000)
        out.writeframes(raw)
    audio, rate = read_wav(tmp_path / "w.wav")
    assert rate == 8000 and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, expected)


def test_wav_at_44k1_keeps_its_rate(tmp_path):
    audio, rate = read_wav(write_wav(tmp_path / "a.wav", (_tone(0.1, 44_100) * 32767).astype(np.int16), 44_100))
    assert rate == 44_100 and len(audio) == 4410


def test_resample_keeps_the_tone():
    low = resample(_tone(1.0, RATE), RATE, 16_000)
    assert low.dtype == np.float32 and len(low) == 16_000
    assert _peak_hz(low, 16_000) == pytest.approx(TONE, abs=1)
    same = _tone(0.1, RATE)
    assert resample(same, RATE, RATE) is same


def test_mfcc_has_a_fixed_shape(av_mp4):
    audio, rate = read_audio_track(av_mp4)
    mfcc = MfccExtractor(16_000, n_mfcc=40, n_mels=64, n_fft=1024, hop_length=512, frames=32)
    long = mfcc(resample(audio, rate, 16_000))  # 2.2 s > 32 · 512 samples: cut
    short = mfcc(resample(audio[:RATE // 2], rate, 16_000))  # 0.5 s: padded with silence
    assert long.shape == short.shape == (40, 32) and long.dtype == np.float32
    np.testing.assert_allclose(long[:, :10], short[:, :10], rtol=1e-4, atol=1e-3)
    assert not np.allclose(long[:, -10:], short[:, -10:])


def test_face_cropper_centre_and_bad_detectors(tmp_path):
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[12:36, 20:44] = 200  # the centre 24×24 block
    cropper = FaceCropper(None, size=16, crop_fraction=0.5)
    crop = cropper(frame)
    assert cropper.method == "centre" and crop.shape == (16, 16, 3) and crop.dtype == np.uint8
    assert crop.min() == 200 and cropper.fallbacks == 0
    # opencv-python-headless ships no cascade files (and OpenCV 5 no CascadeClassifier), and no YuNet model
    # can be downloaded here: only the loading errors are testable, not detection itself.
    (tmp_path / "broken.xml").write_text("not a cascade")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    for name in ("missing.xml", "broken.xml", "missing.onnx", "broken.onnx"):
        with pytest.raises(ValueError, match=name):
            FaceCropper(tmp_path / name, size=16, crop_fraction=0.5)
    with pytest.raises(ValueError, match="xml"):
        FaceCropper(tmp_path / "model.pt", size=16, crop_fraction=0.5)


class _FakeYuNet:
    """Stands in for cv2.FaceDetectorYN: returns the given (x, y, w, h) boxes, or none."""

    def __init__(self, boxes: list[tuple[int, int, int, int]]) -> None:
        self.boxes = boxes

    def setInputSize(self, size: tuple[int, int]) -> None:  # noqa: N802  (OpenCV's name)
        self.size = size

    def detect(self, image: np.ndarray) -> tuple[int, np.ndarray | None]:
        return 1, np.array([[*b] + [0.9] * 11 for b in self.boxes], np.float32) if self.boxes else None


def test_face_cropper_takes_the_largest_face_with_a_margin():
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[3:27, 38:62] = 255  # the largest box, 20×10 at (40, 10), as a square of side 1.2·20 = 24
    cropper = FaceCropper(None, size=24, crop_fraction=0.5)
    cropper.method, cropper.detector = "yunet", _FakeYuNet([(0, 0, 4, 4), (40, 10, 20, 10)])
    assert cropper(frame).min() == 255 and cropper.detector.size == (64, 48)
    cropper.detector.boxes = [(50, 40, 30, 30)]  # past the corner: shifted back inside, still square
    assert cropper(frame).shape == (24, 24, 3)
    cropper.detector.boxes = []
    cropper(frame)
    assert cropper.fallbacks == 1


def test_identifier_fields():
    ident = parse_identifier("01-01-06-02-02-01-12.mp4")
    assert ident.clip_key == "01-06-02-02-01-12" and ident.name == "01-01-06-02-02-01-12"
    assert EMOTIONS[ident.label] == "fearful" and not ident.is_male
    assert parse_identifier("03-01-06-02-02-01-12.wav").clip_key == ident.clip_key
    assert parse_identifier("02-02-01-01-01-01-07").is_male  # song channel accepted


# ---- bad input


def test_truncated_mp4_is_unreadable(tmp_path):
    for faststart in (False, True):  # moov at the end: open fails; moov first: decoding stops early
        path = write_mp4(tmp_path / f"{faststart}.mp4", faststart=faststart)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
        assert _reason(read_video, path, 0.5) == "unreadable"
    assert _reason(read_video, tmp_path / "missing.mp4", 0.5) == "unreadable"


def test_bad_audio(tmp_path):
    silent_mp4 = write_mp4(tmp_path / "v.mp4", audio_channels=0)
    assert _reason(read_audio_track, silent_mp4) == "no_audio"
    assert _reason(read_video, silent_mp4, 5.0) == "too_short"
    assert _reason(read_wav, write_wav(tmp_path / "e.wav", np.zeros(0, np.int16))) == "empty_audio"
    assert _reason(read_wav, write_wav(tmp_path / "z.wav", np.zeros(100, np.int16))) == "empty_audio"
    cut = write_wav(tmp_path / "t.wav", np.ones(1000, np.int16))
    cut.write_bytes(cut.read_bytes()[:500])
    assert _reason(read_wav, cut) == "unreadable"
    (tmp_path / "junk.wav").write_bytes(b"RIFF junk")
    assert _reason(read_wav, tmp_path / "junk.wav") == "unreadable"


@pytest.mark.parametrize("name, detail", [
    ("01-01-06-01-02-01", "seven"), ("1-01-06-01-02-01-12", "seven"), ("01-01-06-01-02-01-12-01", "seven"),
    ("04-01-06-01-02-01-12", "modality"), ("01-01-09-01-02-01-12", "emotion"), ("01-01-06-03-02-01-12", "intensity"),
    ("01-01-06-01-02-01-25", "actor"), ("01-01-06-01-02-01-12.copy", "seven"),
    ("01-01-01-02-01-01-12", "neutral has no strong intensity")])
def test_bad_names(name, detail):
    with pytest.raises(BadSample, match=detail) as caught:
        parse_identifier(name + ".mp4")
    assert caught.value.reason == "bad_name"


def test_scan_pairs_and_quarantines(tmp_path):
    actor = tmp_path / "Actor_01"
    actor.mkdir()
    (tmp_path / "docs").mkdir()

    def place(name: str, folder: Path = actor) -> Path:
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"x")  # scan reads names only
        return folder / name

    place("01-01-03-01-01-01-01.mp4")
    place("03-01-03-01-01-01-01.wav")
    place("02-01-03-01-01-01-01.mp4")  # the AV mp4 is preferred
    place("02-01-04-01-01-01-01.mp4")  # video-only, no wav
    place("03-01-05-01-01-01-01.wav")  # audio-only trial
    place("01-01-06-01-01-01-01.mp4")
    place("01-01-06-01-01-01-01.MP4")  # duplicate by case
    place("01-01-06-01-01-01-01.mp4", actor / "copy")  # duplicate in a sub-folder
    place("01-01-07-01-01-01-02.mp4")  # actor 02 in Actor_01
    place("notes.mp4")
    place("readme.txt")
    log = QuarantineLog()
    clips = scan(tmp_path, log)
    assert [c.key for c in clips] == ["01-03-01-01-01-01", "01-06-01-01-01-01"]
    first = clips[0]
    assert first.video.name.startswith("01-") and first.wav == actor / "03-01-03-01-01-01-01.wav" and first.av_audio
    assert first.sources == [str(first.video), str(first.wav)] and clips[1].wav is None
    reasons = sorted((e.reason, Path(e.sources[0]).name) for e in log.entries)
    assert reasons == [("bad_name", "01-01-07-01-01-01-02.mp4"), ("bad_name", "notes.mp4"),
                       ("duplicate_id", "01-01-06-01-01-01-01.mp4"), ("duplicate_id", "01-01-06-01-01-01-01.mp4"),
                       ("missing_modality", "03-01-05-01-01-01-01.wav"), ("no_audio", "02-01-04-01-01-01-01.mp4")]
    assert {e.detail for e in log.entries if e.reason == "bad_name"} >= {
        "actor 02 in the name, but the file is in Actor_01"}
