import pytest
import yaml

from mkepipe.cli import main
from mkepipe.config import ConfigError, Params, load_params, parse_params
from tests.conftest import ROOT


def test_repository_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert params.experiment == "twomoon" and [r.id for r in params.rounds] == [1, 2]


@pytest.mark.parametrize("raw, key", [
    ({"student": {"epochz": 3}}, "student.epochz"),
    ({"teacher": {"epochs": "many"}}, "teacher.epochs"),
    ({"student": {"perturbation": {"dropout": 1.5}}}, "student.perturbation.dropout"),
    ({"student": {"perturbation": {"input_noise": -1}}}, "student.perturbation.input_noise"),
    ({"pseudolabel": {"kind": "fuzzy"}}, "pseudolabel.kind"),
    ({"teacher": {"lr": 0}}, "teacher.lr"),
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
        parse_params({"rounds": [{"id": 2, "teacher": "teacher.pt"}]})


def test_defaults_are_the_twomoon_protocol():
    p = Params()
    assert (p.teacher.hidden, p.teacher.epochs, p.student.hidden, p.student.epochs) == (32, 1000, 16, 2000)


def test_cli_exits_2_before_writing(tmp_path, capsys):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["student"]["perturbation"]["dropout"] = 2.0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    out = tmp_path / "data"
    assert main(["--params", str(path), "stage", "prepare", "--out", str(out)]) == 2
    assert "student.perturbation.dropout" in capsys.readouterr().err
    assert not out.exists()
