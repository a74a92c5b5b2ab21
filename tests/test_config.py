import pytest
import yaml

from mkepipe.cli import main
from mkepipe.config import ConfigError, default_params, load_params, parse_params
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
        parse_params(raw)
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
