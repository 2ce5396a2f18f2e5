"""Model and data faults: a degraded model rolled out as a canary, a stalled camera, corrupted frames.

They act through the platform's own control surfaces (its rollout API, the cameras' `/control`), the
way a bad release or a failing sensor reaches production, and the platform's response (an automatic
rollback, frames counted as corrupt) is part of the evidence.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from resilience.errors import ResilienceError, UsageError
from resilience.faults import args
from resilience.faults.base import FaultContext
from resilience.faults.ledger import AbortRollout, CameraControl
from resilience.model import FaultKind, FaultRecord
from resilience.targets import ROLLOUT_ENDED, RolloutState, Target

log = logging.getLogger(__name__)

ENDED = ROLLOUT_ENDED


@dataclass(frozen=True, slots=True)
class BadCanary:
    """Roll out model `version` as a canary at `weight`%, and watch for up to `duration_s` what the platform does.

    Ends early when the platform rolls it back on its own (the evidence it caught the bad release);
    otherwise the fault aborts the canary itself when the time is up.
    """

    version: int = 2
    weight: int = 10
    duration_s: float = 30.0
    max_error_ratio: float = 0.01
    max_latency_ratio: float = 2.0
    kind: FaultKind = FaultKind.BAD_CANARY

    def __post_init__(self) -> None:
        if not 1 <= self.weight <= 50:
            raise UsageError(f"weight: must be 1-50 percent (got {self.weight})")
        if self.version < 1:
            raise UsageError(f"version: must be a model version >= 1 (got {self.version})")
        args.positive("duration_s", self.duration_s)
        args.share("max_error_ratio", self.max_error_ratio)
        args.positive("max_latency_ratio", self.max_latency_ratio)

    def plan(self, platform: Target) -> list[str]:
        versions = platform.model_versions()
        if self.version not in versions:
            raise UsageError(
                f"version: model version {self.version} is not in the platform's model repository (it has "
                f"{versions}); build a degraded one with `python -m reference_platform.model.degrade` and start "
                "the platform on that repository (docs/faults.md#bad-canary)"
            )
        return [f"canary of model v{self.version} at {self.weight}% for up to {self.duration_s:g} s"]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        target = f"model v{self.version} canary at {self.weight}%"
        entry = ctx.book.record(self.kind, target, [AbortRollout()])
        try:
            started = ctx.platform.rollout(
                "",
                {
                    "strategy": "canary",
                    "version": self.version,
                    "weight": self.weight,
                    "max_error_ratio": self.max_error_ratio,
                    "max_latency_ratio": self.max_latency_ratio,
                },
            )
        except BaseException:
            ctx.book.clear(entry)  # refused (e.g. no such version): nothing was deployed
            raise
        at = time.time()
        slot = ctx.pending(FaultRecord(self.kind, target, at, False, {"rollout": started}))
        state = started
        try:
            deadline = time.monotonic() + self.duration_s
            while time.monotonic() < deadline and state.get("state") not in ENDED:
                time.sleep(0.25)
                state = ctx.platform.rollout()
        finally:
            # Whatever happened while watching (time up, an error, Ctrl-C), the canary must not stay: abort it
            # and forget the entry only once the rollout has ended; if that fails, `recover` still has it.
            watched = state.get("state")
            aborted_by_fault = watched not in ENDED
            try:
                if aborted_by_fault:
                    state = ctx.platform.rollout("abort")
                ctx.book.clear(entry)
            except ResilienceError as exc:
                log.warning("could not abort the canary (%s); `resilience recover` will", exc)
        landed, evidence, error, unmet = self._judge(state, watched if aborted_by_fault else None)
        recovered = state.get("decided_at") or time.time()
        return [ctx.settle(slot, FaultRecord(self.kind, target, at, landed, evidence, recovered, error, unmet))]

    def _judge(
        self, state: dict[str, Any], timed_out_in: str | None
    ) -> tuple[bool, dict[str, Any], str | None, str | None]:
        """(landed, evidence, error, unmet) from the rollout's final state.

        `timed_out_in`: the state the rollout was still in when the watch ended (the fault then aborted
        it), None when it had ended on its own. Landed: the canary served requests. Met: the platform
        itself rolled it back; a canary it promoted, or one still running when the time ran out, is `unmet`.
        """
        served = sum(int(c.get("requests", 0)) for c in (state.get("canary") or {}).values())
        final = state.get("state")
        rolled_back = final == RolloutState.ROLLED_BACK
        evidence: dict[str, Any] = {
            "final_state": final,
            "reason": state.get("reason"),
            "canary": state.get("canary"),
            "canary_requests": served,
            "rolled_back_by_platform": rolled_back,
            "aborted_by_fault": timed_out_in is not None and final == RolloutState.ABORTED,
        }
        if state.get("decided_at") and rolled_back:
            evidence["time_to_rollback_s"] = round(state["decided_at"] - state["started_at"], 3)
        landed = served > 0
        error = None if landed else "the canary served no request (is load flowing? did it become ready?)"
        unmet = None
        if landed and not rolled_back:  # a canary that served nothing gave the platform nothing to judge
            if timed_out_in is None:
                how = f"final state: {final}"
            elif final == RolloutState.ABORTED:
                how = f"still {timed_out_in} when the time ran out; the fault aborted it"
            else:
                how = f"still {final} when the time ran out; the fault could not abort it, `resilience recover` will"
            unmet = f"the platform did not roll back the bad canary within {self.duration_s:g} s ({how})"
        return landed, evidence, error, unmet


@dataclass(frozen=True, slots=True)
class CameraFault:
    """Stall cameras (`stall`: their ids) or corrupt a share of all frames (`corrupt_ratio`), for `duration_s`."""

    stall: list[int] = field(default_factory=list)
    corrupt_ratio: float = 0.0
    duration_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.stall and not 0 < self.corrupt_ratio <= 1:
            raise UsageError(
                f"cameras: give camera ids to stall, or ratio: a share of frames to corrupt in (0, 1] "
                f"(got cameras {self.stall}, ratio {self.corrupt_ratio})"
            )
        if any(c < 0 for c in self.stall):
            raise UsageError(f"cameras: camera ids are >= 0 (got {self.stall})")
        args.positive("duration_s", self.duration_s)

    @property
    def kind(self) -> FaultKind:
        return FaultKind.CAMERA_STALL if self.stall else FaultKind.CORRUPT_FRAMES

    def plan(self, platform: Target) -> list[str]:
        cameras = self._cameras(platform)  # PlatformError naming `--pipeline` when there are none
        missing = [c for c in self.stall if c not in cameras]
        if cameras and missing:  # (a camera is counted from its first frame: none yet says nothing)
            raise UsageError(f"cameras: the platform has cameras {sorted(cameras)}, not {missing}")
        what = f"stall camera(s) {self.stall}" if self.stall else f"corrupt {self.corrupt_ratio:.0%} of frames"
        return [f"{what} for {self.duration_s:g} s"]

    @staticmethod
    def _cameras(platform: Target) -> set[int]:
        prefix = 'pipeline_camera_frames_sent_total{camera="'
        return {int(k[len(prefix) :].split('"')[0]) for k in platform.stage_metrics("cameras") if k.startswith(prefix)}

    def _counts(self, platform: Target) -> dict[str, float]:
        cams = platform.stage_metrics("cameras")
        pre = platform.stage_metrics("preprocess")
        counts = {
            "corrupted_sent": cams.get("pipeline_camera_frames_corrupted_total", 0.0),
            "rejected_by_preprocessing": sum(
                v for k, v in pre.items() if k.startswith("pipeline_preprocess_frames_rejected_total")
            ),
        }
        for key, value in cams.items():  # frames sent per camera: a stalled one stops counting
            if key.startswith('pipeline_camera_frames_sent_total{camera="'):
                counts["sent_camera_" + key.split('"')[1]] = value
        return counts

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        before_settings = ctx.platform.camera_control({})
        restore = {k: before_settings[k] for k in ("stalled", "corrupt_ratio")}
        target = f"camera(s) {self.stall}" if self.stall else "all cameras"
        entry = ctx.book.record(self.kind, target, [CameraControl(settings=restore)])
        change: dict[str, Any] = {"stalled": self.stall} if self.stall else {"corrupt_ratio": self.corrupt_ratio}
        try:
            ctx.platform.camera_control(change)
            at = time.time()
            # counted once the change is in: on a slow box reading two stages' metrics takes longer than a frame
            before = self._counts(ctx.platform)
            slot = ctx.pending(
                FaultRecord(self.kind, target, at, False, {"settings": change}, error="not verified yet")
            )
            time.sleep(self.duration_s)
            after = self._counts(ctx.platform)
        finally:
            ctx.platform.camera_control(restore)
            ctx.book.clear(entry)
        delta = {k: after[k] - before.get(k, 0.0) for k in after}
        if self.stall:
            stalled = [delta.get(f"sent_camera_{c}", -1.0) for c in self.stall]
            others = [
                v
                for k, v in delta.items()
                if k.startswith("sent_camera_") and int(k.rsplit("_", 1)[1]) not in self.stall
            ]
            # a camera sends at most one frame already scheduled when the stall lands
            landed = all(0 <= v <= 1 for v in stalled) and any(v > 0 for v in others)
        else:
            landed = delta["rejected_by_preprocessing"] > 0
        error = None if landed else f"no stalled camera or rejected frame was seen: {delta}"
        return [
            ctx.settle(
                slot, FaultRecord(self.kind, target, at, landed, {"settings": change} | delta, time.time(), error)
            )
        ]
