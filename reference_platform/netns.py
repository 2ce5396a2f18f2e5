"""Regions in their own network namespaces: the local stand-in for separate zones' networks.

With `network.namespaces: true` (root only) each region gets a namespace and a veth pair to the host:

    host  10.237.S.1   the gateway's source address (what a partition cuts)
          10.237.S.254 the supervisor's probes ("the kubelet": it lives in the region, a partition spares it)
    ns    10.237.S.2   the region's replicas (bound to 0.0.0.0 inside the namespace)

Forwarding is switched on for the region's host-side veth only (never the host-wide `ip_forward`), so
regions reach each other through the host and a region<->region partition has a path to cut.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "10.237"


class NetnsError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class RegionNet:
    region: str
    netns: str
    host_dev: str
    ns_dev: str
    subnet: int

    @property
    def gateway_ip(self) -> str:
        return f"{PREFIX}.{self.subnet}.1"

    @property
    def control_ip(self) -> str:
        return f"{PREFIX}.{self.subnet}.254"

    @property
    def pod_ip(self) -> str:
        return f"{PREFIX}.{self.subnet}.2"

    def to_json(self) -> dict[str, object]:
        return {
            "netns": self.netns,
            "host_dev": self.host_dev,
            "ns_dev": self.ns_dev,
            "cidr": f"{PREFIX}.{self.subnet}.0/24",
            "gateway_ip": self.gateway_ip,
            "control_ip": self.control_ip,
            "pod_ip": self.pod_ip,
        }


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN); run as root or set network.namespaces: false"
    if subprocess.run(["which", "ip"], capture_output=True).returncode != 0:
        return "`ip` (iproute2) is not installed"
    return None


def _used_subnets() -> set[int]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    used = set()
    for word in out.split():
        if word.startswith(PREFIX + "."):
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(word.split(".")[2]))
    return used


def create(platform_id: str, regions: list[str]) -> list[RegionNet]:
    """Make one namespace per region, wired to the host; undo everything made if any step fails."""
    why = available()
    if why:
        raise NetnsError(why)
    used = _used_subnets()
    free = [s for s in range(1, 250) if s not in used]
    made: list[RegionNet] = []
    try:
        for i, region in enumerate(regions):
            net = RegionNet(
                region, f"rs-{platform_id[:8]}-{region}", f"rh{platform_id[:6]}{i}", f"rn{platform_id[:6]}{i}", free[i]
            )
            _ip("netns", "add", net.netns)
            made.append(net)
            _ip("link", "add", net.host_dev, "type", "veth", "peer", "name", net.ns_dev, "netns", net.netns)
            for addr in (net.gateway_ip, net.control_ip):
                _ip("addr", "add", f"{addr}/24", "dev", net.host_dev)
            _ip("link", "set", net.host_dev, "up")
            Path(f"/proc/sys/net/ipv4/conf/{net.host_dev}/forwarding").write_text("1")
            _ip("-n", net.netns, "addr", "add", f"{net.pod_ip}/24", "dev", net.ns_dev)
            _ip("-n", net.netns, "link", "set", net.ns_dev, "up")
            _ip("-n", net.netns, "link", "set", "lo", "up")
            _ip("-n", net.netns, "route", "add", f"{PREFIX}.0.0/16", "via", net.gateway_ip)
    except (NetnsError, OSError):
        delete(made)
        raise
    log.info("regions in network namespaces: %s", ", ".join(f"{n.region}={n.netns}" for n in made))
    return made


def delete(nets: list[RegionNet]) -> None:
    """Remove the namespaces (their veth pairs go with them); fine if already gone."""
    for net in nets:
        subprocess.run(["ip", "netns", "del", net.netns], capture_output=True, timeout=10)


def sweep(platform_id: str) -> list[str]:
    """Delete every namespace this platform made (for `platform down` after a crash)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    gone = []
    for line in out.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(f"rs-{platform_id[:8]}-"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
            gone.append(name)
    return gone


def exec_prefix(net: RegionNet | None) -> list[str]:
    return ["ip", "netns", "exec", net.netns] if net else []
