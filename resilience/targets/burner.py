"""The process behind the GPU-saturation fault: it burns a target fraction of a GPU, or of CPU cores, and proves it.

Run as its own process (`python -m resilience.targets.burner`), detached, for a bounded duration. With `--gpu` it
runs a duty cycle of large fp16 matmuls on one CUDA device (optionally holding a fraction of its free memory) and
samples NVML for evidence. Without `--gpu` it never pretends a GPU was stressed: its label says
"compute-saturation (no GPU present)", and it saturates CPU cores instead, one pinned worker per core, with the CPU
time the workers consumed and the cores' busy fraction (from /proc/stat) as evidence. Its state file, refreshed
every 0.5 s and final on exit, is the evidence record; the helpers below start, read and stop it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import psutil

from resilience.errors import FaultError, UsageError
from resilience.targets.helperprocess import HelperProcess, Readiness, die_with_parent, stop_recorded, write_state

log = logging.getLogger(__name__)

MODULE = "resilience.targets.burner"
PERIOD_S = 0.1  # one duty cycle: busy for utilization x period, idle for the rest
REFRESH_S = 0.5
MATMUL_N = 4096  # fp16 4096x4096: ~0.1-2 ms per matmul from H100 to T4, fine-grained enough for a 100 ms period
EXIT_UNAVAILABLE = 3


def _validate(
    utilization: float, duration_s: float, cpus: list[int] | None, device: int, vram_fraction: float
) -> list[int]:
    """Check the burn parameters; return the CPUs to burn. Raises UsageError naming the argument and the fix."""
    if not 0 < utilization <= 1:  # written so that NaN is refused too
        raise UsageError(f"utilization must be in (0, 1] (a fraction of each core or of the GPU), got {utilization}")
    if not 0 < duration_s < float("inf"):
        raise UsageError(f"duration_s must be a finite number of seconds > 0, got {duration_s}")
    if not 0 <= vram_fraction <= 0.95:
        raise UsageError(
            f"vram_fraction must be in [0, 0.95] (a fraction of the device's free memory), got {vram_fraction}"
        )
    if device < 0:
        raise UsageError(f"device must be a CUDA device index >= 0, got {device}")
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is None:
        return allowed
    bad = [c for c in cpus if c not in allowed]
    if not cpus or bad:
        raise UsageError(f"cpus {bad or cpus} are not in this process's CPU affinity set {allowed}: pick from those")
    return sorted(set(cpus))


def _cpu_ticks(cpus: list[int]) -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies of each listed CPU from /proc/stat; idle and iowait are the only non-busy time."""
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]  # guest time is already inside user time
            ticks[int(name[3:])] = (sum(values) - values[3] - values[4], sum(values))
    return ticks


