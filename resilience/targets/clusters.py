"""Which platform a run works on, and which clusters it may touch at all.

A run targets the local reference platform unless it names a Kubernetes cluster: `--target kubernetes
--context C --namespace N` on the command line, or a `target:` block in the experiment's `configuration`.
A cluster is touched only when `CONTEXT/NAMESPACE` is on an explicit allow-list, given by the person running
it (`--allow-cluster`, repeatable, or a file named by `$RESILIENCE_CLUSTER_ALLOWLIST`), never by the
experiment file itself; anything else is refused before any API call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from resilience.errors import UsageError

ALLOWLIST_ENV = "RESILIENCE_CLUSTER_ALLOWLIST"
"""A file of `context/namespace` lines (`#` comments) a run may touch."""


class KubernetesSpec(BaseModel):
    """A namespace of a Kubernetes cluster, reached through a kubeconfig context."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["kubernetes"] = "kubernetes"
    context: str = Field(min_length=1)
    """The kubeconfig context (its cluster and credentials); never the default one implicitly."""
    namespace: str = Field(min_length=1)
    kubeconfig: Path | None = None
    """The kubeconfig file; default `$KUBECONFIG` or `~/.kube/config`, as kubectl."""
    gateway: str | None = None
    """The platform's KServe v2 HTTP endpoint as this machine reaches it (`host:port`: a port-forward, an
    ingress), where the load goes; or give the load control a `target`."""
    gateway_grpc: str | None = None
    model: str = "qc_cnn"
    role_label: str = "resilience.dev/role"
    """The pod label that names a pod's role (`inference`, `gateway`, ...): pods without it are never touched."""
    region_label: str = "resilience.dev/region"
    variant_label: str = "resilience.dev/track"
    model_version_label: str = "resilience.dev/model-version"

    @property
    def key(self) -> str:
        return f"{self.context}/{self.namespace}"


TargetSpec = KubernetesSpec
"""A platform other than the local one (None stands for the local reference platform)."""


def allowed_clusters(flags: tuple[str, ...] | list[str] = ()) -> set[str]:
    """`context/namespace` entries from `--allow-cluster` and the file `$RESILIENCE_CLUSTER_ALLOWLIST` names."""
    entries = {f.strip() for f in flags if f.strip()}
    path = os.environ.get(ALLOWLIST_ENV)
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise UsageError(
                f"${ALLOWLIST_ENV}: cannot read {path} ({exc}); point it at a file of context/namespace lines"
            ) from exc
        entries |= {line.split("#", 1)[0].strip() for line in text.splitlines()} - {""}
    bad = sorted(e for e in entries if e.count("/") != 1 or not all(e.split("/")))
    if bad:
        raise UsageError(f"cluster allow-list: {bad} are not CONTEXT/NAMESPACE entries (e.g. kind-chaos/vision)")
    return entries


def check_allowed(spec: KubernetesSpec, allowed: set[str]) -> None:
    """Refuse (UsageError, exit 2) a cluster namespace nobody allowed: before any API call."""
    if spec.key not in allowed:
        listed = ", ".join(sorted(allowed)) or "nothing"
        raise UsageError(
            f"target: kubernetes context {spec.context!r} namespace {spec.namespace!r} is not on the cluster "
            f"allow-list ({listed}); if this run may inject faults there, pass `--allow-cluster {spec.key}` or add "
            f"the line `{spec.key}` to the file ${ALLOWLIST_ENV} names"
        )
