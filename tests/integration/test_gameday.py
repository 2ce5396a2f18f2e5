"""Game day for real: `resilience gameday` in a tmux terminal, confirmed and aborted with keys (send-keys),
and in line mode with commands on stdin; the fault is rolled back at once and the reports carry the notes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.integration.conftest import ROOT, Platform, short_experiment
from tests.integration.faultcheck import assert_nothing_left, ledger_entries

pytestmark = pytest.mark.integration


def _hang(duration_s: float, pause_s: float) -> Callable[[dict[str, Any]], None]:
    def mutate(exp: dict[str, Any]) -> None:
        exp["method"][0]["provider"] = {
            "type": "python",
            "module": "resilience.ctk.actions",
            "func": "hang_pods",
            "arguments": {"role": "inference", "count": 1, "duration_s": duration_s},
        }
        exp["method"][0]["pauses"] = {"after": pause_s}
        exp["rollbacks"] = [
            {
                "type": "action",
                "name": "undo-any-fault-still-active",
                "provider": {"type": "python", "module": "resilience.ctk.actions", "func": "rollback_faults"},
            }
        ]

    return mutate


class Tmux:
    """A tmux server of the test's own (its own socket), one 160x50 window."""

    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name]

    def start(self, command: str) -> None:
        subprocess.run([*self.base, "new-session", "-d", "-s", "g", "-x", "160", "-y", "50", command], check=True)

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "g", *(["-l"] if literal else []), *keys], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", "g"], capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux (CI installs it)")
    t = Tmux(f"resilience-test-{os.getpid()}")
    try:
        yield t
    finally:
        t.kill()


def _stopped_pods(p: Platform) -> list[str]:
    """Inference pods whose processes are frozen (state T) right now."""
    frozen = []
    for pod in p.pods():
        if pod["role"] == "inference" and pod["pid"]:
            try:
                if psutil.Process(pod["pid"]).status() == psutil.STATUS_STOPPED:
                    frozen.append(pod["name"])
            except psutil.NoSuchProcess:
                continue
    return frozen


def test_gameday_in_a_terminal_confirm_note_then_abort_rolls_back_at_once(
    platform: Platform, tmux: Tmux, tmp_path: Path
) -> None:
    # the fault (a freeze, in place of the pod-kill experiment's kill) would last 60 s and be followed by a 30 s pause: only an abort that works ends this quickly
    experiment = short_experiment(tmp_path, _hang(60, 30))
    report_dir, rc_file = tmp_path / "r", tmp_path / "rc"
    cmd = (
        f"cd {shlex.quote(str(ROOT))} && env -u COLUMNS -u LINES RESILIENCE_STATE_DIR={shlex.quote(str(platform.state_dir))} "
        f"{shlex.quote(sys.executable)} -m resilience.cli gameday {shlex.quote(str(experiment))} "
        f"--report-dir {shlex.quote(str(report_dir))}; echo $? > {shlex.quote(str(rc_file))}; sleep 300"
    )
    tmux.start(cmd)
    screen = tmux.wait_for("Confirm fault step 'sigkill-one-inference-replica'")
    for part in ("GAME DAY", "SLOs, last 10 s", "availability", "replicas", "req/s", "p99 ms", "[a] ABORT"):
        assert part in screen, screen
    assert any(block in screen for block in "▂▃▄▅▆▇█"), screen  # the request-rate sparkline is drawn
    time.sleep(1.0)
    assert ledger_entries(platform.state_dir) == []  # nothing is injected before the operator says so

    tmux.keys("y")
    deadline = time.monotonic() + 20
    while not _stopped_pods(platform):
        assert time.monotonic() < deadline, tmux.screen()
        time.sleep(0.1)
    assert len(ledger_entries(platform.state_dir)) == 1
    tmux.keys("n")
    tmux.keys("a-0 frozen, p99 climbing", literal=True)
    tmux.keys("Enter")
    tmux.wait_for("note saved")

    tmux.keys("a")
    aborted = time.monotonic()
    deadline = aborted + 5
    while _stopped_pods(platform) or ledger_entries(platform.state_dir):
        assert time.monotonic() < deadline, "the fault was not rolled back within 5 s of the abort"
        time.sleep(0.05)
    rolled_back_after = time.monotonic() - aborted
    deadline = aborted + 60
    while not rc_file.exists() or not rc_file.read_text().strip():
        assert time.monotonic() < deadline, tmux.screen()
        time.sleep(0.2)
    assert rc_file.read_text().strip() == "3"  # aborted
    assert_nothing_left(platform.state_dir)
    assert rolled_back_after < 2.0

    report = json.loads((report_dir / "report.json").read_text())
    assert report["status"] == "aborted" and report["exit_code"] == 3
    assert "the operator pressed abort" in report["reasons"][0]
    said = [(e["kind"], e["text"]) for e in report["events"] if e["kind"] not in ("step", "step-end")]
    assert [k for k, _ in said] == ["confirmed", "note", "abort"], said
    assert said[1][1] == "a-0 frozen, p99 climbing"
    at = {e["kind"]: e["offset_s"] for e in report["events"] if e["kind"] in ("abort",)}
    rollbacks = [e["offset_s"] for e in report["events"] if e["text"].startswith("rollbacks:")]
    assert rollbacks and rollbacks[0] - at["abort"] < 2.0  # chaoslib's 30 s pause after the fault was cut short
    html = (report_dir / "report.html").read_text()
    assert 'id="timeline"' in html and "a-0 frozen, p99 climbing" in html
    assert "a-0 frozen, p99 climbing" in (report_dir / "report.md").read_text()
    assert (report_dir / "gameday.log").read_text().count("waiting for the operator") == 1


def test_gameday_suite_in_line_mode_confirm_skip_notes_and_web_ui(platform: Platform, tmp_path: Path) -> None:
    """Not a terminal: status lines out, commands in on stdin; the second experiment's fault is skipped."""
    experiment = short_experiment(tmp_path)  # pod-kill
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump({"name": "gd", "experiments": [{"path": experiment.name}, {"path": experiment.name}]})
    )
    port = 18000 + os.getpid() % 1000
    web_ui_args = ["--web-ui", str(port)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "resilience.cli",
            "gameday",
            str(suite),
            "--report-dir",
            str(tmp_path / "r"),
            *web_ui_args,
        ],
        env=platform.env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    prompts, web_ui, lines = 0, None, []
    # stdin stays open to the end on purpose: the game day must still exit (a bound on the whole test)
    watchdog = threading.Timer(240, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("CONFIRM fault step"):
                prompts += 1
                if prompts == 1:
                    web_ui = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                    proc.stdin.write("baseline looked clean\ny\n")
                else:
                    proc.stdin.write("s\n")
                proc.stdin.flush()
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    assert prompts == 2, out
    assert web_ui is not None and web_ui.status_code == 200 and "locust" in web_ui.text.lower()
    assert proc.returncode == 3, out  # a skipped fault was not tested: the suite cannot pass
    assert " req/s, p99 " in out  # status lines while the load runs
    suite_report = json.loads((tmp_path / "r" / "suite.json").read_text())
    first, second = suite_report["experiments"]
    assert [e["kind"] for e in first["events"] if e["kind"] in ("confirmed", "note")] == ["note", "confirmed"]
    assert first["faults"] and first["faults"][0]["landed"]
    assert second["faults"] == [] and second["exit_code"] == 3
    assert any("skipped 'sigkill-one-inference-replica'" in r for r in second["reasons"])
    assert_nothing_left(platform.state_dir)
