"""The relabel service's library path (no Prefect): round 0 starts from the model the
pipeline's promote stage chose; ``relabel()`` runs a round, then does nothing."""
import torch

from mkepipe.config import load_params
from mkepipe.fileio import sha256_file
from mkepipe.labels import LabelStore
from mkepipe.service.relabel import Relabeler, relabel
from mkepipe.service.state import Layout, read_state
from mkepipe.training.checkpoint import load_checkpoint, save_checkpoint
from tests.service_helpers import drop_scene, make_service_project, source_scenes


def test_bootstrap_copies_the_teachers_labels_or_relabels_with_the_promoted_model(tmp_path):
    root, _ = make_service_project(tmp_path)
    params = load_params(root / "params.yaml")
    models = root / "models" / "nyu"
    pipeline_gen = LabelStore(root / "labels" / "nyu" / "round1").latest()
    layout = Layout(root / params.service.state_dir / "nyu")

    state = Relabeler(root, params).bootstrap()
    assert sha256_file(layout.abs(state.teacher)) == sha256_file(models / "teacher.pt")
    assert layout.abs(state.generation).name == pipeline_gen.id  # the teacher's own labels, copied

    model, spec, meta = load_checkpoint(models / "teacher.pt")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_checkpoint(models / "teacher-after-round1.pt", model, spec, meta)  # as the promote stage writes it

    state = Relabeler(root, params).bootstrap()
    promoted_sha = sha256_file(models / "teacher-after-round1.pt")
    assert sha256_file(layout.abs(state.teacher)) == promoted_sha
    gen = LabelStore(layout.labels(0)).latest()
    assert layout.abs(state.generation) == gen.path and gen.id != pipeline_gen.id
    assert gen.manifest["teacher_hash"] == promoted_sha and gen.parent is None
    assert len(gen) == len(pipeline_gen) and gen.verify()["ok"]
    assert [g.id for g in LabelStore(layout.labels(0)).list()] == [gen.id]  # the copied generation is gone


def test_relabel_without_prefect_runs_one_round_then_noops(tmp_path):
    root, _ = make_service_project(tmp_path)
    params = load_params(root / "params.yaml")
    added = drop_scene(root, source_scenes(root)[0], "rig_0001")
    steps = []
    out = relabel(root, params, progress=lambda pct, message: steps.append(message))
    assert out.status == "committed" and out.round == 1 and out.labeled == added
    state = read_state(Layout(root / params.service.state_dir / "nyu"))
    assert state.round == 1 and [row["round"] for row in state.history] == [0, 1]
    child = LabelStore(root / params.service.state_dir / "nyu" / "labels" / "round0001").latest()
    assert child.manifest["samples"] == added and child.verify()["ok"]
    assert any("training the student" in m for m in steps)
    again = relabel(root, params)
    assert again.status == "noop" and again.round == 1
