"""Packet filters and queueing disciplines on the host: nftables tables and `tc` qdiscs, each undoable.

The privileged half of the network faults (the unprivileged half is `faultproxy`). Every fault gets a
table of its own, named after its ledger entry, so that rolling it back is one `nft delete table` that
cannot touch anyone else's rules. Rules carry counters: packets dropped are the evidence.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import time

from resilience.errors import FaultError

log = logging.getLogger(__name__)

FAMILY = "inet"


def available() -> str | None:
    """None when packet-filter faults can be applied here, else why not."""
    if os.geteuid() != 0:
        return "packet filters need root (CAP_NET_ADMIN)"
    if shutil.which("nft") is None:
        return "`nft` is not installed (apt-get install nftables)"
    return None


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=10)


def apply_table(table: str, chains: dict[str, tuple[str, list[str]]]) -> None:
    """Create table `table` with `chains`: name -> (hook, rules). Atomic: all rules land or none."""
    lines = [f"table {FAMILY} {table} {{"]
    for name, (hook, rules) in chains.items():
        lines.append(f"  chain {name} {{ type filter hook {hook} priority -10; policy accept;")
        lines += [f"    {rule}" for rule in rules]
        lines.append("  }")
    lines.append("}")
    proc = _run(["nft", "-f", "-"], "\n".join(lines) + "\n")
    if proc.returncode != 0:
        raise FaultError(f"nft rejected table {table}: {proc.stderr.strip()}")
    log.info("nftables table %s applied (%d chain(s))", table, len(chains))


def delete_table(table: str) -> bool:
    """Delete the table; False when it was not there (already rolled back)."""
    proc = _run(["nft", "delete", "table", FAMILY, table])
    if proc.returncode != 0 and "No such file" not in proc.stderr:
        raise FaultError(f"could not delete nftables table {table}: {proc.stderr.strip()}")
    return proc.returncode == 0


def table_exists(table: str) -> bool:
    return _run(["nft", "list", "table", FAMILY, table]).returncode == 0


def counters(table: str) -> dict[str, int]:
    """Packets counted per rule comment in `table` (the evidence that the filter matched traffic)."""
    proc = _run(["nft", "-j", "list", "table", FAMILY, table])
    if proc.returncode != 0:
        return {}
    found: dict[str, int] = {}
    for item in json.loads(proc.stdout).get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        packets = sum(e["counter"]["packets"] for e in rule.get("expr", []) if "counter" in e)
        key = rule.get("comment", f"rule-{rule.get('handle')}")
        found[key] = found.get(key, 0) + packets
    return found


def add_tbf(dev: str, netns: str | None, rate: str, burst: str = "32kbit", latency: str = "400ms") -> None:
    """Limit `dev`'s egress to `rate` with a token bucket filter (the kernel has tbf, not netem)."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = _run(
        [*prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", burst, "latency", latency]
    )
    if proc.returncode != 0:
        raise FaultError(f"tc rejected a tbf qdisc on {dev}: {proc.stderr.strip()}")


def qdisc(dev: str, netns: str | None) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return _run([*prefix, "tc", "-s", "qdisc", "show", "dev", dev]).stdout


def delete_qdisc(dev: str, netns: str | None) -> bool:
    """Remove `dev`'s root qdisc; False when there was none of ours (or the device is gone)."""
    if "tbf" not in qdisc(dev, netns):
        return False
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return _run([*prefix, "tc", "qdisc", "del", "dev", dev, "root"]).returncode == 0


def delete_namespaces(names: list[str]) -> None:
    for name in names:
        _run(["ip", "netns", "del", name])


def tcp_outcome(host: str, port: int, source: str | None = None, timeout_s: float = 0.5) -> str:
    """`connected`, `timeout` or `refused`: what a client sees when it opens a connection right now."""
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s, source_address=(source, 0) if source else None):
            return "connected"
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return "timeout" if time.monotonic() - start >= timeout_s * 0.9 else f"error: {exc.strerror or exc}"
