"""Prometheus rules from the SLO catalogue, for the deployed platform (`reference_platform/deploy/`).

For each SLO it can measure from the platform's own exporters: recording rules for the SLI's error
ratio over the windows the Google SRE Workbook's multiwindow, multi-burn-rate alerts need, and those
alerts (Workbook, "Alerting on SLOs", the final recommendation, for a 30-day SLO period):

    severity  burn rate  long window  short window  budget spent when it fires
    page      14.4x      1h           5m            2%
    page      6x         6h           30m           5%
    ticket    1x         3d           6h            10%

An alert fires while the error ratio over both of its windows exceeds burn rate x (1 - target): the long
window proves the burn is significant, the short one that it is still going on (so it resets within
minutes of a recovery). Targets, thresholds and names come from the catalogue; the factors from the table.

Where the SLIs come from is `SOURCES`, the one mapping from the catalogue's `type: resilience` queries to
PromQL (`openslo.py` turns the ratio queries into an availability SLI and `latency_ms` into a latency one):

- availability (`requests.ok` / `requests.total`): the gateway's HAProxy Prometheus exporter, HTTP
  responses by code class on the inference frontends; a request is good when it got a 2xx, as for the
  load generator. gRPC errors that Triton returns inside a 200 (grpc-status trailers) are invisible
  there; HAProxy's own 5xx (no replica up, timeouts) are counted for both protocols.
- latency (`latency_ms`): a ratio of good events needs a histogram with a bucket at the objective's
  threshold. Triton 24.10 (2.51) exports latency histograms only for decoupled models
  (`nv_inference_first_response_histogram_ms`, `--metrics-config histogram_latencies=true`), and
  qc_cnn is not decoupled; HAProxy 2.8 exports averages and maxima only. The one latency histogram on
  the request path is the pipeline's round trip through the gateway
  (`pipeline_preprocess_inference_seconds`, successful requests only): an SLO whose threshold is one of
  its buckets gets burn-rate alerts from it (pipeline traffic only). Any other latency SLO gets Triton's
  server-side quantile (`nv_inference_request_summary_us`, `summary_latencies=true`) per region and a
  threshold alert: honest about the objective, but not an error budget, and blind to the gateway hop.
- Timeslices SLOs (250 ms slices) are finer than any scrape interval: not generated, and said so.

`slo_rules()` is pure (catalogue in, rules out); `render()` turns them into a promtool rule file or a
`monitoring.coreos.com/v1` PrometheusRule with a header naming the catalogue and what was left out.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from resilience.engine.catalogue import load_catalogue
from resilience.engine.openslo import parse_duration
from resilience.model import Budgeting, SLIKind, SLOSpec

SLO_PERIOD = "30d"
"""The SLO period the Workbook's burn-rate factors assume (2% of a 30-day budget in 1 h is 14.4x)."""

GATEWAY_FRONTENDS = 'proxy=~"v2_http|v2_grpc"'
"""The gateway's inference frontends (HAProxy `frontend v2_http` / `v2_grpc`), not its stats frontend."""

PIPELINE_LATENCY_BUCKETS_S = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
"""`reference_platform.pipeline.LATENCY_BUCKETS` (only `resilience.targets` imports the platform; a unit test keeps
the two equal): a latency SLO whose threshold is one of these gets burn-rate alerts."""

TRITON_SUMMARY_QUANTILES = (0.5, 0.9, 0.99)
"""The quantiles the inference pods must export: `--metrics-config summary_latencies=true
--metrics-config summary_quantiles=0.5:0.05,0.9:0.01,0.99:0.001` (what the local replicas pass)."""

SOURCES: dict[str, str] = {
    # availability: responses by code class at the gateway
    "requests.total": "sum(rate(haproxy_frontend_http_responses_total{" + GATEWAY_FRONTENDS + "}[{window}]))",
    "requests.ok": ("sum(rate(haproxy_frontend_http_responses_total{" + GATEWAY_FRONTENDS + ',code="2xx"}[{window}]))'),
    # latency as good events: successful pipeline round trips through the gateway at or under the bound
    "latency_ms.at_most": 'sum(rate(pipeline_preprocess_inference_seconds_bucket{le="{le}"}[{window}]))',
    "latency_ms.count": "sum(rate(pipeline_preprocess_inference_seconds_count[{window}]))",
    # latency as a quantile, when no bucket fits: Triton's server-side summary, worst replica per region
    "latency_ms.quantile": 'max by (region) (nv_inference_request_summary_us{model="qc_cnn",quantile="{quantile}"}) / 1000',
}
"""The one mapping from the catalogue's `type: resilience` queries to what the deployed platform exports."""


