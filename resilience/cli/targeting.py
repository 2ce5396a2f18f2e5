"""`--target kubernetes --context C --namespace N`: which platform a command's faults land on, and who allowed it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from resilience.errors import UsageError
from resilience.targets.clusters import ALLOWLIST_ENV, KubernetesSpec, TargetSpec, allowed_clusters

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--target",
        "target_kind",
        type=click.Choice(["local", "kubernetes"]),
        default=None,
        help="Where faults land: the local reference platform (default), or a Kubernetes namespace "
        "(or the experiment's `configuration.target`).",
    ),
    click.option(
        "--context",
        "kube_context",
        help="Kubernetes: the kubeconfig context (required; never the current one implicitly).",
    ),
    click.option("--namespace", "kube_namespace", help="Kubernetes: the namespace the platform runs in (required)."),
    click.option(
        "--kubeconfig",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Kubernetes: the kubeconfig file [default: as kubectl].",
    ),
    click.option(
        "--gateway", help="Kubernetes: the platform's KServe v2 HTTP endpoint as this machine reaches it (HOST:PORT)."
    ),
    click.option(
        "--allow-cluster",
        multiple=True,
        metavar="CONTEXT/NAMESPACE",
        help=f"Allow faults in this cluster namespace (repeatable; or list them in the file ${ALLOWLIST_ENV} names).",
    ),
]


def target_options(fn: F) -> F:
    """The target flags, for every command that injects faults or plans them."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def resolve_target(
    target_kind: str | None,
    kube_context: str | None,
    kube_namespace: str | None,
    kubeconfig: Path | None,
    gateway: str | None,
    allow_cluster: tuple[str, ...],
    with_platform: bool = False,
) -> tuple[TargetSpec | None, frozenset[str]]:
    """The command line's target (None: the local platform or the experiment's block) and the allow-list."""
    allowed = frozenset(allowed_clusters(allow_cluster))
    kube_flags = {
        "--context": kube_context,
        "--namespace": kube_namespace,
        "--kubeconfig": kubeconfig,
        "--gateway": gateway,
    }
    if target_kind != "kubernetes":
        given = [flag for flag, value in kube_flags.items() if value]
        if given:
            raise UsageError(f"{', '.join(given)}: only with `--target kubernetes`")
        return None, allowed
    missing = [flag for flag in ("--context", "--namespace") if not kube_flags[flag]]
    if missing:
        raise UsageError(f"--target kubernetes needs {' and '.join(missing)} (the kubeconfig context and namespace)")
    if with_platform:
        raise UsageError("--with-platform starts the local platform: not with `--target kubernetes`")
    spec = KubernetesSpec(
        context=str(kube_context), namespace=str(kube_namespace), kubeconfig=kubeconfig, gateway=gateway
    )
    return spec, allowed
