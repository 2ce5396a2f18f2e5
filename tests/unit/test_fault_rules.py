"""When a fault counts as landed: the measured effect at its stated strength, never "something happened".

The rules are judged on the figures the real tools report (NVML and the burner's state, tc's qdisc
statistics, the supervisor's exit records); the pod kill also runs end to end against a fake platform
whose supervisor reports exits we did not cause.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from resilience.faults import FaultContext, PodKill, Selector
from resilience.faults.bandwidth import judge_shaping
from resilience.faults.compute import UTILIZATION_TOLERANCE, judge_burn
from resilience.faults.pod import judge_exit
from resilience.targets import LocalPlatform, Pod, PodExit
from resilience.targets.base import TbfStats
from resilience.targets.regionnet import parse_tbf

# --- pod kill -------------------------------------------------------------------------------------

SENT = 1000.0


def _exit(after_s: float, reason: str, sig: str | None = None, code: int = 0) -> PodExit:
    rc = -signal.Signals[sig].value if sig else code
    return PodExit(42, rc, SENT + after_s, reason, sig)


@pytest.mark.parametrize(
    ("exit_", "fault_signal", "escalated_after", "was_ready", "landed", "how"),
    [
        (_exit(0.1, "exited: signal 9", "SIGKILL"), "SIGKILL", None, True, True, "killed by our SIGKILL"),
        (_exit(0.2, "exited: signal 15", "SIGTERM"), "SIGTERM", None, True, True, "killed by our SIGTERM"),
        (_exit(1.5, "exited: code 0"), "SIGTERM", None, True, True, "graceful shutdown"),
        (_exit(5.1, "exited: signal 9", "SIGKILL"), "SIGTERM", 5.0, True, True, "escalated"),
        # the replica stops serving as it shuts down, and the supervisor's liveness probe cuts it short
        (_exit(1.1, "liveness probe failed 3 times", "SIGKILL"), "SIGTERM", None, True, True, "inside its 5 s grace"),
        # not ours: the pod was already gone or failing, or someone else's hand ended it
        (_exit(-0.3, "exited: signal 9", "SIGKILL"), "SIGKILL", None, True, False, "before our SIGKILL"),
        (_exit(-0.3, "exited: code 1", code=1), "SIGTERM", None, True, False, "before our SIGTERM"),
        (_exit(0.8, "liveness probe failed 3 times", "SIGKILL"), "SIGTERM", None, False, False, "not ready when"),
        (_exit(0.8, "liveness probe failed 3 times", "SIGKILL"), "SIGKILL", None, True, False, "ended it itself"),
        (_exit(9.0, "liveness probe failed 3 times", "SIGKILL"), "SIGTERM", None, True, False, "ended it itself"),
        (_exit(0.5, "rollout: restarted on v2", "SIGTERM"), "SIGTERM", None, True, False, "ended it itself"),
        (_exit(0.4, "exited: signal 9", "SIGKILL"), "SIGTERM", None, True, False, "which we did not send"),
        (_exit(0.4, "exited: signal 6", "SIGABRT"), "SIGTERM", None, True, False, "SIGABRT, which we did not send"),
        (_exit(9.0, "exited: code 0"), "SIGTERM", None, True, False, "past its grace"),
        (_exit(0.4, "exited: code 0"), "SIGKILL", None, True, False, "not killed by our SIGKILL"),
    ],
)
def test_a_kill_lands_only_when_the_pod_ended_because_of_our_signal(
    exit_: dict[str, Any], fault_signal: str, escalated_after: float | None, was_ready: bool, landed: bool, how: str
) -> None:
    escalated_at = SENT + escalated_after if escalated_after is not None else None
    ok, ended_by = judge_exit(exit_, fault_signal, SENT, 5.0, escalated_at, was_ready)
    assert (ok, how in ended_by) == (landed, True), ended_by


class _Supervisor(LocalPlatform):
    """Two replicas; the one signalled is reported ended by `exit_at_offset_s` after the signal, for `reason`."""

    def __init__(self, state_dir: Path, reason: str, sig: str, exit_at_offset_s: float, ready: bool = True) -> None:
        (state_dir / "platform.json").write_text(
            json.dumps(
                {
                    "control_url": "http://127.0.0.1:9",
                    "gateway": {"http": "http://127.0.0.1:9", "grpc": "127.0.0.1:9"},
                    "model": "m",
                }
            )
        )
        super().__init__(state_dir)
        self.reason, self.sig, self.offset, self.ready = reason, sig, exit_at_offset_s, ready
        self.sent: list[tuple[int | None, str, float]] = []

    def pods(self) -> list[Pod]:
        pods = [Pod("a-1", "inference", "a", 201, True, 0, 1.0, None)]
        if not self.sent:
            return [Pod("a-0", "inference", "a", 101, self.ready, 0, 1.0, None), *pods]
        at = self.sent[0][2] + self.offset
        rc = -signal.Signals[self.sig].value
        exit_ = PodExit(101, rc, at, self.reason, self.sig)
        return [Pod("a-0", "inference", "a", 102, True, 1, at + 1, exit_), *pods]

    def signal_pod(self, pod: Pod, sig: signal.Signals, missing_ok: bool = False) -> float:
        at = time.time()
        self.sent.append((pod.pid, sig.name, at))
        return at

    def group_states(self, pgid: int) -> dict[int, str]:
        return {}  # the group is gone at once: no escalation


@pytest.mark.parametrize(
    ("fault_signal", "reason", "sig", "offset_s", "ready"),
    [
        # the old rule: any exit after a SIGTERM landed
        ("SIGTERM", "exited: signal 9", "SIGKILL", 0.5, True),  # a SIGKILL we never sent (no escalation)
        ("SIGTERM", "liveness probe failed 3 times", "SIGKILL", 0.5, False),  # it was failing before we came
        # the old rule: the right signal landed, whenever it came
        ("SIGKILL", "exited: signal 9", "SIGKILL", -0.5, True),  # it was dead before we signalled it
    ],
)
def test_pod_kill_does_not_claim_an_exit_it_did_not_cause(
    tmp_path: Path, fault_signal: str, reason: str, sig: str, offset_s: float, ready: bool
) -> None:
    platform = _Supervisor(tmp_path, reason, sig, offset_s, ready)
    fault = PodKill(Selector(labels={"name": "a-0"}), signal_name=fault_signal, evidence_timeout_s=1)
    (record,) = fault.inject(FaultContext(platform))
    assert platform.sent[0][:2] == (101, fault_signal)
    assert not record.landed, record.evidence
    assert f"did not end because of our {fault_signal}" in (record.error or ""), record.error
    assert record.evidence["exit_seen_by_parent"]["reason"] == reason


def test_pod_kill_names_how_a_sigterm_landed(tmp_path: Path) -> None:
    platform = _Supervisor(tmp_path, "exited: signal 15", "SIGTERM", 0.2)
    (record,) = PodKill(Selector(labels={"name": "a-0"}), signal_name="SIGTERM").inject(FaultContext(platform))
    assert record.landed and record.evidence["ended_by"] == "killed by our SIGTERM", record.evidence


# --- compute saturation ----------------------------------------------------------------------------


def _cpu(achieved: float) -> dict[str, Any]:
    return {"mode": "cpu", "label": "compute-saturation (no GPU present)", "achieved_utilization": achieved}


def _gpu(mean_util: float | None, held: int = 0, used_min: float | None = None, busy: float = 0.0) -> dict[str, Any]:
    return {
        "mode": "gpu",
        "achieved_utilization": busy,
        "gpu_util": {"min": 0.0, "mean": mean_util, "max": 100.0} if mean_util is not None else None,
        "vram_held_bytes": held,
        "vram_used_bytes": {"min": used_min, "mean": used_min, "max": used_min} if used_min is not None else None,
        **({} if mean_util is not None else {"nvml_error": "NVMLError_NotSupported: Not Supported"}),
    }


def test_a_cpu_burn_at_half_its_target_has_not_landed() -> None:
    landed, ev, error = judge_burn(_cpu(0.45), 0.8)  # the old rule took anything >= 0.5 x target
    assert not landed and ev["target"] == 0.8 and ev["measured"] == 0.45, ev
    assert "45%" in (error or "") and "80%" in (error or "")
    landed, ev, error = judge_burn(_cpu(0.8 * UTILIZATION_TOLERANCE + 0.01), 0.8)
    assert landed and error is None, ev


def test_a_gpu_burn_is_judged_on_nvml_utilization_against_the_target() -> None:
    landed, ev, error = judge_burn(_gpu(50.0, busy=0.9), 0.9)  # the old rule: >= 50 x 0.9 = 45%
    assert "50%" in (error or "")
    assert not landed and ev["measured"] == 0.5 and "NVML" in ev["measured_by"], ev
    landed, ev, _ = judge_burn(_gpu(88.0), 0.9)
    assert landed and ev["measured"] == 0.88, ev


def test_without_nvml_utilization_the_burners_busy_time_is_the_measure_and_says_so() -> None:
    landed, ev, _ = judge_burn(_gpu(None, busy=0.3), 0.9)
    assert not landed and ev["measured"] == 0.3 and "no NVML utilization" in ev["measured_by"], ev
    landed, ev, _ = judge_burn(_gpu(None, busy=0.87), 0.9)
    assert landed, ev


def test_gpu_memory_pressure_must_hold_the_share_asked_for_not_any() -> None:
    gib = 2**30
    # the old rule: any VRAM held made it land, even at 0% utilization
    landed, ev, error = judge_burn(_gpu(0.0, held=gib, used_min=2 * gib), 0.9, 0.5, 100 * gib)
    assert not landed and ev["vram_held_fraction"] == 0.01, ev
    assert "held 1.0% of the free GPU memory" in (error or "") and "reached 0%" in (error or "")
    landed, ev, error = judge_burn(_gpu(92.0, held=48 * gib, used_min=49 * gib), 0.9, 0.5, 100 * gib)
    assert landed and ev["vram_held_fraction"] == 0.48, (ev, error)
    landed, ev, error = judge_burn(_gpu(92.0, held=48 * gib), 0.9, 0.5, None)
    assert not landed and "unknown" in (error or ""), ev


# --- bandwidth ---------------------------------------------------------------------------------------

# `tc -s qdisc show dev lo` in a namespace after 300 kB crossed a 2mbit tbf (kernel 6.x, iproute2 6.x)
TC_SHAPED = """qdisc tbf 8002: root refcnt 2 rate 2Mbit burst 4Kb lat 400ms 
 Sent 324040 bytes 364 pkt (dropped 0, overlimits 539 requeues 0) 
 backlog 0b 0p requeues 0
