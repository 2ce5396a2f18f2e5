"""The compute burner for real: pinned workers that burn what they claim, measured from outside, and never left behind."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from resilience.errors import FaultError, UsageError
from resilience.targets.burner import gpu_present, start_burner, stop_burner_pid

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, waiting for a reaper, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _gone_within(pids: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _cpu_ticks(cpu: int) -> tuple[int, int]:
    """(busy, total) jiffies of one CPU, read by the test itself."""
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name == f"cpu{cpu}":
            values = [int(v) for v in fields[:8]]
            return sum(values) - values[3] - values[4], sum(values)
    raise AssertionError(f"cpu{cpu} not in /proc/stat")


def _burn(tmp_path: Path, utilization: float, duration_s: float, name: str) -> dict[str, Any]:
    proc = start_burner(utilization, duration_s, tmp_path / f"{name}.json", cpus=[0], log_path=tmp_path / f"{name}.log")
    try:
        final = proc.wait(duration_s + 10)
    finally:
        proc.stop()
    assert final["final"] is True and final["stopped_by"] == "duration"
    return final


def test_cpu_burn_reaches_its_target_and_agrees_with_an_outside_measurement(tmp_path: Path) -> None:
    proc = start_burner(0.8, 3.0, tmp_path / "burn.json", cpus=[0], log_path=tmp_path / "burn.log")
    try:
        state = proc.state()
        assert state["mode"] == "cpu" and state["label"] == "compute-saturation (no GPU present)"
        assert state["cpus"] == [0] and state["target_utilization"] == 0.8 and state["final"] is False
        (worker,) = state["workers"]
        assert psutil.Process(worker).cpu_affinity() == [0]
        # Measured from here: the worker's CPU time and CPU 0's busy share over the middle of the burn.
        time.sleep(0.3)
        w0, t0, c0 = sum(psutil.Process(worker).cpu_times()[:2]), time.monotonic(), _cpu_ticks(0)
        time.sleep(2.0)
        w1, t1, c1 = sum(psutil.Process(worker).cpu_times()[:2]), time.monotonic(), _cpu_ticks(0)
        final = proc.wait(10)
    finally:
        proc.stop()
    outside_worker = (w1 - w0) / (t1 - t0)
    outside_busy = (c1[0] - c0[0]) / (c1[1] - c0[1])
    achieved, busy = final["achieved_utilization"], final["system_busy"]["0"]
    print(
        f"target 0.8: achieved {achieved:.3f} (outside {outside_worker:.3f}), cpu0 busy {busy:.3f} ({outside_busy:.3f})"
    )
    assert final["final"] is True and final["finished_at"] >= final["ends_at"] - 0.1
    if busy - achieved <= 0.15:
        assert 0.6 <= achieved <= 1.0
    else:  # others took a share of CPU 0: the scheduler's fair share caps the burner, and the core is saturated
        assert 0.25 <= achieved <= 1.0 and busy >= 0.9
    assert busy >= 0.6
    assert abs(final["wall_s"] - 3.0) < 0.5
    assert abs(outside_worker - achieved) <= 0.15
    assert abs(outside_busy - busy) <= 0.15
    assert not _alive(proc.pid) and _gone_within(final["workers"], 1.0)


def test_a_low_target_really_burns_less_than_a_high_one(tmp_path: Path) -> None:
    low = _burn(tmp_path, 0.3, 2.0, "low")["achieved_utilization"]
    final = _burn(tmp_path, 0.9, 2.0, "high")
    high, busy = final["achieved_utilization"], final["system_busy"]["0"]
    print(f"achieved: target 0.3 -> {low:.3f}, target 0.9 -> {high:.3f} (cpu0 busy {busy:.3f})")
    assert isinstance(low, float) and isinstance(high, float)
    assert 0.15 <= low <= 0.45
    if busy - high <= 0.15:
        assert high / low > 1.8
    else:  # contended: both are capped by the scheduler's fair share, and only their order still holds
        assert high >= low - 0.03 and busy >= 0.9


def test_stop_ends_a_long_burn_at_once_and_leaves_no_worker(tmp_path: Path) -> None:
    proc = start_burner(0.8, 30.0, tmp_path / "burn.json", log_path=tmp_path / "burn.log")
    workers = proc.state()["workers"]
    assert len(workers) == len(os.sched_getaffinity(0))
    time.sleep(1.0)
    t = time.monotonic()
    final = proc.stop()
    latency = time.monotonic() - t
    print(f"stop latency {latency:.3f} s")
    assert latency < 1.0
    assert final["final"] is True and final["stopped_by"] == "SIGTERM"
    assert final["wall_s"] < 2.0 and final["achieved_utilization"] > 0
    assert not _alive(proc.pid) and _gone_within(workers, 0.5)
    assert proc.stop() == final  # idempotent
    assert stop_burner_pid(proc.pid) is False  # gone: nothing to stop, nothing signalled


def test_workers_die_with_a_sigkilled_burner(tmp_path: Path) -> None:
    proc = start_burner(0.5, 30.0, tmp_path / "burn.json", log_path=tmp_path / "burn.log")
    workers = proc.state()["workers"]
    assert workers and all(_alive(w) for w in workers)
    os.kill(proc.pid, signal.SIGKILL)
    last = proc.wait(5)
    assert last["final"] is False  # killed: no final record, and the parent must not pretend otherwise
    assert _gone_within(workers, 2.0), [w for w in workers if _alive(w)]


def test_stop_burner_pid_recovers_a_burner_known_only_by_its_pid(tmp_path: Path) -> None:
    proc = start_burner(0.5, 30.0, tmp_path / "burn.json", log_path=tmp_path / "burn.log")
    workers = proc.state()["workers"]
    assert stop_burner_pid(os.getpid()) is False  # not a burner: never signalled
    assert stop_burner_pid(proc.pid) is True
    assert proc.wait(5)["final"] is True
    assert _gone_within([proc.pid, *workers], 2.0)


def test_gpu_burn_without_a_gpu_fails_clearly_and_cleans_up(tmp_path: Path) -> None:
    if shutil.which("nvidia-smi") is None:
        assert gpu_present() is False
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(FaultError, match="no CUDA GPU is visible"):
        start_burner(0.9, 5.0, tmp_path / "gpu.json", gpu=True, vram_fraction=0.5, timeout_s=30)
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before
    assert not (tmp_path / "gpu.json").exists()


@pytest.mark.parametrize(
    ("utilization", "duration_s", "cpus", "vram_fraction", "argument"),
    [
        (1.5, 1.0, None, 0.0, "utilization"),
        (0.0, 1.0, None, 0.0, "utilization"),
        (0.5, -1.0, None, 0.0, "duration_s"),
        (0.5, 1.0, [999], 0.0, "cpus"),
        (0.5, 1.0, None, 0.99, "vram_fraction"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(
    tmp_path: Path, utilization: float, duration_s: float, cpus: list[int] | None, vram_fraction: float, argument: str
) -> None:
    with pytest.raises(UsageError, match=argument):
        start_burner(utilization, duration_s, tmp_path / "s.json", cpus=cpus, vram_fraction=vram_fraction)
    assert not (tmp_path / "s.json").exists()
