"""Helpers for the offline deploy checks: kustomize builds, kubernetes-validate, checkov.

Every tool is looked up where `make install` puts it; a missing one skips the test, naming how to install it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "reference_platform" / "deploy" / "k8s"
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
KUBERNETES_VALIDATE = ROOT / ".venv" / "bin" / "kubernetes-validate"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def require(tool: Path, install: str = "make install") -> Path:
    """`tool` if it is installed, else skip the calling test naming how to install it."""
    if not os.access(tool, os.X_OK):
        pytest.skip(f"{tool.relative_to(ROOT) if tool.is_relative_to(ROOT) else tool} is missing: run `{install}`")
    return tool


def kustomize_text(path: Path) -> str:
    """`kubectl kustomize path`: the built manifests as one multi-document YAML string."""
    kubectl = require(KUBECTL)
    proc = subprocess.run([str(kubectl), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed: {proc.stderr.strip()}")
    return proc.stdout


def kustomize_build(path: Path) -> list[dict[str, Any]]:
    """Build a kustomization (overlay, component user, base) offline and return its resources."""
    return [doc for doc in yaml.safe_load_all(kustomize_text(path)) if doc]


@dataclass(frozen=True, slots=True)
class Validation:
    errors: list[str]
    """kubernetes-validate's ERROR lines (a resource that does not match its schema)."""
    unknown_kinds: set[str]
    """`apiVersion/kind` with no schema in kubernetes-validate (custom resources): not validated."""
    seconds: float


def kubernetes_validate(manifest: Path, version: str) -> Validation:
    """`kubernetes-validate --strict -k version` on a (multi-document) file."""
    tool = require(KUBERNETES_VALIDATE)
    start = time.perf_counter()
    proc = subprocess.run(
        [str(tool), "--strict", "--quiet", "-k", version, str(manifest)], capture_output=True, text=True, timeout=300
    )
    seconds = time.perf_counter() - start
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [line for line in lines if line.startswith("ERROR")]
    if proc.returncode != 0 and not errors:
        errors = [f"kubernetes-validate exited {proc.returncode}: {proc.stderr.strip()}"]
    unknown = set()
    for line in lines:  # WARN ... Couldn't find schema for kind HTTPRoute with api version gateway.../v1 for ...
        if "Couldn't find schema for kind" in line:
            words = line.split()
            kind = words[words.index("kind") + 1]
            api = words[words.index("version") + 1]
            unknown.add(f"{api}/{kind}")
    return Validation(errors, unknown, seconds)


def checkov_kubernetes(directory: Path) -> dict[str, Any]:
    """`checkov -d directory --framework kubernetes` offline; its JSON report (one framework: one dict)."""
    tool = require(CHECKOV, "make install (checkov gets its own venv, .venv-checkov)")
    proc = subprocess.run(
        [str(tool), "-d", str(directory), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"checkov gave no JSON report (exit {proc.returncode}): {proc.stderr[-2000:]}") from exc
    return report