class Severity(enum.StrEnum):
    PAGE = "page"
    TICKET = "ticket"


class RuleFormat(enum.StrEnum):
    RULES = "rules"
    """A rule-groups file (`promtool check rules`, Prometheus `rule_files`)."""
    PROMETHEUS_RULE = "prometheusrule"
    """A Prometheus Operator `PrometheusRule` custom resource."""


def _seconds(window: str) -> float:
    seconds = parse_duration(window)
    if seconds is None:  # our own constants only: a bug, not bad input
        raise AssertionError(f"not a duration: {window}")
    return seconds


@dataclass(frozen=True, slots=True)
class BurnRateAlert:
    """One row of the Workbook's table."""

    severity: Severity
    burn_rate: float
    long_window: str
    short_window: str

    @property
    def budget_spent(self) -> float:
        """The share of the period's budget gone when it fires: burn rate x long window / period."""
        return self.burn_rate * _seconds(self.long_window) / _seconds(SLO_PERIOD)

    def threshold(self, target: float) -> float:
        """The error ratio both windows must exceed: burn rate x the error budget (1 - target)."""
        return self.burn_rate * (1 - target)


WORKBOOK_ALERTS = (
    BurnRateAlert(Severity.PAGE, 14.4, "1h", "5m"),
    BurnRateAlert(Severity.PAGE, 6, "6h", "30m"),
    BurnRateAlert(Severity.TICKET, 1, "3d", "6h"),
)
WINDOWS = tuple(
    sorted({w for a in WORKBOOK_ALERTS for w in (a.long_window, a.short_window)}, key=lambda w: _seconds(w))
)
"""Every window an alert reads, shortest first: the recording rules' windows."""

QUANTILE_ALERT_FOR = "15m"
"""How long a server-side quantile must stay above its objective before the threshold alert fires."""


@dataclass(frozen=True, slots=True)
class SLORules:
    """Rule groups for a catalogue, and what could not be alerted on (and why)."""

    groups: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]

    def rule_file(self) -> dict[str, Any]:
        return {"groups": list(self.groups)}

    def prometheus_rule(self, name: str = "vision-slos", namespace: str = "vision") -> dict[str, Any]:
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/part-of": "vision-platform", "app.kubernetes.io/component": "slo-rules"},
            },
            "spec": self.rule_file(),
        }


def _num(value: float) -> str:
    """A PromQL number without float noise (1 - 0.999 is 0.0010000000000000009)."""
    return f"{value:.10g}"


def _error_ratio(slo: SLOSpec) -> str | None:
    """PromQL for the SLI's error ratio over `{window}`, or None when the exporters cannot give one."""
    if slo.sli is SLIKind.AVAILABILITY:
        good, total = SOURCES["requests.ok"], SOURCES["requests.total"]
    else:
        le = slo.objective / 1000
        if not any(abs(le - b) < 1e-12 for b in PIPELINE_LATENCY_BUCKETS_S):
            return None
        # prometheus_client writes bucket bounds with repr(): 0.005 -> "0.005"
        good = SOURCES["latency_ms.at_most"].replace("{le}", repr(le))
        total = SOURCES["latency_ms.count"]
    # `or vector(0)`: no good responses at all is a 100% error ratio, not an absent one
    return f"1 - (({good}) or vector(0)) / {total}"


def _burn_rate_rules(slo: SLOSpec, error_ratio: str, notes: list[str]) -> list[dict[str, Any]]:
    labels = {"slo": slo.name}
    budget = 1 - slo.target_ratio
    rules: list[dict[str, Any]] = [{"record": "slo:objective:ratio", "expr": f"vector({_num(slo.target_ratio)})"}]
    rules[0]["labels"] = dict(labels)
    for window in WINDOWS:
        rules.append({"record": f"slo:error_ratio:rate{window}", "expr": error_ratio.replace("{window}", window)})
        rules[-1]["labels"] = dict(labels)
    for window in WINDOWS:
        expr = f'slo:error_ratio:rate{window}{{slo="{slo.name}"}} / {_num(budget)}'
        rules.append({"record": f"slo:burn_rate:rate{window}", "expr": expr, "labels": dict(labels)})
    unreachable = []
    for row in WORKBOOK_ALERTS:
        threshold = row.threshold(slo.target_ratio)
        if threshold >= 1:  # an error ratio never exceeds 1: such an alert could never fire
            unreachable.append(f"{_num(row.burn_rate)}x over {row.long_window}")
            continue
        windows = (row.long_window, row.short_window)
        expr = " and ".join(f'slo:error_ratio:rate{w}{{slo="{slo.name}"}} > {_num(threshold)}' for w in windows)
        rules.append(
            {
                "alert": "ErrorBudgetBurn",
                "expr": expr,
                "labels": {
                    **labels,
                    "severity": row.severity.value,
                    "long_window": row.long_window,
                    "short_window": row.short_window,
                },
                "annotations": {
                    "summary": (
                        f"{slo.name} ({slo.objective_text}): error budget burning faster than {_num(row.burn_rate)}x "
                        f"over both {row.long_window} and {row.short_window}; "
                        f"{_num(row.budget_spent * 100)}% of a {SLO_PERIOD} budget gone in {row.long_window}"
                    )
                },
            }
        )
    if unreachable:
        notes.append(
            f"{slo.name}: no alert for {', '.join(unreachable)}: with a {_num(budget * 100)}% error budget it "
            "would need an error ratio above 1"
        )
    return rules


