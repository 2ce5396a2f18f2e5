"""Terraform and Argo CD, offline. No terraform binary installs from PyPI, npm or Debian and providers cannot
be downloaded here, so `terraform validate` cannot run: checkov scans the HCL, python-hcl2 parses it, and
these tests check what validate would (variables declared and used, module arguments, pinned providers),
plus that the node pools and the Argo CD Applications fit the k8s overlays they serve."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import CHECKOV, K8S, ROOT, kustomize_build, require

TERRAFORM = ROOT / "reference_platform" / "deploy" / "terraform"
MODULE = TERRAFORM / "modules" / "gke-gpu-node-pools"
ARGOCD = ROOT / "reference_platform" / "deploy" / "argocd"
MODULE_META_ARGS = {"source", "version", "for_each", "count", "providers", "depends_on"}


def _hcl2() -> ModuleType:
    module: ModuleType = pytest.importorskip(
        "hcl2", reason="python-hcl2 is missing: pip install python-hcl2 (the dev extras)"
    )
    return module


def _parse(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of a module's *.tf files, by block type."""
    hcl2 = _hcl2()
    blocks: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            for kind, items in hcl2.load(f).items():
                blocks.setdefault(kind, []).extend(items)
    assert blocks, f"no Terraform in {directory}"
    return blocks


def _unquote(value: Any) -> Any:
    return value[1:-1] if isinstance(value, str) and value.startswith('"') and value.endswith('"') else value


def _code(directory: Path) -> str:
    """The module's HCL without comments (so a `var.x` in a comment proves nothing)."""
    return "\n".join(re.sub(r"#.*", "", path.read_text()) for path in sorted(directory.glob("*.tf")))


def _variables(directory: Path) -> dict[str, dict[str, Any]]:
    return {_unquote(name): body for block in _parse(directory).get("variable", []) for name, body in block.items()}


