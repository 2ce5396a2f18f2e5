"""Observability as code, offline: the committed rules are what the generator makes of probes/slos.yaml,
promtool accepts them and their unit tests pass (and fail on a wrong factor), every dashboard query
parses and reads only recorded SLO series, and every monitor selects real pods on real named ports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from resilience.engine.prometheus_rules import (
    GATEWAY_FRONTENDS,
    TRITON_SUMMARY_QUANTILES,
    RuleFormat,
    render_catalogue,
)
from tests.deploy.conftest import K8S, ROOT, kubernetes_validate, kustomize_build, require

OBSERVABILITY = ROOT / "reference_platform" / "deploy" / "observability"
RULE_FILE = OBSERVABILITY / "rules" / "slo-rules.yaml"
PROMETHEUS_RULE = OBSERVABILITY / "prometheusrule.yaml"
DASHBOARD = OBSERVABILITY / "dashboards" / "vision-platform.json"
PROMTOOL = Path("/usr/bin/promtool")
PROMTOOL_INSTALL = "apt-get install prometheus (Debian's package carries promtool; .ci/run installs it)"


def _promtool(*args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    tool = require(PROMTOOL if PROMTOOL.exists() else Path(shutil.which("promtool") or PROMTOOL), PROMTOOL_INSTALL)
    start = time.perf_counter()
    proc = subprocess.run([str(tool), *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    return proc, time.perf_counter() - start


@pytest.mark.parametrize(
    ("path", "fmt"), [(RULE_FILE, RuleFormat.RULES), (PROMETHEUS_RULE, RuleFormat.PROMETHEUS_RULE)]
)
def test_committed_rules_match_the_catalogue(path: Path, fmt: RuleFormat) -> None:
    expected = render_catalogue(ROOT / "probes" / "slos.yaml", fmt, source="probes/slos.yaml")
    assert path.read_text() == expected, (
        f"{path.relative_to(ROOT)} is stale: regenerate it from probes/slos.yaml with "
        "resilience.engine.prometheus_rules.render_catalogue"
    )


def test_promtool_accepts_the_rules() -> None:
    proc, _ = _promtool("check", "rules", str(RULE_FILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    groups = yaml.safe_load(RULE_FILE.read_text())["groups"]
    assert f"SUCCESS: {sum(len(g['rules']) for g in groups)} rules found" in proc.stdout


def test_promtool_unit_tests_pass() -> None:
    files = sorted((OBSERVABILITY / "tests").glob("*.yaml"))
    assert len(files) >= 3
    proc, seconds = _promtool("test", "rules", *(f.name for f in files), cwd=OBSERVABILITY / "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(files)
    assert seconds < 120


def test_promtool_unit_tests_catch_a_wrong_burn_rate(tmp_path: Path) -> None:
    """The alert tests are not vacuous: a fast page at 6x instead of 14.4x (0.006, not 0.0144) fails them."""
    shutil.copytree(OBSERVABILITY / "tests", tmp_path / "tests")
    (tmp_path / "rules").mkdir()
    text = RULE_FILE.read_text()
    assert text.count("> 0.0144") == 2
    (tmp_path / "rules" / RULE_FILE.name).write_text(text.replace("> 0.0144", "> 0.006"))
    proc, _ = _promtool("test", "rules", "availability.yaml", cwd=tmp_path / "tests")
    assert proc.returncode != 0
    assert "FAILED" in proc.stdout + proc.stderr


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _exprs() -> list[str]:
    return [t["expr"] for p in _dashboard()["panels"] for t in p["targets"]]


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    exprs = _exprs()
    assert len(exprs) >= 15
    rules = {
        "groups": [
            {"name": "dashboard", "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)]}
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    proc, _ = _promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout


def test_the_dashboard_reads_only_recorded_slo_series() -> None:
    recorded = {
        r["record"] for g in yaml.safe_load(RULE_FILE.read_text())["groups"] for r in g["rules"] if "record" in r
    }
    used = {name for e in _exprs() for name in re.findall(r"\b(slo:[a-z_:0-9]+)", e)}
    assert used, "the dashboard shows no SLO series"
    assert used <= recorded, f"dashboard reads series no rule records: {sorted(used - recorded)}"


def test_the_dashboard_covers_what_the_issue_asks() -> None:
    exprs = "\n".join(_exprs())
    titles = [p["title"] for p in _dashboard()["panels"]]
    for needle in (
        'slo:error_ratio:rate1h{slo="availability"}',
        'slo="latency-p99"',
        "slo:burn_rate:rate1h",
        "by (region)",
        "kube_deployment_status_replicas_ready",
        "DCGM_FI_DEV_GPU_UTIL",
    ):
        assert needle in exprs, needle
    assert len(titles) == len(set(titles))


def test_the_observability_kustomization_builds() -> None:
    resources = kustomize_build(OBSERVABILITY)
    kinds = sorted(f"{r['kind']}/{r['metadata']['name']}" for r in resources)
    assert kinds == [
        "ConfigMap/vision-platform-dashboard",
        "PodMonitor/cameras",
        "PodMonitor/gateway",
        "PodMonitor/inference",
        "PodMonitor/preprocess",
        "PodMonitor/sink",
        "PrometheusRule/vision-slos",
        "ServiceMonitor/dcgm-exporter",
    ]
    assert {r["metadata"]["namespace"] for r in resources} == {"vision"}
    assert all(r["metadata"]["labels"]["app.kubernetes.io/part-of"] == "vision-platform" for r in resources)
    dashboard = next(r for r in resources if r["kind"] == "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["vision-platform.json"]) == _dashboard()
    rule = next(r for r in resources if r["kind"] == "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULE_FILE.read_text())


def test_the_built_manifests_validate(tmp_path: Path) -> None:
    manifest = tmp_path / "observability.yaml"
    manifest.write_text(yaml.safe_dump_all(kustomize_build(OBSERVABILITY)))
    result = kubernetes_validate(manifest, "1.30.0")
    assert result.errors == []
    # kubernetes-validate has no Prometheus Operator schemas: those are checked by the tests around this one
    assert result.unknown_kinds == {
        "monitoring.coreos.com/v1/PodMonitor",
        "monitoring.coreos.com/v1/PrometheusRule",
        "monitoring.coreos.com/v1/ServiceMonitor",
    }


def _pod_templates(overlay: str) -> list[dict[str, Any]]:
    templates = []
    for r in kustomize_build(K8S / "overlays" / overlay):
        spec = r.get("spec") or {}
        if r["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            templates.append(spec["template"])
    return templates


@pytest.mark.parametrize("overlay", ["gpu", "cpu"])
def test_every_monitor_selects_pods_with_its_named_port(overlay: str) -> None:
    templates = _pod_templates(overlay)
    monitors = [r for r in kustomize_build(OBSERVABILITY) if r["kind"] == "PodMonitor"]
    scraped = set()
    for monitor in monitors:
        wanted = monitor["spec"]["selector"]["matchLabels"]
        pods = [t for t in templates if wanted.items() <= t["metadata"].get("labels", {}).items()]
        assert pods, f"PodMonitor {monitor['metadata']['name']} selects no pod in overlays/{overlay}"
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            for pod in pods:
                ports = {p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
                assert endpoint["port"] in ports, (monitor["metadata"]["name"], ports)
        scraped.add(wanted["app.kubernetes.io/name"])
    served = {
        t["metadata"]["labels"]["app.kubernetes.io/name"]
        for t in templates
        if any(c.get("ports") for c in t["spec"]["containers"])
    }
    assert served <= scraped, f"pods with ports that nothing scrapes: {sorted(served - scraped)}"


@pytest.mark.parametrize("overlay", ["gpu", "cpu"])
def test_the_platform_exports_what_the_rules_read(overlay: str) -> None:
    resources = kustomize_build(K8S / "overlays" / overlay)
    inference = [
        t for t in _pod_templates(overlay) if t["metadata"]["labels"].get("app.kubernetes.io/name") == "inference"
    ]
    assert {t["metadata"]["labels"]["resilience.dev/region"] for t in inference} == {"a", "b"}
    for template in inference:
        args = " ".join(a for c in template["spec"]["containers"] for a in c.get("args", []))
        assert "summary_latencies=true" in args
        configured = re.search(r"summary_quantiles=(\S+)", args)
        assert configured, args
        quantiles = {float(pair.split(":")[0]) for pair in configured.group(1).split(",")}
        assert set(TRITON_SUMMARY_QUANTILES) <= quantiles
    gateway_cfg = "\n".join(
        str(v)
        for r in resources
        if r["kind"] == "ConfigMap" and r["metadata"]["name"].startswith("gateway")
        for v in r["data"].values()
    )
    frontends = re.search(r'proxy=~"([^"]+)"', GATEWAY_FRONTENDS)
    assert frontends
    for name in frontends.group(1).split("|"):
        assert re.search(rf"^\s*frontend {name}\s*$", gateway_cfg, re.M), f"the gateway has no frontend {name}"
    assert "prometheus-exporter" in gateway_cfg
