"""The walking skeleton for real: Triton replicas behind HAProxy, Locust load, a real SIGKILL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.conftest import ROOT, Platform, short_experiment

pytestmark = pytest.mark.integration


def _report(report_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    return data


def test_pod_kill_under_load_lands_recovers_and_is_measured(platform: Platform, tmp_path: Path) -> None:
    report_dir = tmp_path / "reports" / "run"
    # how long a replica took to start on this box, today: the bound on its replacement's time to ready
    cold = max(p["ready_at"] - p["started_at"] for p in platform.pods() if p["role"] == "inference")
    result = platform.cli("run", str(short_experiment(tmp_path)), "--report-dir", str(report_dir))
    assert result.returncode in (0, 1), result.stderr
    report = _report(report_dir)
    assert report["schema_version"] == 1
    assert report["exit_code"] == result.returncode
    assert report["experiment"]["title"].startswith("Killing one inference replica")
    # piped, as in a CI log: the console table is not cut to 80 columns
    table = result.stdout.split("SLO verdicts")[1]
    assert "availability" in table and "latency-p99" in table and "…" not in table.split("Faults")[0], table

    # the fault landed, with evidence from the pod's parent, and the platform healed
    (fault,) = report["faults"]
    ev = fault["evidence"]
    assert fault["kind"] == "pod-kill" and fault["landed"] is True
    assert ev["exit_seen_by_parent"]["signal"] == "SIGKILL"
    assert ev["exit_seen_by_parent"]["pid"] == ev["killed_pid"]
    assert isinstance(ev["replacement_pid"], int) and ev["replacement_pid"] != ev["killed_pid"]
    assert not psutil.pid_exists(ev["killed_pid"])
    # the supervisor restarts at once, or after its crash backoff if earlier tests killed this pod < 30 s ago
    log = (platform.state_dir / "logs" / "supervisor.log").read_text()
    (backoff,) = [float(m) for m in re.findall(rf"pid {ev['killed_pid']} .*; restart in ([0-9.]+) s", log)]
    assert 0 < ev["time_to_ready_s"] < backoff + 1.5 * cold + 2.0, (ev["time_to_ready_s"], backoff, cold)
    assert fault["recovered_at"] > fault["injected_at"]
    assert all(p["ready"] for p in platform.pods())

    # load flowed the whole time at the declared rate, and every request was counted
    load = report["load"]
    assert 80 <= load["achieved_rps"] <= 120
    assert abs(load["requests"] - load["achieved_rps"] * load["duration_s"]) <= 2
    slos = {s["name"]: s for s in report["slos"]}
    assert set(slos) == {"availability", "latency-p99"}
    assert 0 < slos["availability"]["samples"] <= load["requests"]
    assert slos["availability"]["samples"] >= 0.5 * load["requests"]  # warm-up only is excluded
    # the gateway retries on another replica: the kill costs (almost) no failed requests
    assert slos["availability"]["verdict"] == "pass", slos["availability"]
    assert load["failures"] <= 1, load["errors"]
    assert slos["latency-p99"]["measured"] > 0

    # the verdict follows from the parts
    expected = 0 if all(s["verdict"] == "pass" for s in report["slos"]) and report["status"] == "completed" else 1
    assert report["exit_code"] == expected, report["reasons"]
    assert report["verdict"] in (("pass",) if expected == 0 else ("fail", "inconclusive"))

    journal = json.loads((report_dir / "journal.json").read_text())
    assert {"status", "steady_states", "run", "rollbacks", "experiment"} <= set(journal)
    assert journal["run"][0]["output"][0]["evidence"]["killed_pid"] == ev["killed_pid"]
    assert not (report_dir.parent / "latest").exists()  # a --report-dir of the user's own: nothing beside it

    # the same run as JUnit (read back by a JUnit parser) and Markdown
    from junitparser import JUnitXml

    (suite,) = list(JUnitXml.fromfile(str(report_dir / "report.xml")))
    cases = {c.name: c for c in suite}
    assert suite.tests == 4 and any(name.startswith("fault pod-kill: pod a-") for name in cases)
    assert cases["SLO availability: >= 99%"].is_passed
    assert cases["run"].is_passed == (expected == 0)  # the run's own verdict, as the exit code says
    assert suite.failures == sum(s["verdict"] != "pass" for s in report["slos"]) + (expected == 1)
    markdown = (report_dir / "report.md").read_text()
    assert "| availability | >= 99% |" in markdown and "| pod-kill |" in markdown
    _check_html_in_a_real_browser(report_dir / "report.html", tmp_path)


def _check_html_in_a_real_browser(page: Path, tmp_path: Path) -> None:
    """The HTML report renders in headless Chromium with its charts and no console errors; keep a screenshot."""
    import re
    import shutil

    text = page.read_text()
    assert not re.search(r"(src|href)=\"https?:", text), "the report must not need the network"
    assert text.count("<svg") >= 4 and 'class="fault"' in text  # latency, error rate, budget, readiness
    assert 'class="down"' in text and 'class="up"' in text  # the killed replica's gap in the readiness rows
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    shot = tmp_path / "report.png"
    run = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1000,1600", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert shot.exists() and shot.stat().st_size > 20_000, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90).stdout
    assert dom.count("<polyline") >= 3 and "Faults and their evidence" in dom
    shutil.copy(shot, page.with_suffix(".png"))  # kept next to the report for a person to look at


def test_a_baseline_that_already_fails_exits_1_and_injects_nothing(platform: Platform, tmp_path: Path) -> None:
    catalogue = tmp_path / "slos.yaml"
    catalogue.write_text("slos:\n  - {name: impossible, sli: latency, percentile: 50, objective: 0.001}\n")

    def impossible(exp: dict[str, Any]) -> None:
        exp["steady-state-hypothesis"]["probes"] = exp["steady-state-hypothesis"]["probes"][:1]
        exp["steady-state-hypothesis"]["probes"][0]["provider"]["arguments"]["slo"] = "impossible"
        exp["controls"][0]["provider"]["arguments"]["slos"] = ["impossible"]

    restarts_before = {p["name"]: p["restarts"] for p in platform.pods()}
    report_dir = tmp_path / "r"
    result = platform.cli(
        "run", str(short_experiment(tmp_path, impossible, catalogue)), "--report-dir", str(report_dir), "--json"
    )
    assert result.returncode == 1, result.stderr
    report = _report(report_dir)
    assert json.loads(result.stdout) == report  # --json: report.json on stdout, nothing else
    assert report["status"] == "baseline-failed" and report["verdict"] == "fail"
    assert report["faults"] == []
    assert {p["name"]: p["restarts"] for p in platform.pods()} == restarts_before
    assert "already failed before any fault" in result.stdout
    # what the box measured, and what to try next
    measured = next(r for r in report["reasons"] if r.startswith("baseline measured impossible:"))
    assert "p50 <= 0.001 ms" in measured and " requests" in measured, report["reasons"]
    assert any("resilience platform capacity" in r for r in report["reasons"]), report["reasons"]


def test_a_selector_that_matches_nothing_exits_3(platform: Platform, tmp_path: Path) -> None:
    def nowhere(exp: dict[str, Any]) -> None:
        exp["method"][0]["provider"]["arguments"]["region"] = "zz"

    report_dir = tmp_path / "r"
    result = platform.cli("run", str(short_experiment(tmp_path, nowhere)), "--report-dir", str(report_dir))
    assert result.returncode == 3, result.stderr
    report = _report(report_dir)
    assert report["status"] == "fault-failed" and report["verdict"] == "error"
    assert any("no running pod matches" in r for r in report["reasons"])


def test_chaos_run_runs_the_same_experiment(platform: Platform, tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.json"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("chaos")),
            "--no-log-file",
            "run",
            "--journal-path",
            str(journal_path),
            str(short_experiment(tmp_path)),
        ],
        capture_output=True,
        text=True,
        env=platform.env,
        cwd=ROOT,
        timeout=240,
    )
    journal = json.loads(journal_path.read_text())
    assert journal["steady_states"]["before"]["probes"], result.stderr
    assert [p["activity"]["name"] for p in journal["steady_states"]["before"]["probes"]] == [
        "availability-slo-met",
        "latency-p99-slo-met",
    ]
    (kill,) = journal["run"]
    assert kill["status"] == "succeeded", kill
    assert kill["output"][0]["evidence"]["exit_seen_by_parent"]["signal"] == "SIGKILL"
    assert "run SLO availability" in result.stderr + result.stdout
