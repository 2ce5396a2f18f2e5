"""The OpenSLO subset (and its bad-input errors), load shapes and stop conditions: parsing and pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from resilience.engine.catalogue import load_catalogue
from resilience.errors import CatalogueError
from resilience.load.spec import LoadSpec, rate_at
from resilience.model import Budgeting, SLIKind, SLOSpec, StopCondition
from resilience.slo.stop import tripped
from tests.unit.test_slo_math import make_slice

ROOT = Path(__file__).resolve().parents[2]


def _doc(**changes: object) -> dict:  # type: ignore[type-arg]
    doc = yaml.safe_load_all((ROOT / "probes" / "slos.yaml").read_text())
    latency = next(d for d in doc if d["metadata"]["name"] == "latency-p99")
    for dotted, value in changes.items():
        node = latency
        parts = dotted.split("__")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node[p]
        node[parts[-1]] = value
    return latency


def _write(tmp_path: Path, *docs: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "slos.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_the_shipped_catalogue_is_openslo_and_maps_to_our_specs() -> None:
    cat = load_catalogue(ROOT / "probes" / "slos.yaml")
    assert cat["availability"].sli is SLIKind.AVAILABILITY and cat["availability"].objective == 0.999
    p99 = cat["latency-p99"]
    assert (p99.sli, p99.percentile, p99.objective, p99.window_s) == (SLIKind.LATENCY, 99, 15, 5.0)
    assert cat["uptime"].budgeting is Budgeting.TIMESLICES and cat["uptime"].timeslice_target == 0.99


@pytest.mark.parametrize(
    ("change", "field", "fix"),
    [
        ({"spec__indicator__spec__thresholdMetric__metricSource__spec__query": "cpu"}, "spec.query", "latency_ms"),
        ({"spec__objectives__0__target": 1.5}, "objectives[0].target", "ratio such as 0.999"),
        ({"spec__objectives__0__target": 1}, "objectives[0].target", "outside [0, 1)"),
        ({"spec__timeWindow__0__duration": "100ms"}, "timeWindow[0].duration", "at least one slice"),
        ({"spec__timeWindow__0__duration": "soon"}, "timeWindow[0].duration", "e.g. 5s"),
        ({"spec__budgetingMethod": "Calendar"}, "budgetingMethod", "Occurrences or Timeslices"),
        ({"spec__objectives__0__op": "gte"}, "objectives[0].op", "op: lte"),
    ],
)
def test_bad_openslo_input_names_the_file_field_and_fix(tmp_path: Path, change: dict, field: str, fix: str) -> None:  # type: ignore[type-arg]
    path = _write(tmp_path, _doc(**change))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    message = str(info.value)
    assert str(path) in message and field in message and fix in message and "latency-p99" in message


def test_a_native_catalogue_still_loads_and_mixing_formats_is_refused(tmp_path: Path) -> None:
    native = tmp_path / "native.yaml"
    native.write_text("slos:\n  - {name: a, sli: availability, objective: 0.99}\n")
    assert load_catalogue(native)["a"].objective == 0.99
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(native.read_text() + "---\n" + yaml.safe_dump(_doc()))
    with pytest.raises(CatalogueError, match="do not mix"):
        load_catalogue(mixed)


def test_rate_profiles_for_each_shape() -> None:
    ramp = LoadSpec(rate=100, shape="ramp", ramp_to=300, ramp_s=10)
    pts, linear = ramp.profile()
    assert [rate_at(pts, linear, t) for t in (0, 5, 10, 20)] == [100, 200, 300, 300]
    step = LoadSpec(rate=100, shape="step", steps=[[10, 200], [20, 50]])
    pts, linear = step.profile()
    assert [rate_at(pts, linear, t) for t in (0, 9.9, 10, 19, 25)] == [100, 100, 200, 200, 50]
    spike = LoadSpec(rate=100, shape="spike", spike_rate=500, spike_at_s=5, spike_s=2)
    pts, linear = spike.profile()
    assert [rate_at(pts, linear, t) for t in (4.9, 5, 6.9, 7)] == [100, 500, 500, 100]
    assert spike.peak_rate == 500 and LoadSpec(rate=70).profile() == ([(0.0, 70)], False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"shape": "ramp"}, "ramp_to"),
        ({"shape": "spike"}, "spike_rate"),
        ({"shape": "step"}, "steps"),
        ({"shape": "step", "steps": [[1, 0]]}, "rate in (0, 5000]"),
        ({"shape": "zigzag"}, "shape"),
        ({"protocol": "quic"}, "protocol"),
    ],
)
def test_bad_load_shapes_are_refused(args: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(
        ValidationError,
        match="(?s)" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
    ):
        LoadSpec(**args)


AVAIL = SLOSpec(name="availability", sli=SLIKind.AVAILABILITY, objective=0.99)


def test_stop_conditions_trip_on_budget_and_on_burn() -> None:
    healthy = [make_slice(i, [1000] * 20, width=0.25) for i in range(20)]
    burning = healthy + [make_slice(20 + i, [1000] * 10, failed=10, width=0.25) for i in range(4)]
    budget = StopCondition(slo="availability", budget_consumed_above=0.5)
    fast = StopCondition(slo="availability", burn_rate_above=14.4, window_s=1)
    assert tripped(budget, AVAIL, healthy) is None and tripped(fast, AVAIL, healthy) is None
    assert "error budget spent" in (tripped(budget, AVAIL, burning) or "")
    assert "burn rate 50.0x" in (tripped(fast, AVAIL, burning) or "")
    with pytest.raises(ValidationError, match="exactly one"):
        StopCondition(slo="availability")
