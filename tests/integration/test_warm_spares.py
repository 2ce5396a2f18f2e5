"""Warm restarts for real: a booted spare takes over a SIGKILLed replica in well under a second."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import running_platform, short_experiment, start_load

pytestmark = pytest.mark.integration


def test_a_warm_spare_replaces_a_killed_replica_and_is_replenished(tmp_path: Path) -> None:
    with running_platform(tmp_path, "serving:\n  warm_spares: 1\n") as p:

        def spares() -> list[dict]:  # type: ignore[type-arg]
            status: list[dict] = httpx.get(p.state["control_url"] + "/status", timeout=5).json()["spares"]  # type: ignore[type-arg]
            return status

        deadline = time.monotonic() + 30
        while not (spares() and spares()[0]["ready"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        spare_pid = spares()[0]["pid"]
        report_dir = tmp_path / "r"
        result = p.cli("run", str(short_experiment(tmp_path)), "--report-dir", str(report_dir))
        assert result.returncode in (0, 1), result.stderr
        import json

        report = json.loads((report_dir / "report.json").read_text())
        (fault,) = report["faults"]
        assert fault["evidence"]["replacement_pid"] == spare_pid  # the spare, not a fresh boot
        assert fault["evidence"]["time_to_ready_s"] < 1.0
        assert report["load"]["failures"] == 0
        victim = next(x for x in p.pods() if x["pid"] == spare_pid)
        assert victim["warm_starts"] == 1
        # the gateway entry now points at the spare's ports: it serves through the gateway
        before = p.served().get(victim["name"], 0)
        gen = start_load(p, tmp_path, rate=50, max_s=30)
        time.sleep(2)
        gen.stop()
        assert p.served().get(victim["name"], 0) > before
        deadline = time.monotonic() + 30
        while not (spares() and spares()[0]["ready"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert spares()[0]["ready"] and spares()[0]["pid"] != spare_pid  # a new spare stands by
