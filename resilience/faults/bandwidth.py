"""Limit the link between the gateway and a region with `tc tbf`, judged from the qdiscs' own counters.

A token bucket filter on both ends of the region's veth. The qdisc being there proves nothing: the
evidence is tc's statistics (`tc -s qdisc show`) over the hold, bytes and packets sent, packets
dropped, and `overlimits`, the times the bucket was empty and a packet had to wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from resilience.errors import FaultError
from resilience.faults import args
from resilience.faults.base import FaultContext
from resilience.faults.ledger import DeleteQdisc, UndoStep
from resilience.faults.network import choose_mechanism
from resilience.model import FaultKind, FaultRecord
from resilience.targets import Target
from resilience.targets.base import TbfStats


def judge_shaping(
    before: dict[str, TbfStats | None], after: dict[str, TbfStats | None], held_s: float
) -> tuple[bool, dict[str, Any], str | None]:
    """(landed, evidence, error): landed when every end had its tbf and one of them shaped traffic.

    Shaped: the qdisc sent packets during the hold and was over its limit (a packet waited for tokens)
    or dropped packets. A bucket that never ran out did nothing to the traffic, so that is not landed.
    """
    ends: dict[str, dict[str, Any]] = {}
    missing = [dev for dev in after if before.get(dev) is None or after[dev] is None]
    for dev, b in before.items():
        a = after.get(dev)
        if b is None or a is None:
            ends[dev] = {"tbf": False}
            continue
        sent = a.sent_bytes - b.sent_bytes
        ends[dev] = {
            "tbf": True,
            "limit_bps": a.rate_bps,
            "sent_bytes": sent,
            "sent_packets": a.sent_packets - b.sent_packets,
            "dropped": a.dropped - b.dropped,
            "overlimits": a.overlimits - b.overlimits,
            "throughput_bps": round(sent * 8 / held_s) if held_s > 0 else None,
        }
    shaped = [
        dev
        for dev, e in ends.items()
        if e["tbf"] and e["sent_packets"] > 0 and (e["overlimits"] > 0 or e["dropped"] > 0)
    ]
    evidence: dict[str, Any] = {"held_s": round(held_s, 3), "ends": ends, "shaped_ends": shaped}
    if missing:
        return False, evidence, f"no tbf qdisc on {', '.join(missing)} during the hold"
    if not shaped:
        packets = sum(e["sent_packets"] for e in ends.values())
        return (
            False,
            evidence,
            f"no traffic was shaped: the tbf qdiscs sent {packets} packet(s) and were never over their limit "
            "(is traffic flowing over the link, faster than the rate?)",
        )
    return True, evidence, None


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """Limit the link between the gateway and a region to `rate` (e.g. `1mbit`) each way with `tbf`, for `duration_s`."""

    region: str = "a"
    rate: str = "1mbit"
    duration_s: float = 10.0
    kind: FaultKind = FaultKind.NETWORK_BANDWIDTH

    def __post_init__(self) -> None:
        args.tc_rate("rate", self.rate)
        args.positive("duration_s", self.duration_s)

    def plan(self, platform: Target) -> list[str]:
        choose_mechanism(platform, self.region, "nftables")
        return [f"tbf {self.rate} on both ends of region {self.region}'s link for {self.duration_s:g} s"]

    def inject(self, ctx: FaultContext) -> list[FaultRecord]:
        choose_mechanism(ctx.platform, self.region, "nftables")
        platform, link = ctx.platform, ctx.platform.region_link(self.region)
        assert link is not None  # choose_mechanism said there is one
        target = f"region {self.region} link"
        undo: list[UndoStep] = [DeleteQdisc(dev=dev, netns=ns) for dev, ns in link.ends]
        entry = ctx.book.record(self.kind, target, undo)
        try:
            platform.shape_link(self.region, self.rate)
            at = time.time()
            slot = ctx.pending(FaultRecord(self.kind, target, at, False, {"mechanism": "tc tbf"}))
            before = platform.link_stats(self.region)
            start = time.monotonic()
            time.sleep(self.duration_s)
            after = platform.link_stats(self.region)
            held_s = time.monotonic() - start
        finally:
            left = platform.unshape_link(self.region)
            if not left:
                ctx.book.clear(entry)
        landed, shaping, error = judge_shaping(before, after, held_s)
        evidence = {"mechanism": "tc tbf", "rate": self.rate} | shaping
        if left:
            evidence["qdisc_left_on"] = left
        healed = None if left else time.time()  # both qdiscs are gone
        record = ctx.settle(slot, FaultRecord(self.kind, target, at, landed, evidence, healed, error))
        if left:
            raise FaultError(
                f"could not remove the tbf qdisc from {', '.join(left)}; the limit is still on and its ledger entry "
                "is kept: run `resilience recover`"
            )
        return [record]
