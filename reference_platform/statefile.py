"""The platform's state file (`contracts.STATE_FILE`): what the supervisor records once everything is ready.

The toolkit finds the platform through it (its control API and gateway), sweeps up after it by its id, and
refuses a second `platform up` of another shape; `contracts.PlatformState` is the one spelling of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reference_platform.contracts import (
    STATE_FILE,
    GatewayEndpoints,
    NetworkMode,
    NetworkState,
    PlatformState,
    RegionNetwork,
)
from reference_platform.netns import RegionNet


def network_state(networks: Mapping[str, RegionNet]) -> NetworkState:
    """The regions' networks: their namespaces, or loopback when there are none."""
    return NetworkState(
        mode=NetworkMode.NETNS if networks else NetworkMode.LOOPBACK,
        regions={region: RegionNetwork.model_validate(net.to_json()) for region, net in networks.items()},
    )


def gateway_endpoints(http_port: int, grpc_port: int, stats_port: int) -> GatewayEndpoints:
    return GatewayEndpoints(
        http=f"127.0.0.1:{http_port}",
        grpc=f"127.0.0.1:{grpc_port}",
        metrics=f"http://127.0.0.1:{stats_port}/metrics",
    )


def write(state_dir: Path, state: PlatformState) -> Path:
    """Write the state file at once (through a temporary file): a reader never sees half of it."""
    path = state_dir / STATE_FILE
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(path)
    return path