def _cpu_worker(cpu: int, utilization: float, parent: int, deadline: float) -> None:
    """Burn `utilization` of core `cpu` until killed, orphaned, or past `deadline` (monotonic)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)  # the parent's handlers came with fork(); a worker just dies
    die_with_parent(signal.SIGKILL)  # so no worker outlives the burner
    os.sched_setaffinity(0, {cpu})
    period_start, x = time.monotonic(), 0
    # getppid() is the fallback for the death signal (and covers a parent that died before prctl ran).
    while os.getppid() == parent and period_start < deadline:
        # Budget CPU time, not wall time: on a shared core the busy part still takes utilization x period of it.
        budget_end, period_end = time.thread_time() + utilization * PERIOD_S, period_start + PERIOD_S
        while time.thread_time() < budget_end and time.monotonic() < period_end:
            for i in range(1000):
                x = (x * 31 + i) % 1_000_003
        now = time.monotonic()
        if now < period_end:
            time.sleep(period_end - now)
        period_start = max(period_end, now)  # fell behind: start afresh rather than try to catch up


class _Stop:
    """The signal that asked us to stop, and when (monotonic)."""

    def __init__(self) -> None:
        self.signame: str | None = None
        self.at = float("inf")

    def __call__(self, signum: int, _frame: object) -> None:
        self.signame, self.at = signal.Signals(signum).name, min(self.at, time.monotonic())


def _burn_cpu(ns: argparse.Namespace, cpus: list[int], state: dict[str, Any], stop: _Stop) -> None:
    """Saturate `cpus`, one pinned worker each, refreshing the evidence in `state` until the end or a signal."""
    parent, t0, ticks0 = os.getpid(), time.monotonic(), _cpu_ticks(cpus)
    deadline, base = t0 + ns.duration_s, os.times()
    workers: list[int] = []
    for cpu in cpus:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _cpu_worker(cpu, ns.utilization, parent, deadline + 5.0)
                code = 0
            except BaseException:
                log.exception("worker for cpu %d failed", cpu)
            finally:
                os._exit(code)
        workers.append(pid)
    state["workers"] = workers
    procs = [psutil.Process(pid) for pid in workers]

    def evidence(cpu_s: float, now: float) -> None:
        ticks = _cpu_ticks(cpus)
        busy = {str(c): (ticks[c][0] - ticks0[c][0]) / max(1, ticks[c][1] - ticks0[c][1]) for c in cpus}
        wall = max(now - t0, 1e-9)
        state.update(cpu_seconds=cpu_s, wall_s=wall, achieved_utilization=cpu_s / (wall * len(cpus)), system_busy=busy)

    next_refresh = t0
    while stop.signame is None and (now := time.monotonic()) < deadline:
        if now >= next_refresh:
            with contextlib.suppress(psutil.Error):
                evidence(sum(sum(p.cpu_times()[:2]) for p in procs), now)
            write_state(ns.state_file, state)
            next_refresh += REFRESH_S
        time.sleep(min(0.05, max(0.0, deadline - now)))
    end = min(time.monotonic(), stop.at)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in workers:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    # Reaped children's CPU time, exact (not sampled): the burn's final evidence.
    done = os.times()
    evidence(done.children_user + done.children_system - base.children_user - base.children_system, end)


def _nvml_handle(props: Any, index: int, state: dict[str, Any]) -> tuple[Any, Any]:
    """pynvml and the NVML handle of the CUDA device `props` describes; (None, None) and `nvml_error` if NVML fails."""
    try:
        import pynvml  # type: ignore[import-untyped]

        pynvml.nvmlInit()
        try:  # CUDA_VISIBLE_DEVICES and CUDA's ordering renumber devices for torch, not for NVML: match the UUID
            return pynvml, pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{props.uuid}")
        except Exception:  # noqa: BLE001 - no such UUID (or an older torch without one): fall back to the index
            return pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)
    except Exception as exc:  # noqa: BLE001 - ImportError, NVMLError, OSError: burn anyway, without NVML evidence
        state["nvml_error"] = f"{type(exc).__name__}: {exc}"
        return None, None


class _UnavailableError(Exception):
    """The burn cannot run here (no CUDA GPU, no torch, not enough device memory)."""


def _burn_gpu(ns: argparse.Namespace, state: dict[str, Any], stop: _Stop) -> None:
    """Run a matmul duty cycle on the CUDA device, holding VRAM if asked, with NVML samples as evidence."""
    try:
        import torch
    except ImportError as exc:
        raise _UnavailableError(f"torch is not importable ({exc}); --gpu needs torch with CUDA") from exc
    if not torch.cuda.is_available():
        raise _UnavailableError(
            "no CUDA GPU is visible (torch.cuda.is_available() is False); run without --gpu to saturate CPU cores"
        )
    if ns.device >= torch.cuda.device_count():
        raise _UnavailableError(f"no CUDA device {ns.device}: torch sees {torch.cuda.device_count()}")
    dev = torch.device(f"cuda:{ns.device}")
    try:
        a, b = (torch.randn(MATMUL_N, MATMUL_N, device=dev, dtype=torch.float16) for _ in range(2))
        c = torch.matmul(a, b)  # first, so cuBLAS has its workspace before the held memory takes the rest
        held_bytes = int(torch.cuda.mem_get_info(dev)[0] * ns.vram_fraction)
        held = torch.ones(held_bytes, dtype=torch.uint8, device=dev) if held_bytes else None  # written: committed
        torch.cuda.synchronize(dev)
    except torch.cuda.OutOfMemoryError as exc:
        raise _UnavailableError(f"cuda:{ns.device} is out of memory: {exc}") from exc
    util: list[float] = []
    used: list[float] = []
    state.update(vram_held_bytes=held.numel() if held is not None else 0, gpu_util=None, vram_used_bytes=None)
    nvml, handle = _nvml_handle(torch.cuda.get_device_properties(dev), ns.device, state)

    def stats(xs: list[float]) -> dict[str, float] | None:
        return {"min": min(xs), "mean": sum(xs) / len(xs), "max": max(xs)} if xs else None

    t0 = period_start = next_refresh = time.monotonic()
    deadline, busy_s = t0 + ns.duration_s, 0.0
    state.update(started_at=time.time(), ends_at=time.time() + ns.duration_s)  # after CUDA's seconds of start-up
    while stop.signame is None and (now := time.monotonic()) < deadline:
        busy_until = min(period_start + ns.utilization * PERIOD_S, deadline)
        while time.monotonic() < busy_until:
            for _ in range(4):
                torch.matmul(a, b, out=c)
            torch.cuda.synchronize(dev)  # the GPU, not just the launch queue, was busy this long
        busy_s += time.monotonic() - now
        if (now := time.monotonic()) >= next_refresh:
            try:
                if handle is not None:
                    util.append(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                    used.append(float(nvml.nvmlDeviceGetMemoryInfo(handle).used))
            except nvml.NVMLError as exc:  # e.g. NotSupported on a MIG slice: keep burning, and say why no samples
                state["nvml_error"], handle = f"{type(exc).__name__}: {exc}", None
            state.update(gpu_util=stats(util), vram_used_bytes=stats(used), achieved_utilization=busy_s / (now - t0))
            write_state(ns.state_file, state)
            next_refresh += REFRESH_S
        period_end = period_start + PERIOD_S
        time.sleep(max(0.0, min(period_end, deadline) - time.monotonic()))
        period_start = max(period_end, time.monotonic())
    state.update(wall_s=time.monotonic() - t0, achieved_utilization=busy_s / max(time.monotonic() - t0, 1e-9))


def _parse_cpus(text: str) -> list[int]:
    """Parse a comma-separated CPU list such as `0,1`."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cpus must be comma-separated integers such as 0,1; got {text!r}") from exc


