"""Where faults land. `local`: the reference platform's processes, via its supervisor's control API;
its network (`netfilter`: nftables and tc; `faultproxy`: the unprivileged userspace proxy) and its
compute (`burner`)."""

from resilience.targets import burner, faultproxy, lifecycle, netfilter
from resilience.targets.local import LocalPlatform, Pod, default_state_dir

__all__ = ["LocalPlatform", "Pod", "burner", "default_state_dir", "faultproxy", "lifecycle", "netfilter"]