"""  # noqa: W291 - tc's own trailing spaces
TC_FRESH = """qdisc tbf 8002: root refcnt 2 rate 2Mbit burst 4Kb lat 400ms 
 Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) 
 backlog 0b 0p requeues 0
"""  # noqa: W291
TC_NOQUEUE = "qdisc noqueue 0: root refcnt 2 \n Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) \n"


def test_tc_statistics_are_parsed() -> None:
    assert parse_tbf(TC_SHAPED) == TbfStats(2e6, 324040, 364, 0, 539)
    assert parse_tbf(TC_FRESH) == TbfStats(2e6, 0, 0, 0, 0)
    assert parse_tbf(TC_NOQUEUE) is None
    assert parse_tbf("") is None


def test_a_tbf_that_shaped_nothing_has_not_landed() -> None:
    fresh = parse_tbf(TC_FRESH)
    idle = TbfStats(2e6, 840, 10, 0, 0)  # a few small packets, never over the limit
    landed, ev, error = judge_shaping({"veth-a": fresh, "eth0": fresh}, {"veth-a": idle, "eth0": fresh}, 1.0)
    assert not landed and ev["shaped_ends"] == [] and "never over their limit" in (error or ""), ev
    assert ev["ends"]["veth-a"]["sent_packets"] == 10


def test_a_tbf_that_held_traffic_back_has_landed_with_its_figures() -> None:
    fresh, shaped = parse_tbf(TC_FRESH), parse_tbf(TC_SHAPED)
    landed, ev, error = judge_shaping({"veth-a": fresh, "eth0": fresh}, {"veth-a": shaped, "eth0": fresh}, 1.3)
    assert landed and error is None and ev["shaped_ends"] == ["veth-a"], ev
    end = ev["ends"]["veth-a"]
    assert end["overlimits"] == 539 and end["limit_bps"] == 2e6
    assert end["throughput_bps"] == round(324040 * 8 / 1.3)  # ~2 Mbit/s: the limit held


def test_a_missing_tbf_has_not_landed() -> None:
    fresh, shaped = parse_tbf(TC_FRESH), parse_tbf(TC_SHAPED)
    landed, _, error = judge_shaping({"veth-a": fresh, "eth0": None}, {"veth-a": shaped, "eth0": None}, 1.0)
    assert not landed and "no tbf qdisc on eth0" in (error or "")


class _Pods:
    """Only `select`, which a selector's pick needs."""

    def __init__(self, regions: list[str]) -> None:
        self.all = [Pod(f"{r}-{i}", "inference", r, 100 + i, True, 0, 1.0, None) for r in regions for i in range(2)]

    def select(self, role: str | None = None, region: str | None = None, names: list[str] | None = None) -> list[Pod]:
        return [p for p in self.all if role in (None, p.role)]


