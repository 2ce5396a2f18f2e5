"""One lifecycle for the toolkit's helper processes: the burner, the fault proxy and the load generator.

A helper runs detached, as the leader of its own session: our process group's signals (a Ctrl-C) do not reach
it, and whatever it forks shares its group, so one signal to the group stops them all. Its life:
`HelperProcess.spawn`, `wait_ready` (by default: until its state file carries its pid), `state` (that file,
which the helper replaces atomically with `write_state`), `stop` (SIGTERM to the group, SIGKILL if it lingers).

A toolkit killed with `kill -9` leaves behind helpers known only by the pids its fault ledger recorded:
`stop_recorded` stops one of those, but only once /proc shows the pid still runs that helper's module, since
pids are reused and an unrelated process must never be signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import functools
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from resilience.errors import FaultError

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class Readiness(enum.StrEnum):
    """How `HelperProcess.wait_ready` ended."""

    READY = "ready"
    EXITED = "exited"
    """It exited before it was ready (its exit code is in `returncode`)."""
    TIMED_OUT = "timed-out"
    """It was not ready in time, so it was killed (its group SIGKILLed, the leader reaped)."""


def die_with_parent(sig: signal.Signals) -> None:
    """Have the kernel send `sig` to this process when its parent dies, even by `kill -9` (prctl PR_SET_PDEATHSIG).

    The signal follows the parent *thread*: a helper spawned with it from a short-lived thread dies with that
    thread, so spawn it from one that lives as long as the helper should (chaoslib calls controls on the main
    thread). Without prctl (not Linux) it does nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace a state file atomically, stamping `updated_at`: a reader sees the old state or the new, never half."""
    state["updated_at"] = time.time()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    """A helper's state file, or None if it is absent or unreadable."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def remove_state(path: Path, pid: int) -> None:
    """Remove a state file left by `pid` (killed before it could), but never one a newer helper owns."""
    state = read_state(path)
    if state is not None and state.get("pid") == pid:
        path.unlink(missing_ok=True)


def is_helper(pid: int, module: str) -> bool:
    """Whether `pid` runs `python -m module`; a zombie (its command line is empty) does not."""
    try:
        return pid > 0 and module.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group `pid` leads, or to `pid` alone if it leads none; quiet if it is gone."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def stop_recorded(pid: int, module: str, name: str, timeout_s: float = 3.0, kill_wait_s: float = 1.0) -> bool:
    """Stop the helper at `pid` (known from a ledger) if it runs `module`: SIGTERM its group, then SIGKILL.

    Returns whether `pid` was such a helper, and so was signalled; any other process is left alone.
    """
    if not is_helper(pid, module):
        return False
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, kill_wait_s)):
        signal_group(pid, sig)
        deadline = time.monotonic() + wait_s
        while is_helper(pid, module) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not is_helper(pid, module):  # checked again before the next signal: the pid may be reused by then
            break
        log.warning("%s pid %d outlived %s for %.1f s", name, pid, sig.name, wait_s)
    return True


class HelperProcess:
    """One helper process we spawned: its pid, readiness, state file, wait and stop."""

    def __init__(self, popen: subprocess.Popen[bytes], name: str, state_file: Path | None = None) -> None:
        self._popen = popen
        self.name = name
        """What log lines and errors call it, e.g. "fault proxy"."""
        self.state_file = state_file

    @classmethod
    def spawn(
        cls,
        cmd: Sequence[str],
        name: str,
        *,
        output: IO[bytes] | int,
        state_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        death_signal: signal.Signals | None = None,
    ) -> HelperProcess:
        """Start `cmd` leading a new session, stdin from /dev/null, stdout and stderr to `output` (a file or DEVNULL).

        A state file left at `state_file` by an earlier helper is removed first, so only this one's counts.
        `death_signal`: the signal it gets when the spawning thread dies (see `die_with_parent`); None lets it
        outlive us, as a fault must for `resilience recover` to find it in the ledger.
        """
        if state_file is not None:
            state_file.unlink(missing_ok=True)
        preexec = None if death_signal is None else functools.partial(die_with_parent, death_signal)
        popen = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=preexec,
        )
        return cls(popen, name, state_file)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """Its exit code once it has exited (reaping it), else None."""
        return self._popen.poll()

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    def read_state(self) -> dict[str, Any] | None:
        """Its state file, or None if it has none, or none readable yet."""
        return None if self.state_file is None else read_state(self.state_file)

    def state(self) -> dict[str, Any]:
        """Its state file; raises FaultError if it cannot be read."""
        state = self.read_state()
        if state is None:
            raise FaultError(f"{self.name} pid {self.pid}: no readable state file at {self.state_file}")
        return state

    def _wrote_state(self) -> bool:
        state = self.read_state()
        return state is not None and state.get("pid") == self.pid

    def wait_ready(self, timeout_s: float, ready: Callable[[], bool] | None = None, poll_s: float = 0.05) -> Readiness:
        """Poll `ready` (default: its state file carries its pid) every `poll_s` until it holds, it exits, or time is up.

        `ready` may block for a while itself (e.g. `event.wait(0.1)` with `poll_s=0`). A helper not ready within
        `timeout_s` is killed before this returns TIMED_OUT.
        """
        is_ready = ready or self._wrote_state
        deadline = time.monotonic() + timeout_s
        while True:
            exited = self._popen.poll() is not None  # before looking: its whole job may be over before we look
            if is_ready():
                return Readiness.READY
            if exited:
                return Readiness.EXITED
            if time.monotonic() >= deadline:
                self.kill()
                return Readiness.TIMED_OUT
            time.sleep(poll_s)

    def wait(self, timeout_s: float) -> int:
        """Wait for it to exit; its exit code. Raises FaultError if it still runs after `timeout_s`."""
        try:
            return self._popen.wait(timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise FaultError(f"{self.name} pid {self.pid} still running after {timeout_s:.1f} s") from exc

    def stop(self, timeout_s: float = 3.0) -> None:
        """SIGTERM its process group, SIGKILL the group if it lingers past `timeout_s`. Idempotent."""
        # Signal only while the leader is unreaped: after that its pid (and group id) may belong to someone else.
        if self._popen.poll() is not None:
            return
        signal_group(self.pid, signal.SIGTERM)
        try:
            self._popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s pid %d ignored SIGTERM for %.1f s: SIGKILL", self.name, self.pid, timeout_s)
            self.kill()

    def kill(self) -> None:
        """SIGKILL its process group now and reap it. Idempotent."""
        if self._popen.poll() is None:
            signal_group(self.pid, signal.SIGKILL)
            self._popen.wait()
