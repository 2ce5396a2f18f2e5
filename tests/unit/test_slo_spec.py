from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from resilience.engine.catalogue import load_catalogue
from resilience.errors import CatalogueError
from resilience.model import SLIKind, SLOSpec

ROOT = Path(__file__).resolve().parents[2]


def test_catalogue_loads_and_has_the_mission_slos() -> None:
    cat = load_catalogue(ROOT / "probes" / "slos.yaml")
    assert cat["availability"].objective == 0.999
    assert cat["latency-p99"].percentile == 99 and cat["latency-p99"].objective == 15


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "a", "sli": "availability", "objective": 1.0}, "ratio in (0, 1)"),
        ({"name": "a", "sli": "availability", "objective": 0.99, "percentile": 99}, "latency SLOs only"),
        ({"name": "l", "sli": "latency", "objective": 15}, "need `percentile`"),
        ({"name": "l", "sli": "throughput", "objective": 15}, "availability"),
        ({"name": "l", "sli": "latency", "objective": 15, "percentile": 99, "extra": 1}, "Extra inputs"),
    ],
)
def test_bad_specs_are_rejected_with_the_reason(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SLOSpec.model_validate(spec)


def test_bad_catalogue_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "slos.yaml"
    bad.write_text(
        "slos:\n  - name: ok\n    sli: availability\n    objective: 0.99\n  - name: x\n    sli: latency\n"
        "    objective: 15\n"
    )
    with pytest.raises(CatalogueError) as exc:
        load_catalogue(bad)
    assert str(bad) in str(exc.value) and "slos[1]" in str(exc.value)


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "slos.yaml"
    bad.write_text("slos:\n" + "  - {name: a, sli: availability, objective: 0.9}\n" * 2)
    with pytest.raises(CatalogueError, match="duplicate"):
        load_catalogue(bad)


def test_objective_text() -> None:
    assert SLOSpec(name="a", sli=SLIKind.AVAILABILITY, objective=0.999).objective_text == ">= 99.9%"
    assert SLOSpec(name="l", sli=SLIKind.LATENCY, objective=15, percentile=99).objective_text == "p99 <= 15 ms"
