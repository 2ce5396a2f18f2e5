"""Load: an open-loop Locust generator in its own process, streaming HDR slices back over ZeroMQ."""

from resilience.load.generator import LoadGenerator
from resilience.load.spec import Arrival, LoadSpec

__all__ = ["Arrival", "LoadGenerator", "LoadSpec"]
