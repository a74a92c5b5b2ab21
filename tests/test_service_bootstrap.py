"""Round 0 of the relabel service starts from the model the pipeline's promote stage chose."""
import torch

from mkepipe.config import load_params
from mkepipe.fileio import sha256_file
from mkepipe.labels import LabelStore
from mkepipe.service.relabel import Relabeler
from mkepipe.service.state import Layout
from mkepipe.training.checkpoint import load_checkpoint, save_checkpoint
from tests.service_helpers import make_service_project


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
