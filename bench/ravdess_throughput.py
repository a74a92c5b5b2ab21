"""RAVDESS throughput: prepare's clips/s (decode + face crop + MFCC), and pseudo-labeling
images/s against the bare teacher forward on the same frames.

Writes a small synthetic source in the real formats (``--actors``, default 4 = 240 clips),
times each part of the prepare step on every clip, prepares the dataset, trains a teacher
for one epoch (its weights do not change the forward cost) and times the pseudolabel stage
(disk reads, probabilities, label store) against ``model(x)`` on the same D_u tensors held
in memory. Ratios within one run; the absolute figures depend on the machine.

    python bench/ravdess_throughput.py [--actors 4] [--out bench/results/ravdess_throughput.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from mkepipe import stages  # noqa: E402
from mkepipe.config import load_params  # noqa: E402
from mkepipe.data.quarantine import QuarantineLog  # noqa: E402
from mkepipe.experiments.ravdess.catalog import scan  # noqa: E402
from mkepipe.experiments.ravdess.features import FaceCropper, MfccExtractor  # noqa: E402
from mkepipe.media.decode import read_audio_track, read_video, read_wav  # noqa: E402
from mkepipe.media.resample import resample  # noqa: E402
from mkepipe.training.checkpoint import load_checkpoint  # noqa: E402


def prepare_parts(root: Path, cfg) -> dict:
    """Seconds per part of prepare's per-clip work, summed over every clip of ``root``."""
    clips = scan(root, QuarantineLog())
    crop = FaceCropper(None, cfg.image_size, cfg.crop_fraction)
    mfcc = MfccExtractor(cfg.audio_rate, cfg.n_mfcc, cfg.n_mels, cfg.n_fft, cfg.hop_length, cfg.mfcc_frames)
    t = dict.fromkeys(("video_decode", "audio_decode", "resample", "mfcc", "face_crop"), 0.0)
    for clip in clips:
        t0 = time.perf_counter()
        video = read_video(clip.video, cfg.sample_every_s)
        t1 = time.perf_counter()
        audio, rate = read_wav(clip.wav) if clip.wav else read_audio_track(clip.video)
        t2 = time.perf_counter()
        audio = resample(audio, rate, cfg.audio_rate)
        t3 = time.perf_counter()
        mfcc(audio)
        t4 = time.perf_counter()
        [crop(f) for f in video.frames]
        t5 = time.perf_counter()
        for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            t[k] += dt
    total = sum(t.values())
    return {"clips": len(clips), "clips_per_s": len(clips) / total, "seconds": t,
            "share": {k: v / total for k, v in t.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actors", type=int, default=4)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ravdess_throughput.json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    params = load_params(ROOT / "params.yaml").model_copy(update={"experiment": "ravdess"})
    params = params.with_active("prepare", synthetic=params.active("prepare").synthetic.model_copy(
        update={"n_actors": args.actors}))
    params = params.with_active("teacher", epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        t0 = time.perf_counter()
        manifest = stages.prepare(params, data)
        prepare_s = time.perf_counter() - t0
        parts = prepare_parts(data / "source", params.active("prepare"))
        stages.teacher(params, data, tmp / "teacher.pt")
        n = manifest["counts"]["unlabeled"]
        t0 = time.perf_counter()
        stages.pseudolabel(params, data, tmp / "teacher.pt", tmp / "labels")
        label_s = time.perf_counter() - t0
        from mkepipe.experiments import create_experiment

        unlabeled = create_experiment("ravdess").load(data, "unlabeled")
        x = unlabeled.inputs(("face",))["face"]
        model = load_checkpoint(tmp / "teacher.pt")[0].eval()
        with torch.no_grad():
            t0 = time.perf_counter()
            for start in range(0, len(x), 32):
                model({"face": x[start:start + 32]})
            forward_s = time.perf_counter() - t0
    result = {
        "machine": f"{torch.get_num_threads()} torch threads",
        "prepare": {"clips": parts["clips"], "stage_seconds": prepare_s,
                    "stage_clips_per_s": parts["clips"] / prepare_s, "decode_crop_mfcc_clips_per_s":
                    parts["clips_per_s"], "share_of_per_clip_time": parts["share"]},
        "pseudolabel": {"images": n, "stage_images_per_s": n / label_s, "bare_forward_images_per_s": n / forward_s,
                        "stage_over_forward": (n / label_s) / (n / forward_s)},
    }
    print(f"prepare: {parts['clips']} clips, stage {result['prepare']['stage_clips_per_s']:.1f} clips/s "
          f"(decode + crop + MFCC alone {parts['clips_per_s']:.1f} clips/s; shares "
          + ", ".join(f"{k} {v:.0%}" for k, v in parts["share"].items()) + ")")
    print(f"pseudolabel: {n} images, stage {result['pseudolabel']['stage_images_per_s']:.0f} img/s vs bare teacher "
          f"forward {result['pseudolabel']['bare_forward_images_per_s']:.0f} img/s "
          f"(ratio {result['pseudolabel']['stage_over_forward']:.2f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