def main(argv: list[str] | None = None) -> int:
    """Burn until the duration ends or SIGTERM/SIGINT; 0 on a clean stop, 3 if the burn cannot run here."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description="Saturate a GPU, or CPU cores without one."
    )
    parser.add_argument("--utilization", type=float, required=True, help="target fraction in (0, 1]")
    parser.add_argument("--duration-s", type=float, required=True)
    parser.add_argument("--cpus", type=_parse_cpus, default=None, help="CPU mode: e.g. 0,1 (default: all allowed)")
    parser.add_argument("--gpu", action="store_true", help="burn a CUDA GPU (needs torch with CUDA)")
    parser.add_argument("--device", type=int, default=0, help="GPU mode: CUDA device index")
    parser.add_argument("--vram-fraction", type=float, default=0.0, help="GPU mode: fraction of free memory to hold")
    parser.add_argument("--state-file", type=Path, required=True)
    ns = parser.parse_args(argv)
    try:
        cpus = _validate(ns.utilization, ns.duration_s, ns.cpus, ns.device, ns.vram_fraction)
    except UsageError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s burner[%(process)d] %(levelname)s %(message)s")
    stop = _Stop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    started = time.time()
    state: dict[str, Any] = {
        "pid": os.getpid(),
        "mode": "gpu" if ns.gpu else "cpu",
        "label": "gpu-saturation" if ns.gpu else "compute-saturation (no GPU present)",
        "target_utilization": ns.utilization,
        **({"device": ns.device} if ns.gpu else {"cpus": cpus}),
        "started_at": started,
        "ends_at": started + ns.duration_s,
        "workers": [],
        "achieved_utilization": 0.0,
        "vram_held_bytes": 0,
        "final": False,
    }
    log.info("%s at %.0f%% for %.1f s", state["label"], 100 * ns.utilization, ns.duration_s)
    try:
        if ns.gpu:
            _burn_gpu(ns, state, stop)
        else:
            _burn_cpu(ns, cpus, state, stop)
    except _UnavailableError as exc:
        log.error("%s", exc)
        return EXIT_UNAVAILABLE
    state.update(final=True, finished_at=time.time(), stopped_by=stop.signame or "duration")
    write_state(ns.state_file, state)
    log.info("done (%s): achieved utilization %.2f", state["stopped_by"], state["achieved_utilization"])
    return 0


def gpu_present() -> bool:
    """Whether NVML initialises and reports at least one GPU (False without pynvml, its library, a driver or a GPU)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount()) >= 1
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - ImportError, NVMLError, OSError: whatever NVML raises, there is no GPU to use
        return False


