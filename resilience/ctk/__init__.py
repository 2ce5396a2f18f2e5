"""The Chaos Toolkit surface of resilience: actions, probes and the load control.

`chaos discover resilience` lists the activities of `resilience.ctk.actions` and
`resilience.ctk.probes`; experiments name them as python providers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["discover"]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Describe this extension's activities for `chaos discover`."""
    from chaoslib.discovery.discover import discover_activities, initialize_discovery_result

    from resilience._version import __version__

    result: dict[str, Any] = initialize_discovery_result("resilience", __version__, "resilience")
    result["activities"].extend(discover_activities("resilience.ctk.actions", "action"))
    result["activities"].extend(discover_activities("resilience.ctk.probes", "probe"))
    return result
