"""Where faults land, behind one seam (`base.Target`; faults see nothing else). `local`: the reference platform's processes, via its supervisor's control API;
its network (`netfilter`: nftables and tc; `faultproxy`: the unprivileged userspace proxy) and its
compute (`burner`). `RolloutState`, `ROLLOUT_ENDED`: the rollout states on the platform's wire, spelled once in
`reference_platform.contracts` (the rest of the toolkit takes them from here, never from the platform)."""

from pathlib import Path

from reference_platform.contracts import ROLLOUT_ENDED, RolloutState
from resilience.targets import burner, faultproxy, lifecycle, netfilter
from resilience.targets.base import Pod, PodExit, Target
from resilience.targets.local import LocalPlatform, default_state_dir


def connect(state_dir: Path | None = None) -> Target:
    """The target a run works on. Today the local reference platform recorded in `state_dir` (PlatformError
    when there is none); the one place a run chooses its target."""
    return LocalPlatform(state_dir)


__all__ = [
    "ROLLOUT_ENDED",
    "LocalPlatform",
    "Pod",
    "PodExit",
    "RolloutState",
    "Target",
    "burner",
    "connect",
    "default_state_dir",
    "faultproxy",
    "lifecycle",
    "netfilter",
]
