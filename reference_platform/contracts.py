"""The wire contracts shared by the reference platform and the toolkit (`resilience`), spelled once.

What the supervisor writes and serves, and what the toolkit reads back: the rollout states of the control
API's `/rollout` JSON, the state file's name, the socket and workspace names the toolkit cleans up after a
platform that died, and the environment variable every platform process carries. The platform uses these
itself; the toolkit sees them through `resilience.targets` (its one seam to a platform). This module imports
nothing of the platform, and the platform never imports the toolkit.
"""

from __future__ import annotations

import enum


class RolloutState(enum.StrEnum):
    """The `state` of a rollout, as `/rollout` serves it (the values are the JSON strings on the wire).

    canary and shadow: starting -> progressing -> rolled-back | promoting -> promoted | aborted.
    blue-green: starting -> switched -> rolled-back | promoted | aborted.
    """

    NONE = "none"
    """No rollout was ever started (the control API's answer then)."""
    STARTING = "starting"
    PROGRESSING = "progressing"
    SWITCHED = "switched"
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"


ROLLOUT_ACTIVE = frozenset(
    {RolloutState.STARTING, RolloutState.PROGRESSING, RolloutState.SWITCHED, RolloutState.PROMOTING}
)
"""A rollout still running: no other one may start, and a fault that started it must still end it."""
ROLLOUT_ENDED = frozenset({RolloutState.PROMOTED, RolloutState.ROLLED_BACK, RolloutState.ABORTED})
"""A rollout that is over: nothing of it is left to promote, abort or roll back."""

STATE_FILE = "platform.json"
"""In the platform's state dir: its endpoints, written by the supervisor once everything is ready."""
GATEWAY_SOCKET = "haproxy.sock"
"""In the platform's state dir: the gateway's (HAProxy's) runtime API socket."""
PLATFORM_ID_ENV = "RESILIENCE_PLATFORM_ID"
"""Every process of a platform carries this variable; `platform down` sweeps by it."""
WORKSPACE_PREFIX = "rsw-"
"""The replicas' workspaces live in `$TMPDIR/rsw-<platform id[:12]>` (short: they hold Unix sockets)."""
SHM_PREFIX = "rsw"
"""A replica's python-backend shared-memory segments are `/dev/shm/rsw<tritonserver pid>_...`."""
