from typing import get_args

import pytest
import yaml
from pydantic import BaseModel

from mkepipe.cli import main
from mkepipe.config import (ConfigError, _data_path, default_params, inside_project, load_params, params_model,
                            parse_params)
from tests.conftest import ROOT


def test_repository_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert params.experiment == "twomoon" and [r.id for r in params.rounds] == [1, 2]


@pytest.mark.parametrize("raw, key", [
    ({"student": {"twomoon": {"epochz": 3}}}, "student.twomoon.epochz"),
    ({"teacher": {"twomoon": {"epochs": "many"}}}, "teacher.twomoon.epochs"),
    ({"student": {"twomoon": {"perturbation": {"dropout": 1.5}}}}, "student.twomoon.perturbation.dropout"),
    ({"student": {"twomoon": {"perturbation": {"input_noise": -1}}}}, "student.twomoon.perturbation.input_noise"),
    ({"pseudolabel": {"twomoon": {"kind": "fuzzy"}}}, "pseudolabel.twomoon.kind"),
    ({"teacher": {"twomoon": {"lr": 0}}}, "teacher.twomoon.lr"),
    ({"teacher": {"mars": {}}}, "teacher.mars"),
    ({"bogus": 1}, "bogus"),
    ({"rounds": [{"id": 1, "teacher": "teacher.pt", "extra": 1}]}, "rounds.0.extra"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError) as err:
        parse_params({"experiment": "twomoon", **raw})
    assert f": {key}:" in str(err.value)


def test_unknown_experiment_and_bad_rounds():
    with pytest.raises(ConfigError, match="unknown experiment 'mars'"):
        parse_params({"experiment": "mars"})
    with pytest.raises(ConfigError, match="rounds must be numbered"):
        parse_params({"experiment": "twomoon", "rounds": [{"id": 2, "teacher": "teacher.pt"}]})


def test_defaults_are_the_twomoon_protocol():
    p = default_params("twomoon")
    t, s = p.active("teacher"), p.active("student")
    assert (t.hidden, t.epochs, s.hidden, s.epochs, s.batch_size) == (32, 1000, 16, 2000, None)


def test_cli_exits_2_before_writing(tmp_path, capsys):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["student"]["twomoon"]["perturbation"]["dropout"] = 2.0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    out = tmp_path / "data"
    assert main(["--params", str(path), "stage", "prepare", "--out", str(out)]) == 2
    assert "student.twomoon.perturbation.dropout" in capsys.readouterr().err
    assert not out.exists()


MAT = {"source": "mat", "mat_path": "nyu/labeled.mat", "raw_dir": "nyu/raw"}


def _nyu(data_roots=None, **fields):
    raw = {"experiment": "nyu", "prepare": {"nyu": {**MAT, **fields}}}
    return raw if data_roots is None else {**raw, "data_roots": data_roots}


@pytest.mark.parametrize("raw", [
    _nyu(),
    _nyu(["/datasets/nyu"], mat_path="/datasets/nyu/labeled.mat", raw_dir="/datasets/nyu/raw"),
    _nyu(["/datasets", "/scratch"], hha_cache_dir="/scratch/hha", png_dir="/datasets/png", split_dir="splits"),
    {"experiment": "nyu", "data_roots": ["/weights"], "teacher": {"nyu": {"encoder_weights_path": "/weights/r101.pth"}}},
], ids=["relative", "absolute_under_a_root", "several_roots", "encoder_weights"])
def test_data_paths_inside_the_project_or_under_a_data_root(raw):
    parse_params(raw)


@pytest.mark.parametrize("raw, key, says", [
    (_nyu(mat_path="/datasets/nyu/labeled.mat"), "prepare.nyu.mat_path", "under no data root"),
    (_nyu(["/datasets/nyu"], raw_dir="/datasets/nyu-raw"), "prepare.nyu.raw_dir", "under no data root"),
    (_nyu(raw_truth_dir="../truth"), "prepare.nyu.raw_truth_dir", "inside the project"),
    (_nyu(["/datasets"], synthetic_dir="/datasets/../etc"), "prepare.nyu.synthetic_dir", "without .."),
    (_nyu(["datasets"]), "data_roots.0", "absolute"),
    ({"experiment": "nyu", "student": {"nyu": {"encoder_weights_path": "/root/w.pth"}}},
     "student.nyu.encoder_weights_path", "under no data root"),
], ids=["absolute", "beside_the_root", "dotdot", "dotdot_under_a_root", "relative_root", "encoder_weights"])
def test_data_paths_that_leave_the_project_are_refused(raw, key, says):
    with pytest.raises(ConfigError) as err:
        parse_params(raw)
    assert f"params.yaml: {key}: " in str(err.value) and says in str(err.value)


def test_every_refused_data_path_is_named():
    with pytest.raises(ConfigError) as err:
        parse_params(_nyu(mat_path="/a/labeled.mat", raw_dir="/b/raw", hha_cache_dir="/c"))
    assert [line.split(": ")[1] for line in str(err.value).splitlines()] == [
        "prepare.nyu.mat_path", "prepare.nyu.raw_dir", "prepare.nyu.hha_cache_dir"]


def _path_fields(model: type[BaseModel], prefix: str = ""):
    """Every field of ``model`` and its sub-models named like a path: ``*_path``, ``*_dir``, a round's teacher."""
    for name, info in model.model_fields.items():
        models = [a for a in (info.annotation, *get_args(info.annotation)) if isinstance(a, type)
                  and issubclass(a, BaseModel)]
        for sub in models:
            yield from _path_fields(sub, f"{prefix}{name}.")
        if not models and (name.endswith(("_path", "_dir")) or name == "teacher"):
            yield f"{prefix}{name}", info


def test_every_path_field_of_every_experiment_is_confined():
    """A path field added to any registered experiment's config must be a DataPath or a
    ProjectPath: an absolute or escaping value is then refused."""
    fields = dict(_path_fields(params_model()))
    assert {"prepare.nyu.mat_path", "service.state_dir", "rounds.teacher", "teacher.nyu.encoder_weights_path"} <= set(
        fields)
    for key, info in fields.items():
        checks = [m for arg in (info.annotation, *get_args(info.annotation)) for m in get_args(arg)[1:]]
        checks += info.metadata
        validators = {getattr(m, "func", None) for m in checks}
        assert validators & {inside_project, _data_path}, f"{key} is not a confined path field"


def test_cli_refuses_a_data_path_outside_the_roots_before_writing(tmp_path, capsys):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["experiment"] = "nyu"
    params["prepare"]["nyu"].update(source="mat", mat_path="/etc/labeled.mat", raw_dir="raw")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    assert main(["--params", str(path), "stage", "prepare", "--out", str(tmp_path / "data")]) == 2
    assert "prepare.nyu.mat_path: '/etc/labeled.mat' is outside the project" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
