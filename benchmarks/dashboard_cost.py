"""CPU a live display costs per refresh: what the game-day dashboard and the progress bars take from the
2 cores the platform and the load generator share.

A synthetic run (no platform needed): `--seconds` of 250 ms slices at 100 req/s with HDR histograms
like the generator's, two SLOs (availability, p99). Each refresh (paced at 4 Hz; CPU time counted, not
the sleeps) is measured two ways, in one run:
- naive: per-second points of the last 60 s and the recent SLOs recomputed from every slice each time;
- LiveFeed: what the displays use (a complete second merged once; SLOs refreshed once a second);
- whole frame: the game-day dashboard's `render()` (LiveFeed, pods, rich layout) printed as ANSI to an
  off-screen 120x40 terminal, what `rich.live.Live` does each refresh (no platform: the pods table is empty).
Also: counting the requests over a latency bound in one slice, by HDR's iterator (what every SLO
evaluation did before) and by summing the counts array (what it does now). Before both changes a
dashboard refresh cost ~680 ms of CPU and the first `make gameday` failed its baseline on p99.

    python benchmarks/dashboard_cost.py [--seconds 120] [--refreshes 40]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from resilience.cli.gameday import GameDay
from resilience.engine import session
from resilience.engine.live import HISTORY_S, RECENT_S, LiveFeed
from resilience.engine.operator import Operator
from resilience.engine.session import RunSession
from resilience.model import Histogram, SLIKind, SLOSpec
from resilience.model.measure import Slice
from resilience.slo import evaluate_all, seconds, window
from resilience.targets.local import STATE_DIR_ENV


class FakeLoad:
    """Stands in for LoadGenerator.slices() only: the displays read nothing else from it."""

    stopped_at = 0.0  # already stopped, as far as session.end() is concerned

    def __init__(self, slices: list[Slice]) -> None:
        self._slices = slices

    def slices(self) -> list[Slice]:
        return list(self._slices)


RNG = random.Random(7)


def one_slice(i: int, t: float, rate: float) -> Slice:
    h = Histogram()
    for _ in range(int(rate / 4)):
        h.record(RNG.lognormvariate(8.6, 0.4))  # ~5 ms median, microseconds
    return Slice(i, t, t + 0.25, int(rate / 4), 0, h.encode(), Histogram().encode())


def keep_up(slices: list[Slice], rate: float) -> None:
    """Add the slices that would have arrived by now (the generator sends each ~0.5 s after it ends)."""
    while slices[-1].end + 0.25 <= time.time() - 0.5:
        slices.append(one_slice(slices[-1].index + 1, slices[-1].end, rate))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--refreshes", type=int, default=40)
    args = ap.parse_args()
    specs = {
        "availability": SLOSpec(name="availability", sli=SLIKind.AVAILABILITY, objective=0.999),
        "latency-p99": SLOSpec(name="latency-p99", sli=SLIKind.LATENCY, objective=15.0, percentile=99),
    }
    start = float(int(time.time()) - args.seconds)
    slices = [one_slice(0, start, 100)]
    keep_up(slices, 100)
    with tempfile.TemporaryDirectory() as work:
        os.environ[STATE_DIR_ENV] = work  # no platform here: the pods lookup fails fast instead of finding one
        run = RunSession(experiment_path=None, work_dir=Path(work), catalogue=specs, run_slos=list(specs))
        run.load = FakeLoad(slices)  # type: ignore[assignment]
        run.measure_from = slices[0].start
        session.begin(run)
        try:
            results: dict[str, Any] = {}
            feed = LiveFeed()

            def live_feed() -> Any:
                return feed.view(with_pods=False)

            def naive() -> Any:
                recent = [s for s in slices if s.start >= time.time() - HISTORY_S - 2]
                return seconds(recent), evaluate_all(list(specs.values()), window(slices, time.time() - RECENT_S))

            screen = Console(file=io.StringIO(), width=120, height=40, force_terminal=True, color_system="truecolor")
            game = GameDay(Operator(), Path(work) / "gameday.log", tty=False, console=screen)

            def whole_frame() -> Any:
                screen.file = io.StringIO()
                screen.print(game.render())
                return screen.file.getvalue()

            for name, refresh in (("LiveFeed", live_feed), ("naive", naive), ("whole frame", whole_frame)):
                spent = 0.0
                for _ in range(args.refreshes):
                    keep_up(slices, 100)  # new slices arrive as in a run (not counted)
                    t = time.process_time()
                    out = refresh()
                    spent += time.process_time() - t
                    time.sleep(0.25)  # paced like the dashboard (4 Hz): LiveFeed refreshes SLOs once a second
                results[name] = spent / args.refreshes
                if name == "LiveFeed":
                    assert out is not None and len(out.per_second) >= HISTORY_S - 2, len(out.per_second)
                if name == "whole frame":
                    assert "latency-p99" in out and "last 60 s" in out, out[-500:]
        finally:
            session.end()
    print(f"{args.seconds} s of slices at 100 req/s, {args.refreshes} refreshes each")
    print(f"{'display data':<14}{'CPU ms / refresh':>18}{'share of a core at 4 Hz':>26}")
    for name, cost in results.items():
        print(f"{name:<14}{cost * 1000:>18.2f}{cost * 4:>26.1%}")
    print(f"rendering on top of LiveFeed: {(results['whole frame'] - results['LiveFeed']) * 1000:.2f} ms per frame")
    print(f"LiveFeed / naive: {results['LiveFeed'] / results['naive']:.3f}")
    # what made both slow before: counting requests over a latency bound by walking HDR's Python iterator
    h = Histogram.decode(slices[-1].latency_hdr)
    t = time.process_time()
    for _ in range(20):
        below = sum(
            int(i.count_added_in_this_iter_step) for i in h.hdr.get_recorded_iterator() if i.value_iterated_to <= 15_000
        )
    walk = (time.process_time() - t) / 20
    t = time.process_time()
    for _ in range(20):
        above = h.count_above_ms(15)
    summed = (time.process_time() - t) / 20
    assert above == h.count - below
    print(
        f"requests over 15 ms in one slice: HDR iterator {walk * 1000:.2f} ms, counts-array sum {summed * 1000:.3f} ms"
    )


if __name__ == "__main__":
    main()
