"""What "nothing left behind" means, checked against the real system: processes, nftables, qdiscs, ledger."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psutil


def fault_processes() -> list[psutil.Process]:
    """Fault proxies and burners still running (the toolkit's own helper processes)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "resilience.targets.faultproxy" in cmd or "resilience.targets.burner" in cmd:
            found.append(proc)
    return found


def nft_tables() -> list[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return [line.split()[-1] for line in out.splitlines() if "resilience_" in line]


def qdiscs(dev: str, netns: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run([*prefix, "tc", "qdisc", "show", "dev", dev], capture_output=True, text=True).stdout


def ledger_entries(state_dir: Path) -> list[Path]:
    return sorted((state_dir / "ledger").glob("*.json"))


def assert_nothing_left(state_dir: Path) -> None:
    assert fault_processes() == [], [p.info for p in fault_processes()]
    assert nft_tables() == []
    assert ledger_entries(state_dir) == []
