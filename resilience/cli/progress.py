"""Progress bars of `resilience run`, `suite` and `gate` (stderr, a terminal only): the platform start, the
load's warm-up, each timed step, and the live load beside them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from resilience.engine import session
from resilience.engine.live import LiveFeed


class RunProgress:
    """A bar for the platform start, the load's warm-up and each timed step, with the live load on the side."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._stop = threading.Event()
        self._tasks: dict[str, TaskID] = {}

    @contextlib.contextmanager
    def shown(self) -> Iterator[RunProgress]:
        if not self.enabled:
            yield self
            return
        with self.progress:
            thread = threading.Thread(target=self._follow, daemon=True)
            thread.start()
            try:
                yield self
            finally:
                self._stop.set()
                thread.join(timeout=1.0)

    def platform(self, ready: int, total: int) -> None:
        """lifecycle.up's callback: pods ready of all."""
        if self.enabled:
            self._update("platform", "platform start", total or None, ready, f"{ready}/{total} pods ready")

    def _update(self, key: str, description: str, total: float | None, completed: float, info: str) -> None:
        if key not in self._tasks:
            self._tasks[key] = self.progress.add_task(description, total=total, info=info)
        self.progress.update(self._tasks[key], description=description, total=total, completed=completed, info=info)

    def _done(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)

    def _follow(self) -> None:
        last_step: str | None = None
        feed = LiveFeed(session.peek)
        while not self._stop.wait(0.25):
            view = feed.view(with_pods=False)
            if view is None:
                continue
            self._done("platform")
            label = f"{view.label} " if view.label else ""
            p99 = "-" if view.p99_ms is None else f"{view.p99_ms:.1f} ms"
            self._update(
                "load",
                f"{label}{view.phase}",
                None,
                0,
                f"{view.rps or 0:.0f} req/s, p99 {p99}, {view.failures} failed of {view.requests:,}",
            )
            if view.step != last_step:
                self._done("step")
                last_step = view.step
            if view.step is not None:
                took = view.step_elapsed_s or 0.0
                total = view.step_expected_s
                self._update("step", f"  {view.step}", total, min(took, total or took), f"{took:.0f} s")


def progress_enabled(console: Console, quiet: bool, as_json: bool) -> bool:
    return console.is_terminal and not quiet and not as_json
