"""Warm spares: replicas booted ahead of need, so a dead replica is replaced in milliseconds.

A replica's restart is dominated by booting tritonserver and loading the model (~3 s
here, far longer for a large model on a GPU). Nothing of a SIGKILLed process can be reused, so the
warm start is a standby: the keeper holds `serving.warm_spares` ready replicas per region outside
the gateway. When a replica dies, the supervisor hands its identity to a ready spare of the same
region and model version (the gateway entry is re-pointed to the spare's ports through the runtime
API) and the keeper boots a new spare in the background. Without a ready spare the replica restarts
cold, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from reference_platform import probes
from reference_platform.pods import Launcher, ReplicaPod, clean_workspace, stop_group

log = logging.getLogger("reference_platform.spares")


def serving(pod: ReplicaPod, body: probes.InferRequest, timeout_s: float = 1.0) -> bool:
    """Ready *and* answering a real inference: a spare whose model says ready but cannot infer (its backend
    stub failed) must never take over a replica's identity."""
    live, ready = probes.probe(pod, timeout_s, body)
    return live and ready


class SpareKeeper:
    """Keeps `per_region` ready spares of `model_version` in each region, made and started by `launcher`."""

    def __init__(
        self,
        per_region: int,
        *,
        regions: Sequence[str],
        model_version: int,
        launcher: Launcher,
        probe_body: probes.InferRequest,
        stopping: threading.Event,
    ) -> None:
        self.per_region, self.regions, self.model_version = per_region, regions, model_version
        self.launcher, self.probe_body, self.stopping = launcher, probe_body, stopping
        self.lock = threading.Lock()
        self.spares: list[ReplicaPod] = []
        self.counter = 0
        self.handovers = 0
        self.thread = threading.Thread(target=self._run, name="spares", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _new(self, region: str) -> ReplicaPod:
        self.counter += 1
        pod = self.launcher.replica(
            f"{region}-spare-{self.counter}",
            region,
            model_version=self.model_version,
            variant="spare",
        )
        self.launcher.start(pod)
        return pod

    def _run(self) -> None:
        while not self.stopping.wait(0.2):
            with self.lock:
                booting = [p for p in self.spares if not p.ready]
            # probe outside the lock: a replica's restart must never wait on a spare's readiness probe
            now_ready = {p.name for p in booting if serving(p, self.probe_body)}
            with self.lock:
                for pod in list(self.spares):
                    if pod.proc is not None and pod.proc.poll() is not None:  # a spare died: replace it
                        log.warning("spare %s exited (%s); replacing it", pod.name, pod.proc.returncode)
                        clean_workspace(pod)
                        self.spares.remove(pod)
                    elif pod.name in now_ready:
                        pod.ready = True
                        log.info("spare %s ready (pid %s)", pod.name, pod.pid)
                for region in self.regions:
                    while sum(1 for p in self.spares if p.region == region) < self.per_region:
                        self.spares.append(self._new(region))
        self.stop_all()

    def take(self, region: str, version: int) -> ReplicaPod | None:
        """A ready spare of `region` serving `version`, now no longer a spare; None if there is none."""
        with self.lock:
            for pod in self.spares:
                if (
                    pod.region == region
                    and pod.ready
                    and pod.model_version == version
                    and pod.proc is not None
                    and pod.proc.poll() is None
                ):
                    self.spares.remove(pod)
                    self.handovers += 1
                    return pod
        return None

    def stop_all(self) -> None:
        with self.lock:
            for pod in self.spares:
                if pod.proc is not None:
                    stop_group(pod.proc, grace_s=8)
                    clean_workspace(pod)
            self.spares.clear()

    def status(self) -> list[dict[str, object]]:
        with self.lock:
            return [
                {"name": p.name, "region": p.region, "pid": p.pid, "ready": p.ready, "model_version": p.model_version}
                for p in self.spares
            ]
