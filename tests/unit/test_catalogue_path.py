"""Where an experiment's SLO catalogue is found: beside it, its folder's parent, the working directory;
`$RESILIENCE_SLO_CATALOGUE` over all (one switch for every shipped experiment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.engine.catalogue import find_catalogue
from resilience.errors import CatalogueError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RESILIENCE_SLO_CATALOGUE", raising=False)
    monkeypatch.chdir(tmp_path.parent)  # not the project: only the rules find it
    (tmp_path / "experiments").mkdir()
    (tmp_path / "probes").mkdir()
    for f in ("experiments/x.yaml", "experiments/slos-relaxed.yaml", "probes/slos.yaml", "probes/other.yaml"):
        (tmp_path / f).write_text("")
    return tmp_path


def test_a_catalogue_beside_the_experiment_is_found(project: Path) -> None:
    exp = project / "experiments" / "x.yaml"
    assert find_catalogue(exp, "slos-relaxed.yaml") == project / "experiments" / "slos-relaxed.yaml"
    assert find_catalogue(exp, "probes/slos.yaml") == project / "probes" / "slos.yaml"  # the folder's parent
    assert find_catalogue(exp, None) == project / "probes" / "slos.yaml"  # the default, from anywhere


def test_the_environment_variable_points_every_experiment_elsewhere(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESILIENCE_SLO_CATALOGUE", "probes/other.yaml")
    assert find_catalogue(project / "experiments" / "x.yaml", "probes/slos.yaml") == project / "probes" / "other.yaml"


def test_a_missing_catalogue_says_which_setting_and_where_it_looked(project: Path) -> None:
    with pytest.raises(CatalogueError) as err:
        find_catalogue(project / "experiments" / "x.yaml", "nope.yaml")
    text = str(err.value)
    assert "configuration.slo_catalogue nope.yaml" in text
    assert str(project / "experiments" / "nope.yaml") in text and str(project / "nope.yaml") in text
