"""Where faults land, behind one seam (`base.Target`; faults see nothing else). `local`: the reference platform's
processes, via its supervisor's control API; `kubernetes`: a cluster namespace through the API (`clusters`:
which one, and the allow-list);
its network (`netfilter`: nftables and tc; `faultproxy`: the unprivileged userspace proxy) and its
compute (`burner`). `RolloutState`, `ROLLOUT_ENDED`: the rollout states on the platform's wire, spelled once in
`reference_platform.contracts` (the rest of the toolkit takes them from here, never from the platform)."""

from pathlib import Path

from reference_platform.contracts import ROLLOUT_ENDED, RolloutState
from resilience.targets import burner, faultproxy, lifecycle, netfilter
from resilience.targets.base import Pod, PodExit, Target
from resilience.targets.clusters import KubernetesSpec, TargetSpec, allowed_clusters, check_allowed
from resilience.targets.local import LocalPlatform, default_state_dir


def connect(state_dir: Path | None = None, spec: TargetSpec | None = None, allowed: set[str] | None = None) -> Target:
    """The target a run works on: the one place a run chooses it.

    No `spec`: the local reference platform recorded in `state_dir` (PlatformError when there is none).
    A Kubernetes `spec`: that namespace, only if it is in `allowed` (UsageError before any API call); its
    fault ledger lives in `state_dir/kubernetes/CONTEXT/NAMESPACE`.
    """
    if spec is None:
        return LocalPlatform(state_dir)
    check_allowed(spec, allowed or set())
    from resilience.targets.kubernetes import KubernetesTarget

    base = state_dir or default_state_dir()
    return KubernetesTarget(spec, base / "kubernetes" / spec.context / spec.namespace)


__all__ = [
    "ROLLOUT_ENDED",
    "KubernetesSpec",
    "LocalPlatform",
    "Pod",
    "PodExit",
    "RolloutState",
    "Target",
    "TargetSpec",
    "allowed_clusters",
    "burner",
    "check_allowed",
    "connect",
    "default_state_dir",
    "faultproxy",
    "lifecycle",
    "netfilter",
]
