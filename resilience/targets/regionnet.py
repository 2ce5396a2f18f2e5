"""How the local platform's regions are cut, thinned and throttled: nftables rules and `tc` on their veths.

The faults say what (partition region a from the gateway, drop 10% of its packets, limit its link to
1mbit) and judge the evidence; this module knows how on a platform whose regions live in network
namespaces (`reference_platform.netns`): which addresses a rule names, which chain sees which packets,
which veth ends a token bucket goes on, and how a connection is tried from where a client would be.
`LocalPlatform` answers the `Target` verbs with it; another platform (a cluster's NetworkPolicies, say)
answers them its own way.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from resilience.errors import FaultError
from resilience.targets import netfilter
from resilience.targets.base import RegionLink, TbfStats

DIRECTIONS = ("gateway", "regions", "full")
"""What a partition cuts: the gateway from the region, the region from the other regions, or both."""


_TBF = re.compile(
    r"qdisc tbf \S+ .*?\brate (?P<rate>\S+).*?\n\s*Sent (?P<bytes>\d+) bytes (?P<packets>\d+) pkt "
    r"\(dropped (?P<dropped>\d+), overlimits (?P<overlimits>\d+)",
    re.DOTALL,
)
_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12}


def parse_tbf(text: str) -> TbfStats | None:
    """The tbf qdisc's counters in `tc -s qdisc show dev X` output, or None when there is no tbf qdisc."""
    m = _TBF.search(text)
    if m is None:
        return None
    return TbfStats(_rate_bps(m["rate"]), int(m["bytes"]), int(m["packets"]), int(m["dropped"]), int(m["overlimits"]))


def _rate_bps(text: str) -> float | None:
    """`2Mbit` -> 2e6 (tc prints rates in bits per second, 1000-based)."""
    m = re.fullmatch(r"([\d.]+)([A-Za-z]*bit)", text)
    unit = _UNITS.get(m[2].lower()) if m else None
    return float(m[1]) * unit if m and unit else None


def cut_rules(
    net: RegionLink, others: list[RegionLink], direction: str, loss_percent: float | None = None
) -> dict[str, tuple[str, list[str]]]:
    """The nftables chains (name -> (hook, rules)) that cut `net` in `direction`, or drop `loss_percent`% there.

    Rule comments name the path they cut: `counters()` reports dropped packets per path.
    """
    if direction not in DIRECTIONS:
        raise FaultError(f"direction: {direction!r} is not one of {', '.join(DIRECTIONS)}")
    match = f"numgen random mod 1000 < {round(loss_percent * 10)} " if loss_percent is not None else ""
    chains: dict[str, tuple[str, list[str]]] = {
        "c_out": ("output", []),
        "c_in": ("input", []),
        "c_fwd": ("forward", []),
    }
    if direction in ("gateway", "full"):
        g, p = net.gateway_ip, net.pod_ip
        chains["c_out"][1].append(f'ip saddr {g} ip daddr {p} {match}counter drop comment "gateway->region"')
        chains["c_in"][1].append(f'ip saddr {p} ip daddr {g} {match}counter drop comment "region->gateway"')
    if direction in ("regions", "full"):
        for o in others:
            chains["c_fwd"][1].append(
                f'ip saddr {net.cidr} ip daddr {o.cidr} {match}counter drop comment "region->{o.region}"'
            )
            chains["c_fwd"][1].append(
                f'ip saddr {o.cidr} ip daddr {net.cidr} {match}counter drop comment "{o.region}->region"'
            )
    return {name: chain for name, chain in chains.items() if chain[1]}


def connect_from(net: RegionLink, port: int, source: str, others: dict[str, RegionLink], timeout_s: float) -> str:
    """`connected`, `timeout` or `refused`: a TCP connection to the region's pods from `source` right now.

    `source`: `gateway` (the gateway's address), `control` (the supervisor's probes), or another region's
    name (from inside that region's namespace).
    """
    if source == "gateway":
        return netfilter.tcp_outcome(net.pod_ip, port, net.gateway_ip, timeout_s)
    if source == "control":
        return netfilter.tcp_outcome(net.pod_ip, port, net.control_ip, timeout_s)
    if source not in others:
        raise FaultError(f"source: {source!r} is neither gateway, control nor a region ({', '.join(others)})")
    code = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout({timeout_s})\n"
        f"try:\n s.connect(({net.pod_ip!r},{port})); print('connected')\n"
        "except TimeoutError: print('timeout')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except OSError as e: print('error', e)\n"
    )
    out = subprocess.run(
        ["ip", "netns", "exec", others[source].netns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return out.stdout.strip() or out.stderr.strip()


def shape(net: RegionLink, rate: str) -> None:
    """A token bucket of `rate` on both ends of the region's veth."""
    for dev, ns in net.ends:
        netfilter.add_tbf(dev, ns, rate)


def link_stats(net: RegionLink) -> dict[str, TbfStats | None]:
    """Each veth end's tbf counters (None where it has no tbf)."""
    return {dev: parse_tbf(netfilter.qdisc(dev, ns)) for dev, ns in net.ends}


def unshape(net: RegionLink) -> list[str]:
    """Remove the token buckets; the devices where one is still on (empty when both are gone)."""
    # delete_qdisc says False both when there was nothing to delete and when tc failed: look again
    return [dev for dev, ns in net.ends if not netfilter.delete_qdisc(dev, ns) and "tbf" in netfilter.qdisc(dev, ns)]


def time_to_connect(net: RegionLink, port: int, timeout_s: float = 5.0) -> float | None:
    """Seconds until the gateway's first connection to the region succeeds (after a heal), None if none did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if netfilter.tcp_outcome(net.pod_ip, port, net.gateway_ip, 0.2) == "connected":
            return round(time.monotonic() - start, 4)
        time.sleep(0.005)
    return None