def _resources(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in _parse(directory).get("resource", []):
        for rtype, named in block.items():
            if _unquote(rtype) == kind:
                found |= {_unquote(name): body for name, body in named.items()}
    return found


def test_checkov_passes_the_terraform() -> None:
    checkov = require(CHECKOV, "make install (checkov gets its own venv, .venv-checkov)")
    proc = subprocess.run(
        [str(checkov), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert summary["parsing_errors"] == 0
    # both regions' inference pools and region a's training pool, through the module
    assert summary["resource_count"] >= 3
    assert summary["passed"] >= 15
    for skipped in report["results"]["skipped_checks"]:  # only inline `#checkov:skip=CKV_x:reason`
        assert skipped.get("suppress_comment"), skipped["check_id"]


@pytest.mark.parametrize("directory", [TERRAFORM, MODULE], ids=["root", "module"])
def test_every_variable_is_declared_and_used(directory: Path) -> None:
    declared = set(_variables(directory))
    used = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", _code(directory)))
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but never used"
    for name, body in _variables(directory).items():
        assert _unquote(body.get("description", "")), f"variable {name} has no description"
        assert "type" in body, f"variable {name} has no type"
    locals_declared = {k for block in _parse(directory).get("locals", []) for k in block if k != "__is_block__"}
    assert set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", _code(directory))) <= locals_declared


def test_the_module_call_matches_the_module() -> None:
    variables = _variables(MODULE)
    required = {name for name, body in variables.items() if "default" not in body}
    calls = {_unquote(name): body for block in _parse(TERRAFORM)["module"] for name, body in block.items()}
    assert list(calls) == ["gpu_node_pools"]
    call = calls["gpu_node_pools"]
    assert _unquote(call["source"]) == "./modules/gke-gpu-node-pools"
    passed = {k for k in call if k not in MODULE_META_ARGS and k != "__is_block__"}
    assert passed - set(variables) == set(), "arguments the module does not declare"
    assert required - passed == set(), "required module variables not passed"
    outputs = {_unquote(n) for block in _parse(MODULE)["output"] for n in block}
    used = set(re.findall(r"\bpools\.([a-z_]+)", _code(TERRAFORM)))
    assert used and used <= outputs


@pytest.mark.parametrize("directory", [TERRAFORM, MODULE], ids=["root", "module"])
def test_terraform_and_providers_are_pinned(directory: Path) -> None:
    settings = _parse(directory)["terraform"][0]
    assert re.fullmatch(r">= ?1\.\d+\.\d+, ?< ?2\.0\.0", _unquote(settings["required_version"]))
    google = settings["required_providers"][0]["google"]
    assert _unquote(google["source"]) == "hashicorp/google"
    version = _unquote(google["version"])
    assert ">=" in version and "<" in version.replace("<=", ""), f"unbounded provider version {version}"


def _overlay(name: str) -> list[dict[str, Any]]:
    return kustomize_build(K8S / "overlays" / name)


def test_the_node_pools_fit_the_gpu_overlay() -> None:
    pools = _resources(MODULE, "google_container_node_pool")
    assert set(pools) == {"inference", "training"}
    inference, training = pools["inference"]["node_config"][0], pools["training"]["node_config"][0]
    resources = _overlay("gpu")
    deployments = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Deployment"}
    for name in ("inference-a", "inference-b"):
        pod = deployments[name]["spec"]["template"]["spec"]
        pool = pod["nodeSelector"]["resilience.dev/pool"]
        assert f'"resilience.dev/pool" = "{pool}"' in inference["labels"], (name, inference["labels"])
        assert "resilience.dev/region" in inference["labels"]
    for node in (inference, training):
        accelerator = node["guest_accelerator"][0]
        assert "gpu_driver_installation_config" in accelerator
        assert _unquote(node["image_type"]) == "COS_CONTAINERD"
    # training: spot, scales to zero, tainted; the CronJob tolerates exactly that taint
    assert training["spot"] is True
    assert pools["training"]["autoscaling"][0]["total_min_node_count"] == 0
    taint = {k: _unquote(v) for k, v in training["taint"][0].items() if k != "__is_block__"}
    assert taint["effect"] == "NO_SCHEDULE"
    cronjob = next(r for r in resources if r["kind"] == "CronJob")
    tolerations = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["tolerations"]
    assert {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": "NoSchedule"} in tolerations
    assert f'"{taint["key"]}" = "{taint["value"]}"' in training["labels"]


def test_each_region_is_a_cluster_in_the_overlays_cloud_region() -> None:
    clusters = _variables(TERRAFORM)["clusters"]["default"]
    deployments = {r["metadata"]["name"]: r for r in _overlay("gpu") if r["kind"] == "Deployment"}
    for region in ("a", "b"):
        affinity = deployments[f"inference-{region}"]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
        terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        wanted = {
            v
            for t in terms
            for e in t["matchExpressions"]
            if e["key"] == "topology.kubernetes.io/region"
            for v in e["values"]
        }
        location = _unquote(clusters[region]["location"])
        assert wanted == {location}
        assert all(_unquote(z).startswith(location + "-") for z in clusters[region]["inference_zones"])
    assert sum(bool(c["training_zones"]) for c in clusters.values()) == 1, "one region trains"


def _argocd_sources(resources: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, path, app spec) for each Application, and each ApplicationSet's list elements."""
    sources = []
    for r in resources:
        if r["kind"] == "Application":
            sources.append((r["metadata"]["name"], r["spec"]["source"]["path"], r["spec"]))
        elif r["kind"] == "ApplicationSet":
            spec = r["spec"]["template"]["spec"]
            for generator in r["spec"]["generators"]:
                for inner in generator.get("matrix", {}).get("generators", [generator]):
                    for element in inner.get("list", {}).get("elements", []):
                        sources.append((f"{r['metadata']['name']}/{element['component']}", element["path"], spec))
    return sources


def test_argocd_deploys_buildable_paths_within_its_project() -> None:
    resources = kustomize_build(ARGOCD)
    assert {r["metadata"]["namespace"] for r in resources} == {"argocd"}
    project = next(r for r in resources if r["kind"] == "AppProject")
    sources = _argocd_sources(resources)
    paths = sorted({path for _, path, _ in sources})
    assert paths == [
        "reference_platform/deploy/k8s/overlays/cpu",
        "reference_platform/deploy/k8s/overlays/gpu",
        "reference_platform/deploy/observability",
    ]
    allowed_cluster_kinds = {(g["group"], g["kind"]) for g in project["spec"]["clusterResourceWhitelist"]}
    namespaces = {d["namespace"] for d in project["spec"]["destinations"]}
    for name, path, spec in sources:
        assert spec["project"] == project["metadata"]["name"]
        assert spec["source"]["repoURL"] in project["spec"]["sourceRepos"]
        assert spec["destination"]["namespace"] in namespaces
        policy = spec["syncPolicy"]
        assert policy["automated"]["prune"] is True and policy["automated"]["selfHeal"] is True, name
        assert policy["retry"]["limit"] >= 1
        built = kustomize_build(ROOT / path)
        for r in built:
            api = r["apiVersion"].rpartition("/")[0] if "/" in r["apiVersion"] else ""
            if "namespace" in r["metadata"]:
                assert r["metadata"]["namespace"] in namespaces, (path, r["kind"], r["metadata"]["name"])
            else:
                assert (api, r["kind"]) in allowed_cluster_kinds, f"{path}: {r['kind']} is cluster-scoped"
