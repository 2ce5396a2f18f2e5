"""Where faults land. `local`: the reference platform's processes, via its supervisor's control API."""

from resilience.targets import lifecycle
from resilience.targets.local import LocalPlatform, Pod, default_state_dir

__all__ = ["LocalPlatform", "Pod", "default_state_dir", "lifecycle"]