def _quantile_rules(slo: SLOSpec, notes: list[str]) -> list[dict[str, Any]]:
    buckets = ", ".join(f"{b * 1000:g}" for b in PIPELINE_LATENCY_BUCKETS_S)
    quantile = (slo.percentile or 0) / 100
    if not any(abs(quantile - q) < 1e-12 for q in TRITON_SUMMARY_QUANTILES):
        notes.append(
            f"{slo.name}: not generated: no histogram bucket at {slo.objective:g} ms (buckets: {buckets} ms) and "
            f"Triton exports no p{slo.percentile:g} (quantiles {TRITON_SUMMARY_QUANTILES})"
        )
        return []
    notes.append(
        f"{slo.name}: no exported histogram has a bucket at {slo.objective:g} ms (pipeline: {buckets} ms; Triton "
        "24.10: decoupled models only; HAProxy 2.8: none), so no burn-rate alerts: a threshold alert on "
        f"Triton's server-side p{slo.percentile:g} per region instead"
    )
    labels = {"slo": slo.name}
    record = "slo:latency_ms:server_quantile"
    return [
        {"record": "slo:latency_objective:ms", "expr": f"vector({_num(slo.objective)})", "labels": dict(labels)},
        {
            "record": record,
            "expr": SOURCES["latency_ms.quantile"].replace("{quantile}", _num(quantile)),
            "labels": labels,
        },
        {
            "alert": "LatencyObjectiveBreached",
            "expr": f'{record}{{slo="{slo.name}"}} > {_num(slo.objective)}',
            "for": QUANTILE_ALERT_FOR,
            "labels": {**labels, "severity": Severity.TICKET.value},
            "annotations": {
                "summary": (
                    f"{slo.name} ({slo.objective_text}): Triton's server-side p{slo.percentile:g} in region "
                    f"{{{{ $labels.region }}}} above {slo.objective:g} ms for {QUANTILE_ALERT_FOR} (a threshold "
                    "alert, not a burn rate: no exported histogram has a bucket at the objective)"
                )
            },
        },
    ]


def slo_rules(catalogue: Mapping[str, SLOSpec]) -> SLORules:
    """Recording and alerting rules for every SLO of `catalogue` the platform's exporters can measure."""
    groups: list[dict[str, Any]] = []
    notes: list[str] = []
    for slo in catalogue.values():
        if slo.budgeting is Budgeting.TIMESLICES:
            notes.append(
                f"{slo.name}: not generated: Timeslices budgeting judges slices finer than a scrape interval; "
                "judge it with `resilience run`"
            )
            continue
        error_ratio = _error_ratio(slo)
        rules = _burn_rate_rules(slo, error_ratio, notes) if error_ratio else _quantile_rules(slo, notes)
        if rules:
            groups.append({"name": f"slo:{slo.name}", "rules": rules})
    return SLORules(tuple(groups), tuple(notes))


def render(rules: SLORules, fmt: RuleFormat, source: str) -> str:
    """YAML text with a header naming the catalogue `source` and the notes; stable for a drift check."""
    doc = rules.rule_file() if fmt is RuleFormat.RULES else rules.prometheus_rule()
    header = [
        f"# Generated from {source} by resilience.engine.prometheus_rules: do not edit; regenerate.",
        *(f"# - {note}" for note in rules.notes),
    ]
    body = yaml.safe_dump(doc, sort_keys=False, width=1_000_000, allow_unicode=True)
    return "\n".join(header) + "\n" + body


def render_catalogue(path: Path, fmt: RuleFormat, source: str | None = None) -> str:
    """Load the catalogue at `path` (CatalogueError on bad input) and render its rules."""
    return render(slo_rules(load_catalogue(path)), fmt, source or str(path))