def test_a_region_outage_on_a_one_region_platform_says_to_start_two_regions() -> None:
    from resilience.errors import FaultError

    outage = Selector(region="a", count=2, max_fraction=0.5)
    with pytest.raises(FaultError, match=r"has one region \(a\).*--regions 2"):
        outage.pick(_Pods(["a"]))  # type: ignore[arg-type]
    assert [p.name for p in outage.pick(_Pods(["a", "b"]))] == ["a-0", "a-1"]  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="raise max_fraction explicitly") as exc:
        Selector(count=3, max_fraction=0.5).pick(_Pods(["a", "b"]))  # type: ignore[arg-type]
    assert "--regions" not in str(exc.value)


# --- pod hang: what the record says while it holds, and after an interrupt ----------------------------


class _OnePod(LocalPlatform):
    """A real process as pod a-0 (really SIGSTOPped and read from /proc); pod a-1 is never touched."""

    def __init__(self, state_dir: Path, pid: int) -> None:
        (state_dir / "platform.json").write_text(
            json.dumps({"control_url": "http://127.0.0.1:9", "gateway": {"http": "-", "grpc": "-"}, "model": "m"})
        )
        super().__init__(state_dir)
        self.pid = pid

    def pods(self) -> list[Pod]:
        return [
            Pod("a-0", "inference", "a", self.pid, True, 0, 1.0, None),
            Pod("a-1", "inference", "a", 1, True, 0, 1.0, None),
        ]


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_hang_is_reported_landed_while_it_holds_and_resumed_after(tmp_path: Path) -> None:
    import threading

    from resilience.faults import PodHang

    proc = _sleeper()
    try:
        ctx = FaultContext(_OnePod(tmp_path, proc.pid))
        out: list[list[Any]] = []
        t = threading.Thread(target=lambda: out.append(PodHang(Selector(labels={"name": "a-0"}), 2.0).inject(ctx)))
        t.start()
        deadline = time.monotonic() + 1.5
        while (not ctx.records or not ctx.records[0].landed) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ctx.records and ctx.records[0].landed and ctx.records[0].error is None, ctx.records
        assert ctx.records[0].recovered_at is None and _state(proc.pid) == "T"  # on, and shown as on
        t.join(10)
        (record,) = out[0]
        assert record.landed and 1.9 <= record.evidence["hung_for_s"] < 5, record.evidence
        assert record.evidence["restarted_by_supervisor"] is False and _state(proc.pid) in ("S", "R")
        assert record.recovered_at is not None and record.recovered_at >= record.injected_at
    finally:
        proc.kill()
        proc.wait()


def test_an_interrupted_hang_keeps_its_evidence_and_resumes_the_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resilience.faults import PodHang
    from resilience.faults import pod as pod_module

    real_sleep = time.sleep

    def interrupted(seconds: float) -> None:
        if seconds == 7.0:  # the hang's own hold: Ctrl-C arrives during it
            real_sleep(0.3)
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(pod_module.time, "sleep", interrupted)
    proc = _sleeper()
    try:
        ctx = FaultContext(_OnePod(tmp_path, proc.pid))
        with pytest.raises(KeyboardInterrupt):
            PodHang(Selector(labels={"name": "a-0"}), 7.0).inject(ctx)
        (record,) = ctx.records
        assert record.landed and record.error is None, record  # not "interrupted before evidence"
        assert record.evidence["process_states_after_sigstop"] == {str(proc.pid): "T"}
        assert 0.2 <= record.evidence["hung_for_s"] < 3 and record.recovered_at is not None
        monkeypatch.undo()
        real_sleep(0.1)
        assert _state(proc.pid) in ("S", "R")  # SIGCONT was sent on the way out
        assert ctx.book.active() == []  # and its ledger entry cleared
    finally:
        proc.kill()
        proc.wait()
