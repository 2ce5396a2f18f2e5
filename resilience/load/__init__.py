"""Load: an open-loop Locust generator in its own process, streaming HDR slices back over ZeroMQ."""

from resilience.load.generator import LoadGenerator
from resilience.load.spec import DEFAULT_INPUT, DEFAULT_PAYLOAD, Arrival, LoadSpec

__all__ = ["DEFAULT_INPUT", "DEFAULT_PAYLOAD", "Arrival", "LoadGenerator", "LoadSpec"]
