"""Load: an open-loop Locust generator in its own process (or Locust's master and workers), streaming HDR
slices back over ZeroMQ."""

from pathlib import Path

from resilience.load.generator import LoadGenerator
from resilience.load.spec import DEFAULT_INPUT, DEFAULT_PAYLOAD, Arrival, LoadSpec
from resilience.load.workers import DistributedLoadGenerator


def generator_for(
    spec: LoadSpec, *, target: str, payload: Path, model: str, input_name: str, log_path: Path
) -> LoadGenerator:
    """The generator `spec` asks for: one process, or Locust's master and workers (`workers`, `remote_workers`)."""
    cls = DistributedLoadGenerator if spec.workers or spec.remote_workers else LoadGenerator
    return cls(spec, target=target, payload=payload, model=model, input_name=input_name, log_path=log_path)


__all__ = [
    "DEFAULT_INPUT",
    "DEFAULT_PAYLOAD",
    "Arrival",
    "DistributedLoadGenerator",
    "LoadGenerator",
    "LoadSpec",
    "generator_for",
]
