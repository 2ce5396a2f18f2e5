"""Where faults land. `local`: the reference platform's processes, via its supervisor's control API."""

from resilience.targets.local import LocalPlatform, Pod, default_state_dir

from resilience.targets import lifecycle  # noqa: E402,I001 - needs local first

__all__ = ["LocalPlatform", "Pod", "default_state_dir", "lifecycle"]
