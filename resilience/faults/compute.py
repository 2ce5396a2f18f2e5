"""Saturate the accelerator the replicas run on: the GPU when there is one, their CPU cores when not.

Never pretends: without a CUDA GPU the fault burns the replicas' CPU cores, and its record is named
`compute-saturation (no GPU present)`. Evidence is measured, not assumed: NVML utilization and memory
on a GPU; the burner's own CPU time and the cores' busy share from /proc/stat on a CPU.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psutil

from resilience.errors import UsageError
from resilience.faults.base import FaultContext
from resilience.model import FaultKind, FaultRecord
from resilience.targets import LocalPlatform, burner

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Saturation:
    """Keep the replicas' GPU (or, without one, their CPU cores) `utilization` busy for `duration_s`."""

    utilization: float = 0.9
    duration_s: float = 20.0
    vram_fraction: float = 0.0
    """GPU only: also hold this share of the device's free memory (GPU memory pressure)."""
    region: str | None = None
    device: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.utilization <= 1:
            raise UsageError(f"utilization: must be in (0, 1] (got {self.utilization})")
        if self.duration_s <= 0:
            raise UsageError(f"duration_s: must be > 0 (got {self.duration_s})")

    @property
    def kind(self) -> FaultKind:
        if not burner.gpu_present():
            return FaultKind.COMPUTE_SATURATION
        return (
            FaultKind.GPU_MEMORY_PRESSURE
            if self.vram_fraction > 0 and self.utilization == 0
            else FaultKind.GPU_SATURATION
        )

    def _cpus(self, platform: LocalPlatform) -> list[int]:
        """The cores the selected replicas may run on (their CPU affinity)."""
        cpus: set[int] = set()
        for pod in platform.select(role="inference", region=self.region):
            try:
                cpus |= set(psutil.Process(pod.pid).cpu_affinity() or [])
            except (psutil.Error, TypeError):
                continue
        return sorted(cpus)

    def _target(self, platform: LocalPlatform) -> str:
        if burner.gpu_present():
            return f"GPU {self.device}"
        return "CPU cores " + ",".join(map(str, self._cpus(platform))) + " of the inference replicas"

    def plan(self, platform: LocalPlatform) -> list[str]:
        return [f"{self.kind.value}: {self._target(platform)} at {self.utilization:.0%} for {self.duration_s:g} s"]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        gpu = burner.gpu_present()
        cpus = None if gpu else self._cpus(ctx.platform)
        if not gpu and not cpus:
            raise UsageError(
                f"no running inference replica{' in region ' + self.region if self.region else ''} to saturate"
            )
        kind, target = self.kind, self._target(ctx.platform)
        state = ctx.scratch(f"burner-{int(time.time() * 1000)}.json")
        entry = ctx.book.record(kind, target, [{"op": "stop-burner", "state_file": str(state)}])
        proc = None
        try:
            proc = burner.start_burner(
                self.utilization,
                self.duration_s,
                state,
                cpus=cpus,
                gpu=gpu,
                device=self.device,
                vram_fraction=self.vram_fraction,
                log_path=ctx.platform.state_dir / "logs" / "burner.log",
                timeout_s=30.0 if gpu else 10.0,  # torch import + CUDA start-up take seconds
            )
            entry = ctx.book.amend(entry, [{"op": "stop-burner", "pid": proc.pid, "state_file": str(state)}])
            at = time.time()
            slot = ctx.pending(FaultRecord(kind, target, at, False, {"burner_pid": proc.pid}, error="not verified yet"))
            final = proc.wait(self.duration_s + 10)
        finally:
            if proc is not None:
                final = proc.stop()
            ctx.book.clear(entry)
            state.unlink(missing_ok=True)
        achieved = float(final.get("achieved_utilization") or 0)
        evidence = {
            k: final.get(k)
            for k in (
                "label",
                "mode",
                "cpus",
                "device",
                "achieved_utilization",
                "system_busy",
                "gpu_util",
                "vram_held_bytes",
            )
        }
        evidence = {k: v for k, v in evidence.items() if v is not None} | {"target_utilization": self.utilization}
        if gpu:
            util = (final.get("gpu_util") or {}).get("mean", 0)
            landed = util >= 50 * self.utilization or (self.vram_fraction > 0 and final.get("vram_held_bytes", 0) > 0)
        else:
            landed = achieved >= 0.5 * self.utilization
        error = None if landed else f"the burner reached only {achieved:.0%} of its {self.utilization:.0%} target"
        return [ctx.settle(slot, FaultRecord(kind, target, at, landed, evidence, time.time(), error))]
