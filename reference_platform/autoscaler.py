"""Autoscaling inference replicas per region on the latency the gateway sees.

Every `period_s` the autoscaler reads, per region, HAProxy's average response time over the last
1,024 requests of each ready replica and the requests waiting in the region's queue. Above
`target_ms` (or with requests queued) it adds a replica, up to `max_replicas`; below half the target
for `scale_down_after_s` it drains and removes one, down to `min_replicas`. A new replica gets
`cooldown_s` to warm up before the next decision, so one slow spell does not start them all.
The extra replicas are pre-declared (disabled) slots in the gateway, so scaling needs no reload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_platform.config import AutoscalerConfig
    from reference_platform.fleet import Fleet
    from reference_platform.gateway import RuntimeAPI
    from reference_platform.pods import ReplicaPod

log = logging.getLogger("reference_platform.autoscaler")


@dataclass(frozen=True, slots=True)
class Observation:
    replicas: int
    rtime_ms: float
    queued: int
    low_for_s: float
    """How long the latency has stayed below half the target."""


def decide(obs: Observation, cfg: AutoscalerConfig) -> int:
    """+1 to add a replica, -1 to remove one, 0 to hold."""
    if (obs.rtime_ms > cfg.target_ms or obs.queued > 0) and obs.replicas < cfg.max_replicas:
        return 1
    if obs.rtime_ms < cfg.target_ms / 2 and obs.low_for_s >= cfg.scale_down_after_s and obs.replicas > cfg.min_replicas:
        return -1
    return 0


class Autoscaler:
    """Scales each of the gateway's regions within `cfg`'s bounds, using `slots` for the extra replicas."""

    def __init__(
        self,
        fleet: Fleet,
        gateway: RuntimeAPI,
        cfg: AutoscalerConfig,
        slots: Sequence[ReplicaPod],
        stopping: threading.Event,
    ) -> None:
        self.fleet, self.gateway, self.cfg, self.slots, self.stopping = fleet, gateway, cfg, slots, stopping
        self.low_since: dict[str, float | None] = {}
        self.last_change: dict[str, float] = {}
        self.events: list[dict[str, object]] = []
        self.last_stot: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, name="autoscaler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self.cfg.period_s):
            try:
                self.tick()
            except OSError as exc:
                log.warning("autoscaler: gateway runtime API: %s", exc)

    def tick(self) -> None:
        stats = self.gateway.server_stats()
        queued = self.gateway.backend_queues()
        now = time.time()
        for region in self.gateway.regions:
            if now - self.last_change.get(region, 0.0) < self.cfg.cooldown_s:
                continue
            active = [
                p for p in self.fleet.pods if p.region == region and p.role == "inference" and p.variant == "stable"
            ]
            ready = [p for p in active if p.ready and p.name in stats]
            if not ready or len(ready) < len(active):
                continue  # a replica is starting or restarting: judge the region once it is whole
            served = 0
            for p in ready:
                stot = int(stats[p.name].get("stot") or 0)
                served += stot - self.last_stot.get(p.name, stot)
                self.last_stot[p.name] = stot
            # HAProxy's rtime averages the last 1,024 requests and does not decay: an idle region is idle
            rtime = sum(float(stats[p.name].get("rtime") or 0) for p in ready) / len(ready) if served else 0.0
            if rtime < self.cfg.target_ms / 2:
                self.low_since[region] = self.low_since.get(region) or now
            else:
                self.low_since[region] = None
            low_since = self.low_since.get(region)
            obs = Observation(len(active), rtime, queued.get(region, 0), now - low_since if low_since else 0.0)
            step = decide(obs, self.cfg)
            if step:
                self._scale(region, step, obs)
                self.last_change[region], self.low_since[region] = time.time(), None

    def _scale(self, region: str, step: int, obs: Observation) -> None:
        if step > 0:
            slot = next(p for p in self.slots if p.region == region and p not in self.fleet.pods)
            log.info(
                "scaling region %s up to %d (avg response %.1f ms, %d queued)",
                region,
                obs.replicas + 1,
                obs.rtime_ms,
                obs.queued,
            )
            self.fleet.add_pod(slot)
            name = slot.name
        else:
            victim = next(p for p in reversed(self.fleet.pods) if p in self.slots and p.region == region)
            log.info("scaling region %s down to %d (avg response %.1f ms)", region, obs.replicas - 1, obs.rtime_ms)
            self.gateway.set_server_state(victim.name, "drain")
            time.sleep(1.0)  # let in-flight requests finish on the drained replica
            self.fleet.remove_pod(victim)
            self.gateway.set_server_state(victim.name, "maint")
            name = victim.name
        self.events.append(
            {
                "at": time.time(),
                "region": region,
                "step": step,
                "pod": name,
                "replicas": obs.replicas + step,
                "rtime_ms": obs.rtime_ms,
                "queued": obs.queued,
            }
        )
