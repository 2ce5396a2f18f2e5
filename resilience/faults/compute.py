"""Saturate the accelerator the replicas run on: the GPU when there is one, their CPU cores when not.

Never pretends: without a CUDA GPU the fault burns the replicas' CPU cores, and its record is named
`compute-saturation (no GPU present)`. Evidence is measured, not assumed: NVML utilization and memory
on a GPU; the burner's own CPU time and the cores' busy share from /proc/stat on a CPU.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from resilience.errors import UsageError
from resilience.faults import args
from resilience.faults.base import FaultContext
from resilience.faults.ledger import StopBurner
from resilience.model import FaultKind, FaultRecord
from resilience.targets import Target
from resilience.targets.base import Compute

log = logging.getLogger(__name__)

UTILIZATION_TOLERANCE = 0.8
"""A burn lands when its measured utilization reaches this share of the target. Why not 1.0: NVML's
utilization is the share of each sample period (1/6 to 1 s, by GPU) with a kernel running, read every
0.5 s against the burner's 0.1 s duty cycle, so single samples swing by tens of percent and the first
one covers time before the burn; on a CPU the duty cycle loses its sleep overshoot and start-up (fork of
the workers) to the measured share. Below 80% of the target it is a weaker fault than the one asked for."""
VRAM_TOLERANCE = 0.8
"""The memory held must reach this share of `vram_fraction` x the free memory measured before the burner
started: the burner sizes its hold after its own CUDA context, cuBLAS workspace and matmul buffers."""


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
        args.share("utilization", self.utilization)
        args.positive("duration_s", self.duration_s)
        if not 0 <= self.vram_fraction < 1:
            raise UsageError(f"vram_fraction: must be in [0, 1) (got {self.vram_fraction})")

    def kind_on(self, compute: Compute) -> FaultKind:
        """What this fault is where it lands: GPU saturation or memory pressure, or CPU saturation without a GPU."""
        if not compute.gpu:
            return FaultKind.COMPUTE_SATURATION
        return (
            FaultKind.GPU_MEMORY_PRESSURE
            if self.vram_fraction > 0 and self.utilization == 0
            else FaultKind.GPU_SATURATION
        )

    @staticmethod
    def _target(compute: Compute) -> str:
        if compute.gpu:
            return "GPU"
        return "CPU cores " + ",".join(map(str, compute.cpus)) + " of the inference replicas"

    def plan(self, platform: Target) -> list[str]:
        compute = platform.compute(self.region)
        what = self._target(compute).replace("GPU", f"GPU {self.device}", 1)
        return [f"{self.kind_on(compute).value}: {what} at {self.utilization:.0%} for {self.duration_s:g} s"]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        compute = ctx.platform.compute(self.region)
        if not compute.gpu and not compute.cpus:
            raise UsageError(
                f"no running inference replica{' in region ' + self.region if self.region else ''} to saturate"
            )
        kind = self.kind_on(compute)
        target = self._target(compute).replace("GPU", f"GPU {self.device}", 1)
        vram_free_before = ctx.platform.free_vram_bytes(self.device) if compute.gpu and self.vram_fraction > 0 else None
        state = ctx.scratch(f"burner-{int(time.time() * 1000)}.json")
        entry = ctx.book.record(kind, target, [StopBurner(state_file=str(state))])
        proc = None
        try:
            proc = ctx.platform.start_burner(
                self.utilization,
                self.duration_s,
                state,
                compute,
                device=self.device,
                vram_fraction=self.vram_fraction,
                timeout_s=30.0 if compute.gpu else 10.0,  # torch import + CUDA start-up take seconds
            )
            entry = ctx.book.amend(entry, [StopBurner(pid=proc.pid, state_file=str(state))])
            at = time.time()
            slot = ctx.pending(FaultRecord(kind, target, at, False, {"burner_pid": proc.pid}, error="not verified yet"))
            final = proc.wait(self.duration_s + 10)
        finally:
            if proc is not None:
                final = proc.stop()
            ctx.book.clear(entry)
            state.unlink(missing_ok=True)
        landed, evidence, error = judge_burn(final, self.utilization, self.vram_fraction, vram_free_before)
        return [ctx.settle(slot, FaultRecord(kind, target, at, landed, evidence, time.time(), error))]


def judge_burn(
    final: dict[str, Any], utilization: float, vram_fraction: float = 0.0, vram_free_before: int | None = None
) -> tuple[bool, dict[str, Any], str | None]:
    """(landed, evidence, error) from the burner's final state: the measured strength against the target.

    GPU: NVML's mean utilization (or, when NVML gave none, the burner's own synchronised busy share)
    must reach `UTILIZATION_TOLERANCE` of the target, and with `vram_fraction` the memory held must
    be that share of the free memory measured before the burner started. CPU: the burner's exact CPU
    time over its wall time and cores must reach the same tolerance of the target.
    """
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
            "nvml_error",
        )
    }
    evidence = {k: v for k, v in evidence.items() if v is not None} | {"target_utilization": utilization}
    problems = []
    if final.get("mode") == "gpu":
        gpu_util = final.get("gpu_util") or {}
        if gpu_util.get("mean") is not None:
            measured, measured_by = float(gpu_util["mean"]) / 100, "NVML utilization (mean of 0.5 s samples)"
        else:
            measured = float(final.get("achieved_utilization") or 0)
            measured_by = f"the burner's synchronised busy time (no NVML utilization: {final.get('nvml_error')})"
    else:
        measured = float(final.get("achieved_utilization") or 0)
        measured_by = "the burner's CPU time over its wall time and cores"
    evidence |= {
        "target": utilization,
        "measured": round(measured, 4),
        "measured_by": measured_by,
        "tolerance": UTILIZATION_TOLERANCE,
    }
    if measured < UTILIZATION_TOLERANCE * utilization:
        problems.append(
            f"the burn reached {measured:.0%} ({measured_by}), under {UTILIZATION_TOLERANCE:.0%} of its "
            f"{utilization:.0%} target"
        )
    if vram_fraction > 0:
        held = int(final.get("vram_held_bytes") or 0)
        used_min = (final.get("vram_used_bytes") or {}).get("min")
        held_fraction = held / vram_free_before if vram_free_before else None
        evidence |= {
            "vram_target_fraction": vram_fraction,
            "vram_free_before_bytes": vram_free_before,
            "vram_held_fraction": round(held_fraction, 4) if held_fraction is not None else None,
            "vram_used_min_bytes": used_min,
        }
        if held_fraction is None:
            problems.append("the free GPU memory before the burn is unknown (NVML did not answer): no held share")
        elif held_fraction < VRAM_TOLERANCE * vram_fraction:
            problems.append(
                f"the burner held {held_fraction:.1%} of the free GPU memory, under {VRAM_TOLERANCE:.0%} of the "
                f"{vram_fraction:.1%} asked for"
            )
        elif used_min is not None and used_min < held:
            problems.append(f"NVML saw {used_min:.0f} bytes in use at some point, less than the {held} held")
    landed = not problems
    return landed, evidence, "; ".join(problems) or None
