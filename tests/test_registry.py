"""Everything registered is tested the day it lands."""
import numpy as np
import pytest
import torch

from mkepipe.config import Perturbation, default_params
from mkepipe.experiments import create_experiment, experiment_names
from mkepipe.models import MODELS, create_model
from mkepipe.training.methods import METHODS
from mkepipe.training.runs import PseudoLabels, score, train_student

SMALL_PREPARE = {  # experiment -> prepare settings small enough for a unit test
    "nyu": {"height": 24, "width": 32, "synthetic": {"n_labeled": 4, "n_test": 2, "n_scenes": 1,
                                                     "frames_per_scene": 3, "height": 48, "width": 64}},
    "ravdess": {"image_size": 24, "mfcc_frames": 48,
                "synthetic": {"n_actors": 2, "height": 48, "width": 64, "duration_s": 1.5, "wav_actors": 1}},
    "vggsound": {"synthetic": {"labeled_clips": 16, "train_clips": 24, "test_clips": 8, "duration_s": 1.5,
                               "size": 32}},
}


@pytest.mark.parametrize("name", experiment_names())
def test_experiment_prepares_loads_and_builds_models(name, tmp_path):
    exp = create_experiment(name)
    prepare = dict(SMALL_PREPARE.get(name, {}))
    if name == "nyu":
        prepare["hha_cache_dir"] = str(tmp_path / "cache")
    data = tmp_path / "data"
    params = default_params(experiment=name, prepare={name: prepare}, data_roots=[str(tmp_path)])
    manifest = exp.prepare(params.active("prepare"), data)
    splits = {s: exp.load(data, s) for s in ("labeled", "unlabeled", "test", "val")}
    assert len(splits["val"]) > 0 and splits["val"].has_labels, "model choice needs labeled validation data"
    assert manifest["num_samples"] == sum(len(s) for s in splits.values())
    assert not splits["unlabeled"].has_labels, "D_u must come without labels"
    assert set(exp.unimodal) <= set(splits["labeled"].modality_names)
    assert len(exp.load_unlabeled_truth(data)) == len(splits["unlabeled"])
    cfg = default_params(experiment=name).active("student")
    for role, mods in (("teacher", exp.unimodal), ("um_student", exp.unimodal), ("mm_student", exp.multimodal)):
        spec = exp.model_spec(role, cfg, Perturbation(), splits["test"].channels())
        assert spec.modalities == mods
        logits = spec.build().eval()(splits["test"].inputs(mods))
        assert logits.shape[:2] == (len(splits["test"]), exp.task.num_classes)
        assert 0 <= score(exp, spec.build(), spec, splits["test"])[exp.task.metric] <= 100


def test_unknown_names_are_clear():
    with pytest.raises(KeyError, match="unknown experiment .nope.; registered: nyu, ravdess, twomoon, vggsound"):
        create_experiment("nope")
    with pytest.raises(KeyError, match="unknown model"):
        create_model("nope")


EXAMPLES = {  # registered name -> (kwargs, {modality: input shape}, output shape)
    "mlp": ({"in_features": 3, "hidden": 4, "num_classes": 3}, {"a": (5, 2), "b": (5, 1)}, (5, 3)),
    "deeplabv3plus": ({"in_channels": 3, "num_classes": 5, "decoder_channels": 16}, {"rgb": (2, 3, 30, 40)},
                      (2, 5, 30, 40)),
    "fusion_student": ({"rgb_channels": 3, "depth_channels": 1, "num_classes": 5, "decoder_channels": 16},
                       {"rgb": (2, 3, 30, 40), "depth": (2, 1, 30, 40)}, (2, 5, 30, 40)),
    "emotion_net": ({"num_classes": 8, "channels": {"face": 3, "mfcc": 1}},
                    {"face": (2, 3, 48, 48), "mfcc": (2, 1, 40, 96)}, (2, 8)),
    "sound_net": ({"num_classes": 8, "channels": {"spec": 1, "video": 3}, "crop_frames": 40, "video_frames": 2},
                  {"spec": (2, 1, 129, 60), "video": (2, 3, 4, 32, 32)}, (2, 8)),
}


@pytest.mark.parametrize("name", MODELS.names())
def test_models_forward_backward(name):
    assert name in EXAMPLES, f"add an example for the newly registered model {name!r}"
    kwargs, shapes, shape_out = EXAMPLES[name]
    model = create_model(name, modalities=tuple(shapes), **kwargs)
    out = model({m: torch.randn(*shape) for m, shape in shapes.items()})
    out.sum().backward()
    assert out.shape == shape_out
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("method", [m for m in METHODS.names() if m != "teacher"])
def test_every_student_method_trains(method):
    exp = create_experiment("twomoon")
    from mkepipe.experiments.twomoon.data import make_splits

    splits = make_splits(default_params("twomoon").active("prepare"))
    u = splits["unlabeled"]
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1], len(u)).astype(np.float32)
    labels = PseudoLabels(u.ids, probs.argmax(1), probs)
    params = default_params("twomoon", student={"twomoon": {"epochs": 5}})
    for kind in ("hard", "soft", "weighted"):
        model, spec, hist = train_student(exp, params, method, unlabeled=u, labels=labels, kind=kind,
                                          labeled=splits["labeled"], truth=u)
    assert len(hist) == 5 and np.isfinite(hist[-1]["loss"])
    assert spec.modalities == (exp.multimodal if METHODS.get(method).multimodal else exp.unimodal)