class BurnerProcess:
    """A burner started by `start_burner`: its pid, its evidence, its wait and its stop."""

    def __init__(self, helper: HelperProcess, state_file: Path) -> None:
        self._helper = helper
        self.state_file = state_file

    @property
    def pid(self) -> int:
        return self._helper.pid

    def state(self) -> dict[str, Any]:
        """Read the state the burner last wrote (refreshed every 0.5 s; final once it has finished)."""
        return self._helper.state()

    def wait(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the burn to end; return its final state."""
        self._helper.wait(timeout_s)
        return self.state()

    def stop(self, timeout_s: float = 3.0) -> dict[str, Any]:
        """SIGTERM the burner's process group (its workers too), SIGKILL it if it lingers; return the last state."""
        self._helper.stop(timeout_s)
        return self.state()


def _tail(out: IO[bytes], since: int, lines: int = 6) -> str:
    """The last lines this burner wrote to its log (which earlier burners may have written to before `since`)."""
    end = out.seek(0, os.SEEK_END)
    out.seek(max(since, end - 4096))
    return "\n".join(out.read().decode(errors="replace").splitlines()[-lines:])


def start_burner(
    utilization: float,
    duration_s: float,
    state_file: Path,
    *,
    cpus: list[int] | None = None,
    gpu: bool = False,
    device: int = 0,
    vram_fraction: float = 0.0,
    log_path: Path | None = None,
    timeout_s: float = 10.0,
) -> BurnerProcess:
    """Start a detached burner; return once its state file shows it burning. `cpus` applies to CPU mode only."""
    cpu_list = _validate(utilization, duration_s, cpus, device, vram_fraction)
    cmd = [sys.executable, "-m", MODULE, "--utilization", repr(utilization), "--duration-s", repr(duration_s)]
    cmd += ["--state-file", str(state_file)]
    cmd += (
        ["--gpu", "--device", str(device), "--vram-fraction", repr(vram_fraction)]
        if gpu
        else ["--cpus", ",".join(map(str, cpu_list))]
    )
    with open(log_path, "ab+") if log_path else tempfile.TemporaryFile() as out:
        since = out.seek(0, os.SEEK_END)
        helper = HelperProcess.spawn(cmd, "burner", output=out, state_file=state_file)
        readiness = helper.wait_ready(timeout_s)
        if readiness is Readiness.READY:
            return BurnerProcess(helper, state_file)
        if readiness is Readiness.EXITED:
            raise FaultError(f"the burner exited with code {helper.returncode} before starting:\n{_tail(out, since)}")
        raise FaultError(
            f"the burner wrote no state to {state_file} within {timeout_s:.1f} s; killed it:\n{_tail(out, since)}"
        )


def stop_burner_pid(pid: int, timeout_s: float = 3.0) -> bool:
    """Stop the burner at `pid` (known from a ledger) if it is one: SIGTERM its group, then SIGKILL. True if stopped."""
    return stop_recorded(pid, MODULE, "burner", timeout_s)


if __name__ == "__main__":
    sys.exit(main())


def free_vram_bytes(device: int) -> int | None:
    """Free memory on GPU `device` now (NVML), or None when NVML does not answer."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            # CUDA_VISIBLE_DEVICES renumbers devices for CUDA (the burner's `device`), not for NVML
            visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
            chosen = visible[device] if device < len(visible) else str(device)
            handle = (
                pynvml.nvmlDeviceGetHandleByIndex(int(chosen))
                if chosen.isdigit()
                else pynvml.nvmlDeviceGetHandleByUUID(chosen)
            )
            return int(pynvml.nvmlDeviceGetMemoryInfo(handle).free)
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # noqa: BLE001 - ImportError, NVMLError, OSError: the record then says it is unknown
        log.warning("could not read GPU %d's free memory from NVML: %s", device, exc)
        return None
