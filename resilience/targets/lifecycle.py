"""Start and stop the local reference platform (its supervisor runs detached, as its own process)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from pydantic import BaseModel, ConfigDict, ValidationError

from reference_platform.contracts import GATEWAY_SOCKET, SHM_PREFIX, WORKSPACE_PREFIX
from reference_platform.contracts import PLATFORM_ID_ENV as PLATFORM_ID_ENV
from resilience.errors import PlatformError, UsageError
from resilience.targets import netfilter
from resilience.targets.local import STATE_FILE, LocalPlatform, read_state

log = logging.getLogger(__name__)


def recorded(state_dir: Path) -> LocalPlatform | None:
    """The platform recorded in `state_dir`, answering or not (recovery undoes faults on what is left of it)."""
    try:
        return LocalPlatform(state_dir)
    except PlatformError:
        return None


def running(state_dir: Path) -> LocalPlatform | None:
    """The platform recorded in `state_dir` if its supervisor still answers, else None."""
    try:
        platform = LocalPlatform(state_dir)
        platform.status()
        return platform
    except PlatformError:
        return None


def _same_shape(platform: LocalPlatform, state_dir: Path, **asked: int | bool | None) -> None:
    """A running platform is reused only if it has the shape asked for (what was not asked for may differ)."""
    recorded_shape = platform.platform_state.shape
    if recorded_shape is None:
        return  # started by an older version: nothing to compare
    shape = recorded_shape.model_dump()
    differ = [
        f"{key} {shape.get(key)} (asked for {value})"
        for key, value in asked.items()
        if value not in (None, False) and shape.get(key) != value
    ]
    if differ:
        have = f"{shape.get('regions')} region(s) x {shape.get('replicas')} replicas"
        raise UsageError(
            f"a platform with {have} is already running in {state_dir}, and it has {', '.join(differ)}: "
            "stop it first (`resilience platform down`), or give the new one its own `--state-dir`"
        )


def up(
    state_dir: Path,
    replicas: int | None = None,
    config: Path | None = None,
    timeout_s: float = 120.0,
    regions: int | None = None,
    pipeline: bool = False,
    netns: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> LocalPlatform:
    """Start the supervisor and wait until every pod is ready. Raises PlatformError on failure.

    `on_progress(ready, total)` hears how many pods are ready while it waits (for a progress bar).
    """
    existing = running(state_dir)
    if existing is not None:
        _same_shape(existing, state_dir, replicas=replicas, regions=regions, pipeline=pipeline, netns=netns)
        return existing
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "reference_platform.supervisor", "--state-dir", str(state_dir)]
    if replicas is not None:
        cmd += ["--replicas", str(replicas)]
    if regions is not None:
        cmd += ["--regions", str(regions)]
    if pipeline:
        cmd += ["--pipeline"]
    if netns:
        cmd += ["--netns"]
    if config is not None:
        cmd += ["--config", str(config)]
    logs = state_dir / "logs"
    logs.mkdir(exist_ok=True)
    logf = open(logs / "supervisor.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    logf.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc is not None:
            tail = (logs / "supervisor.log").read_text(errors="replace").splitlines()[-8:]
            if rc == 2:  # the supervisor rejected its configuration: bad input, not a platform failure
                raise UsageError(tail[-1].split(" ERROR ", 1)[-1] if tail else "invalid platform configuration")
            raise PlatformError(f"the supervisor exited with code {rc}:\n" + "\n".join(tail))
        platform = running(state_dir)
        if platform is not None:
            pods = platform.pods()
            if on_progress is not None:
                on_progress(sum(p.ready for p in pods), len(pods))
            if pods and all(p.ready for p in pods):
                return platform
        time.sleep(0.2)
    down(state_dir)
    raise PlatformError(f"the platform was not ready within {timeout_s:.0f} s (logs in {logs}); it was stopped")


@dataclass(frozen=True, slots=True)
class _Remains:
    """What `down` stops and sweeps: the state file's supervisor, platform id and namespaces."""

    supervisor_pid: int | None = None
    control_url: str | None = None
    platform_id: str | None = None
    namespaces: tuple[str, ...] = ()


class _Salvaged(BaseModel):
    """What `down` still takes from a state file it cannot read as a `PlatformState` (another version's, say):
    whatever of the ids is there and well-formed; the rest is ignored."""

    model_config = ConfigDict(extra="ignore")
    supervisor_pid: int | None = None
    control_url: str | None = None
    platform_id: str | None = None


def _remains(path: Path) -> _Remains:
    try:
        state = read_state(path)
    except PlatformError:
        if not path.exists():
            return _Remains()
        log.warning("%s is not a state file this version reads: stopping and sweeping what it still names", path)
        try:
            salvaged = _Salvaged.model_validate_json(path.read_text())
        except (OSError, ValidationError):
            return _Remains()
        return _Remains(salvaged.supervisor_pid, salvaged.control_url, salvaged.platform_id)
    namespaces = tuple(r.netns for r in state.network.regions.values())
    return _Remains(state.supervisor_pid, state.control_url, state.platform_id, namespaces)


def _stop_supervisor(state: _Remains, timeout_s: float) -> None:
    """Ask the supervisor to stop (SIGTERM when it does not answer), wait for it, SIGKILL it past `timeout_s`."""
    sup_pid = state.supervisor_pid
    if sup_pid is None or not psutil.pid_exists(sup_pid):
        return
    if not _asked_to_stop(state.control_url):
        with contextlib.suppress(ProcessLookupError):  # it died (and was reaped) since pid_exists
            os.kill(sup_pid, signal.SIGTERM)
    try:
        psutil.Process(sup_pid).wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        log.warning("supervisor %d did not stop in %.0f s; killing it", sup_pid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(sup_pid, signal.SIGKILL)
    except psutil.NoSuchProcess:
        pass


def _asked_to_stop(control_url: str | None) -> bool:
    """POST the control API's /shutdown; False when there is none or it did not answer."""
    if control_url is None:
        return False
    try:
        httpx.post(f"{control_url}/shutdown", timeout=2.0)
    except httpx.HTTPError:
        return False
    return True


def down(state_dir: Path, timeout_s: float = 45.0) -> list[int]:
    """Stop the platform; then kill anything still carrying its id. Returns the pids swept up."""
    path = state_dir / STATE_FILE
    state = _remains(path)
    _stop_supervisor(state, timeout_s)
    platform_id = state.platform_id
    swept = sweep(platform_id) if platform_id else []
    if platform_id:  # replica workspaces of a supervisor that died before cleaning up (see reference_platform.pods)
        shutil.rmtree(Path(tempfile.gettempdir()) / f"{WORKSPACE_PREFIX}{platform_id[:12]}", ignore_errors=True)
    for pid in swept:  # and the python-backend segments of its tritonservers, named rsw<pid>_ by the replica
        for segment in Path("/dev/shm").glob(f"{SHM_PREFIX}{pid}_*"):
            segment.unlink(missing_ok=True)
    if state.namespaces:  # namespaces of a supervisor that died before cleaning up
        netfilter.delete_namespaces(list(state.namespaces))
    path.unlink(missing_ok=True)
    (state_dir / GATEWAY_SOCKET).unlink(missing_ok=True)
    return swept


def leftovers(platform_id: str) -> list[psutil.Process]:
    """Processes (tritonserver and stubs included) that carry this platform's id in their environment."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(PLATFORM_ID_ENV) == platform_id:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def sweep(platform_id: str) -> list[int]:
    procs = leftovers(platform_id)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)
    if procs:
        log.warning("killed %d leftover process(es) of platform %s", len(procs), platform_id)
    return [p.pid for p in procs]
