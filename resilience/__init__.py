"""resilience: chaos experiments under real load, with SLO verdicts a release gate can trust."""

import logging
from typing import Any

from resilience._version import __version__

__all__ = ["__version__", "discover"]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def discover(discover_system: bool = True) -> dict[str, Any]:
    """`chaos discover resilience`: Chaos Toolkit imports the distribution's top-level package and calls this."""
    from resilience.ctk import discover as discover_activities

    return discover_activities(discover_system)
