"""Prometheus rules generated from the SLO catalogue: burn-rate thresholds follow the catalogue's targets,
the Workbook's windows and factors, and SLOs the exporters cannot measure are left out and said so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reference_platform.pipeline import LATENCY_BUCKETS
from resilience.engine.catalogue import load_catalogue
from resilience.engine.prometheus_rules import (
    PIPELINE_LATENCY_BUCKETS_S,
    WINDOWS,
    WORKBOOK_ALERTS,
    RuleFormat,
    SLORules,
    render,
    render_catalogue,
    slo_rules,
)
from resilience.errors import CatalogueError
from resilience.model import SLIKind, SLOSpec

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "probes" / "slos.yaml"

AVAILABILITY = """
apiVersion: openslo/v1
kind: SLO
metadata: {{name: {name}}}
spec:
  indicator:
    metadata: {{name: request-success}}
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: resilience, spec: {{query: requests.ok}}}}}}
        total: {{metricSource: {{type: resilience, spec: {{query: requests.total}}}}}}
  timeWindow: [{{duration: 5s, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: {target}}}]
"""

LATENCY = """
apiVersion: openslo/v1
kind: SLO
metadata: {{name: {name}}}
spec:
  indicator:
    metadata: {{name: request-latency}}
    spec:
      thresholdMetric: {{metricSource: {{type: resilience, spec: {{query: latency_ms}}}}}}
  timeWindow: [{{duration: 5s, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{op: lte, value: {ms}, target: {target}}}]
"""


def _write(tmp_path: Path, *docs: str) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text("---".join(docs))
    return path


def _rules(rules: SLORules, slo: str) -> list[dict[str, Any]]:
    groups = [g for g in rules.groups if g["name"] == f"slo:{slo}"]
    assert len(groups) == 1, [g["name"] for g in rules.groups]
    rules_: list[dict[str, Any]] = groups[0]["rules"]
    return rules_


def _burn_thresholds(rules: SLORules, slo: str) -> dict[tuple[str, str, str], list[float]]:
    """(severity, long, short) -> the error ratios the alert's windows must exceed, read from its PromQL."""
    out = {}
    for rule in _rules(rules, slo):
        if rule.get("alert") == "ErrorBudgetBurn":
            labels = rule["labels"]
            key = (labels["severity"], labels["long_window"], labels["short_window"])
            windows = re.findall(r"slo:error_ratio:rate(\w+)\{", rule["expr"])
            assert windows == [key[1], key[2]], rule["expr"]
            out[key] = [float(x) for x in re.findall(r"> ([0-9.e-]+)", rule["expr"])]
    return out


def test_thresholds_follow_the_catalogue_target() -> None:
    rules = slo_rules(load_catalogue(CATALOGUE))
    assert _burn_thresholds(rules, "availability") == {
        ("page", "1h", "5m"): [pytest.approx(0.001 * 14.4)] * 2,
        ("page", "6h", "30m"): [pytest.approx(0.001 * 6)] * 2,
        ("ticket", "3d", "6h"): [pytest.approx(0.001)] * 2,
    }


def test_another_target_changes_the_thresholds(tmp_path: Path) -> None:
    rules = slo_rules(load_catalogue(_write(tmp_path, AVAILABILITY.format(name="two-nines", target=0.99))))
    assert _burn_thresholds(rules, "two-nines") == {
        ("page", "1h", "5m"): [pytest.approx(0.144)] * 2,
        ("page", "6h", "30m"): [pytest.approx(0.06)] * 2,
        ("ticket", "3d", "6h"): [pytest.approx(0.01)] * 2,
    }
    records = {r["record"]: r for r in _rules(rules, "two-nines") if "record" in r}
    assert records["slo:objective:ratio"]["expr"] == "vector(0.99)"
    assert records["slo:burn_rate:rate1h"]["expr"] == 'slo:error_ratio:rate1h{slo="two-nines"} / 0.01'


def test_the_workbook_table() -> None:
    rows = [(a.severity.value, a.burn_rate, a.long_window, a.short_window) for a in WORKBOOK_ALERTS]
    assert rows == [("page", 14.4, "1h", "5m"), ("page", 6, "6h", "30m"), ("ticket", 1, "3d", "6h")]
    # the Workbook's "budget consumed" column for a 30-day SLO
    assert [round(a.budget_spent, 4) for a in WORKBOOK_ALERTS] == [0.02, 0.05, 0.1]
    assert WINDOWS == ("5m", "30m", "1h", "6h", "3d")


def test_every_window_an_alert_reads_is_recorded() -> None:
    rules = slo_rules(load_catalogue(CATALOGUE))
    for group in rules.groups:
        recorded = {(r["record"], r["labels"]["slo"]) for r in group["rules"] if "record" in r}
        for rule in (r for r in group["rules"] if "alert" in r):
            for name, slo in re.findall(r'(slo:[a-z_:0-9]+)\{slo="([^"]+)"\}', rule["expr"]):
                assert (name, slo) in recorded, (group["name"], name)


@given(target=st.floats(min_value=0.5, max_value=0.99999))
def test_an_alert_exists_exactly_when_its_threshold_is_reachable(target: float) -> None:
    slo = SLOSpec.model_validate({"name": "x", "sli": SLIKind.AVAILABILITY, "objective": target})
    rules = slo_rules({"x": slo})
    thresholds = _burn_thresholds(rules, "x")
    for row in WORKBOOK_ALERTS:
        key = (row.severity.value, row.long_window, row.short_window)
        expected = row.burn_rate * (1 - target)
        if expected < 1:
            assert thresholds[key] == [pytest.approx(expected, rel=1e-9)] * 2
        else:
            assert key not in thresholds
    assert ("ticket", "3d", "6h") in thresholds  # 1x never needs more than the whole budget


def test_a_median_gets_only_the_reachable_ticket() -> None:
    rules = slo_rules(load_catalogue(CATALOGUE))
    assert list(_burn_thresholds(rules, "latency-p50")) == [("ticket", "3d", "6h")]
    assert any("latency-p50: no alert for 14.4x over 1h, 6x over 6h" in n for n in rules.notes), rules.notes
    error_ratio = next(r for r in _rules(rules, "latency-p50") if r.get("record") == "slo:error_ratio:rate1h")
    assert 'pipeline_preprocess_inference_seconds_bucket{le="0.005"}[1h]' in error_ratio["expr"]


def test_a_threshold_on_a_histogram_bucket_gets_burn_rate_alerts(tmp_path: Path) -> None:
    path = _write(tmp_path, LATENCY.format(name="p99-20ms", ms=20, target=0.99))
    rules = slo_rules(load_catalogue(path))
    assert _burn_thresholds(rules, "p99-20ms")[("page", "1h", "5m")] == [pytest.approx(0.144)] * 2
    error_ratio = next(r for r in _rules(rules, "p99-20ms") if r.get("record") == "slo:error_ratio:rate5m")
    assert 'pipeline_preprocess_inference_seconds_bucket{le="0.02"}[5m]' in error_ratio["expr"]
    assert not rules.notes


def test_a_threshold_between_buckets_falls_back_to_tritons_quantile() -> None:
    rules = slo_rules(load_catalogue(CATALOGUE))
    p99 = _rules(rules, "latency-p99")
    assert not any(r.get("alert") == "ErrorBudgetBurn" for r in p99)
    quantile = next(r for r in p99 if r.get("record") == "slo:latency_ms:server_quantile")
    assert 'nv_inference_request_summary_us{model="qc_cnn",quantile="0.99"}' in quantile["expr"]
    alert = next(r for r in p99 if r.get("alert") == "LatencyObjectiveBreached")
    assert alert["expr"] == 'slo:latency_ms:server_quantile{slo="latency-p99"} > 15'
    assert alert["labels"]["severity"] == "ticket"
    assert any(n.startswith("latency-p99: no exported histogram has a bucket at 15 ms") for n in rules.notes)


def test_a_percentile_triton_does_not_export_is_left_out(tmp_path: Path) -> None:
    rules = slo_rules(load_catalogue(_write(tmp_path, LATENCY.format(name="p999", ms=15, target=0.999))))
    assert rules.groups == ()
    assert rules.notes[0].startswith("p999: not generated: no histogram bucket at 15 ms")


def test_timeslices_are_left_out_and_said_so() -> None:
    rules = slo_rules(load_catalogue(CATALOGUE))
    assert "slo:uptime" not in [g["name"] for g in rules.groups]
    assert any(n.startswith("uptime: not generated: Timeslices") for n in rules.notes)


def test_every_name_comes_from_the_catalogue() -> None:
    catalogue = load_catalogue(CATALOGUE)
    rules = slo_rules(catalogue)
    assert [g["name"] for g in rules.groups] == ["slo:availability", "slo:latency-p99", "slo:latency-p50"]
    for group in rules.groups:
        assert {r["labels"]["slo"] for r in group["rules"]} == {group["name"].removeprefix("slo:")}


def test_the_bucket_copy_matches_the_pipeline() -> None:
    assert PIPELINE_LATENCY_BUCKETS_S == LATENCY_BUCKETS


def test_render_both_formats_hold_the_same_groups() -> None:
    rules = slo_rules(load_catalogue(CATALOGUE))
    plain = render(rules, RuleFormat.RULES, "probes/slos.yaml")
    custom = render(rules, RuleFormat.PROMETHEUS_RULE, "probes/slos.yaml")
    assert plain.startswith("# Generated from probes/slos.yaml by resilience.engine.prometheus_rules")
    assert "# - uptime: not generated" in plain
    resource = yaml.safe_load(custom)
    assert (resource["apiVersion"], resource["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert resource["metadata"]["namespace"] == "vision"
    assert resource["spec"] == yaml.safe_load(plain)


def test_a_bad_catalogue_is_a_catalogue_error(tmp_path: Path) -> None:
    path = _write(tmp_path, AVAILABILITY.format(name="broken", target=1.5))
    with pytest.raises(CatalogueError, match=r"objectives\[0\]\.target"):
        render_catalogue(path, RuleFormat.RULES)
