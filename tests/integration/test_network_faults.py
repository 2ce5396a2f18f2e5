"""Network faults for real: regions in network namespaces, nftables partitions and loss, tbf, the fault proxy.

Each test checks the evidence (rules present and counting, connections timing out, proxies delaying)
and the rollback (no table, qdisc, proxy or ledger entry left; the gateway routes direct; traffic flows).
The privileged tests need root and nft (CI installs nftables and runs as root); the proxy tests do not.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from resilience.errors import FaultError
from resilience.faults import (
    Bandwidth,
    ConnectionReset,
    FaultContext,
    NetworkLatency,
    PacketLoss,
    RegionPartition,
    Selector,
)
from resilience.model import FaultKind
from resilience.targets import LocalPlatform, netfilter
from tests.integration.conftest import Platform, privileged, server_addr, start_load
from tests.integration.faultcheck import assert_nothing_left, nft_tables, qdiscs

pytestmark = pytest.mark.integration


def _ctx(p: Platform) -> FaultContext:
    return FaultContext(LocalPlatform(p.state_dir))


def test_regions_live_in_their_own_namespaces(netns_platform: Platform) -> None:
    net = netns_platform.state["network"]
    assert net["mode"] == "netns"
    for region, info in net["regions"].items():
        pods = [p for p in netns_platform.pods() if p["region"] == region]
        assert pods and all(p["host"] == info["pod_ip"] and p["netns"] == info["netns"] for p in pods)
        # the replica's port is reachable at the namespace address, and not on the host's loopback
        assert netfilter.tcp_outcome(info["pod_ip"], pods[0]["http_port"]) == "connected"
        assert netfilter.tcp_outcome("127.0.0.1", pods[0]["http_port"]) == "refused"
        assert server_addr(netns_platform, f"http_{region}", pods[0]["name"]).startswith(info["pod_ip"] + ":")


@privileged
def test_partition_from_the_gateway_drops_packets_and_fails_over(netns_platform: Platform, tmp_path: Path) -> None:
    gen = start_load(netns_platform, tmp_path, rate=100, max_s=60)
    try:
        time.sleep(1.5)
        (rec,) = RegionPartition("a", "gateway", duration_s=4).inject(_ctx(netns_platform))
        time.sleep(1.5)
    finally:
        gen.stop()
    ev = rec.evidence
    assert rec.landed and rec.kind is FaultKind.REGION_PARTITION, ev
    assert ev["mechanism"] == "nftables"
    assert ev["gateway_connect"] == "timeout"  # a partition is silence, not a refusal
    assert ev["control_plane_connect"] == "connected"  # the region's own "kubelet" still reaches it
    assert ev["dropped_packets"]["gateway->region"] > 0
    assert ev["heal_to_first_connect_s"] is not None and ev["heal_to_first_connect_s"] < 1.0
    summary = gen.summary()
    assert summary.requests > 500 and summary.failures == 0, summary  # region b took over
    assert_nothing_left(netns_platform.state_dir)
    served = netns_platform.served()
    assert served["b-0"] + served["b-1"] > 0


@privileged
def test_partition_between_regions_cuts_namespace_to_namespace_traffic(netns_platform: Platform) -> None:
    (rec,) = RegionPartition("a", "regions", duration_s=1).inject(_ctx(netns_platform))
    assert rec.landed, rec.evidence
    assert rec.evidence["from_other_region_connect"] == ["timeout"]
    assert "gateway_connect" not in rec.evidence  # the gateway's path was left alone
    assert_nothing_left(netns_platform.state_dir)


def test_partition_through_the_proxy_blackholes_and_restores_routes(netns_platform: Platform, tmp_path: Path) -> None:
    before = {name: server_addr(netns_platform, "http_a", name) for name in ("a-0", "a-1")}
    gen = start_load(netns_platform, tmp_path, rate=100, max_s=60)
    try:
        time.sleep(1.0)
        (rec,) = RegionPartition("a", "gateway", duration_s=3, mechanism="proxy").inject(_ctx(netns_platform))
        time.sleep(1.0)
    finally:
        gen.stop()
    assert rec.landed, rec.evidence
    assert rec.evidence["mechanism"] == "proxy (unprivileged)"
    assert rec.evidence["syns_dropped"] >= 2  # callers saw connect timeouts, as behind a packet filter
    # At most one: a request arriving in the partition's first ~100 ms can spend all three HAProxy tries
    # (retries 2) on the two partitioned replicas before `error-limit 2` marks them down and the backup
    # region takes over (seen once: 1 x http 503 of 561 requests in one full test run; see README, Known limits).
    assert gen.summary().failures <= 1
    assert {name: server_addr(netns_platform, "http_a", name) for name in ("a-0", "a-1")} == before
    assert_nothing_left(netns_platform.state_dir)


def test_latency_is_added_by_the_proxy_and_removed_after(netns_platform: Platform, tmp_path: Path) -> None:
    fault = NetworkLatency(Selector(region="a", count=1), latency_ms=30, jitter_ms=0, duration_s=3)
    (rec,) = fault.inject(_ctx(netns_platform))
    assert rec.landed, rec.evidence
    assert rec.evidence["chunks_delayed"] > 0
    assert 29 <= rec.evidence["mean_delay_ms"] <= 40
    assert_nothing_left(netns_platform.state_dir)


def test_connection_resets_are_counted(netns_platform: Platform, tmp_path: Path) -> None:
    (rec,) = ConnectionReset(Selector(region="a", count=1), probability=1.0, duration_s=2).inject(_ctx(netns_platform))
    assert rec.landed and rec.evidence["resets"] > 0, rec.evidence
    assert_nothing_left(netns_platform.state_dir)


@privileged
def test_packet_loss_drops_a_share_of_packets(netns_platform: Platform, tmp_path: Path) -> None:
    gen = start_load(netns_platform, tmp_path, rate=100, max_s=30)
    try:
        (rec,) = PacketLoss("a", percent=30, duration_s=3).inject(_ctx(netns_platform))
    finally:
        gen.stop()
    assert rec.landed and rec.evidence["dropped_packets"] > 0, rec.evidence
    assert nft_tables() == []


_SINK = (  # run in the region's namespace: counts what arrives, and how long it took from the first byte
    "import socket,sys,time\n"
    "s=socket.socket(); s.bind((sys.argv[1],0)); s.listen(); s.settimeout(20); print(s.getsockname()[1], flush=True)\n"
    "c,_=s.accept(); c.settimeout(20); d=c.recv(65536); t=time.monotonic(); n=len(d)\n"
    "while (d:=c.recv(65536)): n+=len(d)\n"
    "print(n, time.monotonic()-t, flush=True)\n"
)


@privileged
def test_bandwidth_limit_shapes_real_traffic_on_the_link_and_is_removed(netns_platform: Platform) -> None:
    net = netns_platform.state["network"]["regions"]["a"]
    sink = subprocess.Popen(
        ["ip", "netns", "exec", net["netns"], sys.executable, "-c", _SINK, net["pod_ip"]],
        stdout=subprocess.PIPE,
        text=True,
    )

    def send() -> None:  # 400 kB from the host into the region while the limit is on: 1.6 s at 2 Mbit/s
        time.sleep(0.5)
        with socket.create_connection((net["pod_ip"], port), timeout=10) as c:
            c.sendall(b"x" * 400_000)

    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        sender = threading.Thread(target=send)
        sender.start()
        (rec,) = Bandwidth("a", rate="2mbit", duration_s=3).inject(_ctx(netns_platform))
        sender.join(10)
        received, took_s = sink.stdout.readline().split()
    finally:
        sink.kill()
        sink.wait()
    assert rec.landed, rec.evidence
    into_region = rec.evidence["ends"][net["host_dev"]]
    assert net["host_dev"] in rec.evidence["shaped_ends"] and into_region["overlimits"] > 0, rec.evidence
    assert into_region["sent_bytes"] >= 400_000 and into_region["limit_bps"] == 2e6
    # measured at both ends: the qdisc's average stayed under the limit, and the receiver got it at that pace
    assert into_region["throughput_bps"] <= 2e6 * 1.1, rec.evidence
    assert int(received) == 400_000 and float(took_s) >= 1.4, (received, took_s)  # 1.6 s at 2 Mbit/s
    assert "tbf" not in qdiscs(net["host_dev"]) and "tbf" not in qdiscs(net["ns_dev"], net["netns"])
    assert_nothing_left(netns_platform.state_dir)


def test_packet_filter_faults_say_what_they_need_without_namespaces(platform: Platform) -> None:
    with pytest.raises(FaultError, match="--netns"):
        PacketLoss("a", percent=10, duration_s=1).inject(_ctx(platform))
    with pytest.raises(FaultError, match="network namespaces"):
        RegionPartition("a", "regions", duration_s=1).inject(_ctx(platform))
    assert_nothing_left(platform.state_dir)
