"""The toy experiment's code: its task, data adapter and models."""
from functools import cached_property

import numpy as np
from sklearn.datasets import make_moons

from mkepipe.data.manifest import sha256_bytes, write_manifest
from mkepipe.data.split import write_split
from mkepipe.experiments.base import TRUTH_SPLIT, Experiment, ModelSpec
from mkepipe.tasks import MultilabelTask


class Toy(Experiment):
    name = "toy"
    unimodal = ("alpha",)
    multimodal = ("alpha", "beta")
    num_threads = 1

    @cached_property
    def task(self):
        return MultilabelTask(2, ("upper moon", "right half"))

    def prepare(self, cfg, out_dir):
        x, moon = make_moons(cfg.n_samples, noise=0.15, random_state=cfg.seed)
        x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
        y = np.stack([moon == 1, x[:, 0] > 0.3], axis=1).astype(np.uint8)
        n = len(x)
        parts = np.array_split(np.random.default_rng(cfg.seed).permutation(n), [n // 10, n // 5, n * 6 // 10])
        samples = {}
        for name, idx in zip(("labeled", "val", "unlabeled", "test"), parts):
            ids = [f"{name}/{i}" for i in idx]
            mods = {"alpha": x[idx, :1]} if name == "labeled" else {"alpha": x[idx, :1], "beta": x[idx, 1:]}
            write_split(out_dir, name, ids, mods, None if name == "unlabeled" else y[idx], labels={"multi_hot": True})
            if name == "unlabeled":
                write_split(out_dir, TRUTH_SPLIT, ids, {}, y[idx], labels={"multi_hot": True})
            samples.update({sid: {"split": name, "sha256": sha256_bytes(x[i].tobytes() + y[i].tobytes())}
                            for sid, i in zip(ids, idx)})
        return write_manifest(out_dir, "toy", samples)

    def model_spec(self, role, cfg, perturbation, channels):
        mods = self.multimodal if role == "mm_student" else self.unimodal
        return ModelSpec("mlp", {"in_features": sum(channels[m] for m in mods), "hidden": 16, "num_classes": 2,
                                 "dropout": perturbation.dropout, "hidden_noise": perturbation.hidden_noise}, mods)
