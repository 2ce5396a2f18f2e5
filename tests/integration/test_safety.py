"""Safety for real: `kill -9` of the toolkit mid-fault is undone by `resilience recover`; SIGTERM rolls back
before exit; `--dry-run` resolves targets and touches nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from resilience.targets import netfilter
from tests.integration.conftest import ROOT, Platform, privileged, server_addr, short_experiment
from tests.integration.faultcheck import assert_nothing_left, fault_processes, ledger_entries, nft_tables

pytestmark = pytest.mark.integration


def _latency(seconds: float) -> Any:
    def mutate(exp: dict[str, Any]) -> None:
        exp["method"][0]["provider"] = {
            "type": "python",
            "module": "resilience.ctk.actions",
            "func": "add_latency",
            "arguments": {"latency_ms": 5, "duration_s": seconds, "count": 1},
        }
        exp["rollbacks"] = [
            {
                "type": "action",
                "name": "undo-any-fault-still-active",
                "provider": {"type": "python", "module": "resilience.ctk.actions", "func": "rollback_faults"},
            }
        ]

    return mutate


def _start_run(p: Platform, experiment: Path, report_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "resilience.cli", "run", str(experiment), "--report-dir", str(report_dir)],
        env=p.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_ledger(p: Platform, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not ledger_entries(p.state_dir):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no fault was injected"
        time.sleep(0.05)
    time.sleep(0.5)  # let the injection finish (proxy started and routed)


def test_kill_9_mid_fault_then_recover_leaves_nothing_active(platform: Platform, tmp_path: Path) -> None:
    direct = {n: server_addr(platform, "http_a", n) for n in ("a-0", "a-1")}
    proc = _start_run(platform, short_experiment(tmp_path, _latency(60)), tmp_path / "r")
    try:
        _wait_for_ledger(platform, proc)
        assert fault_processes(), "the fault proxy should be running"
        routed = {n: server_addr(platform, "http_a", n) for n in ("a-0", "a-1")}
        assert routed != direct  # one replica is reached through the proxy now
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)
    assert fault_processes() and ledger_entries(platform.state_dir)  # the fault outlived the killed toolkit...
    status = platform.cli("platform", "status")  # ...and the platform's status says so, and what to do
    assert "fault left behind: network-latency" in status.stderr and "resilience recover" in status.stderr

    started = time.monotonic()
    result = platform.cli("recover")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "rolled back" in result.stderr and "network-latency" in result.stderr
    assert_nothing_left(platform.state_dir)  # ...until `resilience recover`
    assert {n: server_addr(platform, "http_a", n) for n in ("a-0", "a-1")} == direct
    started = time.monotonic()
    again = platform.cli("recover")
    idle = time.monotonic() - started  # the CLI's own start-up on this box, with nothing to undo
    assert again.returncode == 0 and "nothing to recover" in again.stderr
    assert took < idle + 1.5, (took, idle)  # undoing the proxy and the route costs well under the CLI's start
    # the load generator died with the toolkit (PR_SET_PDEATHSIG), it did not keep sending for 15 minutes
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "r")], capture_output=True, text=True).stdout.split()
    assert leftover == []


@privileged
def test_kill_9_during_an_nftables_partition_then_recover(netns_platform: Platform, tmp_path: Path) -> None:
    def partition(exp: dict[str, Any]) -> None:
        exp["method"][0]["provider"] = {
            "type": "python",
            "module": "resilience.ctk.actions",
            "func": "partition_region",
            "arguments": {"region": "a", "duration_s": 60, "mechanism": "nftables"},
        }

    proc = _start_run(netns_platform, short_experiment(tmp_path, partition), tmp_path / "r")
    try:
        _wait_for_ledger(netns_platform, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(nft_tables()) == 1
    net = netns_platform.state["network"]["regions"]["a"]
    port = netns_platform.pods()[0]["http_port"]
    assert netfilter.tcp_outcome(net["pod_ip"], port, net["gateway_ip"]) == "timeout"
    result = netns_platform.cli("recover")
    assert result.returncode == 0, result.stderr
    assert_nothing_left(netns_platform.state_dir)
    assert netfilter.tcp_outcome(net["pod_ip"], port, net["gateway_ip"]) == "connected"


def test_sigterm_mid_fault_rolls_back_before_exit(platform: Platform, tmp_path: Path) -> None:
    report_dir = tmp_path / "r"
    proc = _start_run(platform, short_experiment(tmp_path, _latency(60)), report_dir)
    try:
        _wait_for_ledger(platform, proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out
    assert "interrupted" in out
    assert_nothing_left(platform.state_dir)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_ctrl_c_or_sigterm_during_a_fault_ends_the_run_without_waiting_out_its_pause(
    platform: Platform, tmp_path: Path, sig: signal.Signals
) -> None:
    def long_pause(exp: dict[str, Any]) -> None:
        _latency(60)(exp)
        exp["method"][0]["pauses"] = {"after": 30}

    report_dir = tmp_path / "r"
    proc = _start_run(platform, short_experiment(tmp_path, long_pause), report_dir)
    try:
        _wait_for_ledger(platform, proc)
        started = time.monotonic()
        proc.send_signal(sig)  # SIGINT: what Ctrl-C sends; SIGTERM: a cancelled CI job
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGQUIT)  # the CLI prints every thread's stack: where it is stuck
            time.sleep(1)
            proc.kill()
            pytest.fail(f"the run had not ended 60 s after {sig.name}:\n{proc.communicate()[0][-20000:]}")
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out
    said = " ".join(out.split())  # the log lines wrap at the terminal's width
    assert "skipping its 30s pause" in said and "interrupted" in said
    assert took < 10, (took, out)  # fault undone, rollbacks, load stopped, reports written: not the 30 s pause
    assert_nothing_left(platform.state_dir)
    assert json.loads((report_dir / "report.json").read_text())["status"] == "aborted"


def test_dry_run_resolves_targets_and_touches_nothing(platform: Platform, tmp_path: Path) -> None:
    before = {p["name"]: (p["pid"], p["restarts"]) for p in platform.pods()}
    ok = platform.cli("run", "--dry-run", "experiments/pod-kill.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "nothing was touched" in ok.stdout and "SIGKILL pod a-" in ok.stdout

    def too_many(exp: dict[str, Any]) -> None:
        exp["method"][0]["provider"]["arguments"]["count"] = 2

    wide = platform.cli("run", "--dry-run", str(short_experiment(tmp_path, too_many)))
    assert wide.returncode == 3 and "blast radius" in wide.stderr + wide.stdout

    def nowhere(exp: dict[str, Any]) -> None:
        exp["method"][0]["provider"]["arguments"]["region"] = "zz"

    none = platform.cli("run", "--dry-run", str(short_experiment(tmp_path, nowhere)))
    assert none.returncode == 3 and "no running pod matches" in none.stderr + none.stdout
    assert {p["name"]: (p["pid"], p["restarts"]) for p in platform.pods()} == before  # nothing killed or restarted
    assert_nothing_left(platform.state_dir)


def test_platform_down_also_rolls_back_active_faults(tmp_path: Path) -> None:
    """A fault must not outlive its platform either: `down` undoes the ledger before stopping."""
    from resilience.faults import Ledger
    from resilience.faults.ledger import StopProxy
    from resilience.model import FaultKind
    from resilience.targets import faultproxy

    state = tmp_path / "state"
    proxy = faultproxy.start_proxy([("127.0.0.1", 9)], "blackhole", tmp_path / "p.state")
    Ledger(state / "ledger").record(FaultKind.NETWORK_LATENCY, "test", [StopProxy(pid=proxy.pid)])
    env = {**os.environ, "RESILIENCE_STATE_DIR": str(state)}
    result = subprocess.run(
        [sys.executable, "-m", "resilience.cli", "platform", "down"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "rolled back network-latency" in result.stderr
    assert fault_processes() == [] and ledger_entries(state) == []
