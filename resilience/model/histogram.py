"""HDR histograms of latency in microseconds: record, merge (exactly), read percentiles.

Percentiles over any window are read from the merged histogram of its slices, never averaged across
slices or workers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

from resilience.model.measure import Slice

LOWEST_US = 1
HIGHEST_US = 60_000_000
"""One minute: a request slower than this is a failure (timeouts are far shorter)."""
SIGNIFICANT_DIGITS = 3


class Histogram:
    """A latency histogram (microseconds) with the settings every component shares."""

    __slots__ = ("hdr",)

    def __init__(self) -> None:
        self.hdr = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    @classmethod
    def decode(cls, encoded: bytes) -> Histogram:
        h = cls()
        h.add_encoded(encoded)
        return h

    def record(self, value_us: float) -> None:
        # record_value silently drops values above the highest trackable value: clamp instead.
        self.hdr.record_value(min(max(int(value_us), LOWEST_US), HIGHEST_US))

    def add_encoded(self, encoded: bytes) -> None:
        if encoded:
            self.hdr.decode_and_add(encoded)

    def add(self, other: Histogram) -> None:
        if other.count:  # adding an empty histogram would reset min to 0
            self.hdr.add(other.hdr)

    def encode(self) -> bytes:
        return bytes(self.hdr.encode()) if self.count else b""

    @property
    def count(self) -> int:
        return int(self.hdr.get_total_count())

    def percentile_ms(self, q: float) -> float | None:
        """The q-th percentile (0 < q <= 100) in milliseconds, or None when empty."""
        if not self.count:
            return None
        return float(self.hdr.get_value_at_percentile(q)) / 1000.0

    def count_above_ms(self, bound_ms: float) -> int:
        """How many recorded values exceed `bound_ms` (to HDR precision: a bucket that straddles the bound
        counts as above it, as HDR's recorded-value iterator reports it at its highest equivalent value).

        Sums the counts array with numpy: walking HDR's Python iterator cost ~90 ms per 250 ms slice.
        """
        if not self.count:
            return 0
        bound_us = max(int(bound_ms * 1000), 0)
        index = self.hdr.get_counts_array_index(bound_us)
        if self.hdr.get_highest_equivalent_value(bound_us) > bound_us:
            index -= 1  # the bound's own bucket also holds values above the bound
        counts = np.ctypeslib.as_array(self.hdr.counts)
        below = int(counts[: index + 1].sum()) if index >= 0 else 0
        return self.count - below


def merge_latency(slices: Iterable[Slice]) -> Histogram:
    h = Histogram()
    for s in slices:
        h.add_encoded(s.latency_hdr)
    return h


def merge_lag(slices: Iterable[Slice]) -> Histogram:
    h = Histogram()
    for s in slices:
        h.add_encoded(s.lag_hdr)
    return h
