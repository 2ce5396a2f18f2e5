"""Live displays of a run in progress: the game-day dashboard (rich, single keys), its line-output fallback
for a terminal that is not one (CI logs, pipes), and the progress bars of `resilience run` and `suite`.

Every display reads `resilience.engine.live.snapshot` from its own thread; chaoslib keeps the main thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from resilience.engine.live import RECENT_S, LiveFeed, LiveView
from resilience.engine.operator import Operator
from resilience.model import EventKind, Verdict
from resilience.model.faults import PENDING

SPARK = "▁▂▃▄▅▆▇█"
STATUS_EVERY_S = 5.0
"""Line output: one status line this often."""


def sparkline(values: Sequence[float | None], width: int = 40) -> str:
    """Unicode block sparkline of the last `width` values, scaled from 0 to their maximum (gaps as spaces)."""
    vals = list(values)[-width:]
    top = max((v for v in vals if v is not None), default=0.0)
    if top <= 0:
        return "".join(" " if v is None else SPARK[0] for v in vals)
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, int(v / top * len(SPARK)))] for v in vals)


def _since(started_at: float, at: float | None) -> str:
    return "-" if at is None else f"+{at - started_at:.1f}s"


def _step_text(view: LiveView) -> str:
    if view.step is None:
        return view.phase
    took = f"{view.step_elapsed_s:.0f}" if view.step_elapsed_s is not None else "?"
    of = f"/{view.step_expected_s:.0f}" if view.step_expected_s else ""
    return f"{view.phase}: {view.step} ({took}{of} s)"


def _slo_cell(r: Any) -> Text:
    if not r.samples:
        return Text("no data", "dim")
    ok = r.verdict is not Verdict.FAIL
    return Text("OK" if ok else "BREACH", "bold green" if ok else "bold red")


@contextlib.contextmanager
def _quiet_logs(path: Path, lines: deque[str]) -> Iterator[None]:
    """While the dashboard owns the screen, log lines go to `path` and to the dashboard's log panel."""

    class Ring(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(time.strftime("%H:%M:%S ", time.localtime(record.created)) + self.format(record))

    root = logging.getLogger()
    saved = root.handlers[:]
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [to_file, Ring()]
    try:
        yield
    finally:
        root.handlers = saved
        to_file.close()


class GameDay:
    """The operator's side of a game day: a dashboard and keys on a terminal, lines and stdin elsewhere."""

    def __init__(self, operator: Operator, log_path: Path, tty: bool, console: Console | None = None) -> None:
        self.operator = operator
        self.log_path = log_path
        self.tty = tty
        self.console = console or Console()
        self.typing: str | None = None
        """The note being typed (after `n`), or None."""
        self.flash = ""
        self.logs: deque[str] = deque(maxlen=6)
        self._stop = threading.Event()
        self._stdin_closed = False
        self._view: LiveView | None = None
        self._feed = LiveFeed()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Show the dashboard (or lines) and take the operator's input until the block ends."""
        threads = [threading.Thread(target=self._read_keys if self.tty else self._read_lines, daemon=True)]
        if not self.tty:
            threads.append(threading.Thread(target=self._print_lines, daemon=True))
        with contextlib.ExitStack() as stack:
            if self.tty:
                stack.enter_context(_quiet_logs(self.log_path, self.logs))
                stack.enter_context(_cbreak(sys.stdin.fileno()))
                stack.enter_context(
                    Live(console=self.console, screen=True, refresh_per_second=4, get_renderable=self.render)
                )
            for t in threads:
                t.start()
            try:
                yield
            finally:
                self._stop.set()
                for t in threads:
                    t.join(timeout=1.0)

    # -- the dashboard ---------------------------------------------------------------------------------------

    def render(self) -> RenderableType:
        view = self._feed.view(with_pods=True)
        if view is not None:
            self._view = view
        view = self._view
        keys = Text.assemble(
            ("[y]", "bold"),
            " confirm step  ",
            ("[s]", "bold"),
            " skip step  ",
            ("[n]", "bold"),
            " note  ",
            ("[a]", "bold red"),
            " ABORT (roll back now)  ",
            ("Ctrl-C", "bold"),
            " interrupt",
        )
        footer: RenderableType = (
            keys if self.typing is None else Text(f"note> {self.typing}█  (Enter saves, Esc drops)")
        )
        if view is None:
            return Group(Text(f"game day {self.operator.label}: waiting for the run to start...", "bold"), footer)
        head = Text.assemble(
            ("GAME DAY ", "bold reverse"),
            f" {view.title}  ",
            (view.label + "  " if view.label else "", "cyan"),
            f"+{view.elapsed_s:.0f}s  ",
            (_step_text(view), "bold"),
        )
        parts: list[RenderableType] = [head]
        if view.web_ui:
            parts.append(Text(f"Locust web UI: {view.web_ui}", "cyan"))
        if view.aborted:
            parts.append(Panel(Text(f"ABORTED: {view.aborted}. Rolling back.", "bold red"), border_style="red"))
        elif view.waiting:
            parts.append(
                Panel(
                    Text(f"Confirm fault step {view.waiting!r}:  [y] run it   [s] skip it   [a] abort", "bold"),
                    title="operator",
                    border_style="yellow",
                )
            )
        parts.append(self._grid(view))
        parts.append(Text("\n".join(self.logs), "dim"))
        if self.flash:
            parts.append(Text(self.flash, "yellow"))
        parts.append(footer)
        return Group(*parts)

    def _grid(self, view: LiveView) -> Table:
        slos = Table(title=f"SLOs, last {RECENT_S:.0f} s", title_justify="left", expand=True)
        for col in ("SLO", "objective", "measured", "status"):
            slos.add_column(col)
        for r in view.recent:
            slos.add_row(r.name, r.objective, r.measured_text if r.samples else "-", _slo_cell(r))
        pts = view.per_second
        spark = Table(title="last 60 s", title_justify="left", expand=True, show_header=False)
        spark.add_column("", no_wrap=True, min_width=8)
        spark.add_column("", no_wrap=True, overflow="crop")
        spark.add_column("", justify="right", no_wrap=True, min_width=6)
        p99 = view.p99_ms
        spark.add_row("req/s", sparkline([p.total for p in pts]), f"{view.rps or 0:.0f}")
        spark.add_row(
            "p99 ms", Text(sparkline([p.p99_ms for p in pts]), "magenta"), "-" if p99 is None else f"{p99:.1f}"
        )
        spark.add_row("failed/s", Text(sparkline([p.failed for p in pts]), "red"), f"{pts[-1].failed if pts else 0}")
        spark.add_row("total", f"{view.requests:,} requests, {view.failures:,} failed", "")
        pods = Table(title="replicas", title_justify="left", expand=True)
        for col in ("pod", "ready", "restarts", "pid"):
            pods.add_column(col)
        for p in view.pods:
            pods.add_row(
                p.name,
                Text("ready", "green") if p.ready else Text("NOT READY", "bold red"),
                str(p.restarts),
                str(p.pid or "-"),
            )
        faults = Table(title="faults", title_justify="left", expand=True)
        for col in ("fault", "target", "injected", "recovered", "landed"):
            faults.add_column(col, overflow="fold")
        for f in view.faults:
            faults.add_row(
                f.kind.value,
                f.target,
                _since(view.started_at, f.injected_at),
                _since(view.started_at, f.recovered_at) if f.recovered_at else Text("active", "bold red"),
                Text("yes", "green")
                if f.landed
                else Text("pending", "yellow")
                if f.error == PENDING
                else Text("NO", "red"),
            )
        events = Table(title="timeline", title_justify="left", expand=True, show_header=False)
        events.add_column("", no_wrap=True)
        events.add_column("", overflow="fold")
        for e in [e for e in view.events if e.kind is not EventKind.STEP_END][-8:]:
            style = {EventKind.NOTE: "yellow", EventKind.ABORT: "bold red", EventKind.SKIPPED: "red"}.get(e.kind, "")
            events.add_row(_since(view.started_at, e.at), Text(f"{e.kind.value}: {e.text}", style))
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(Group(slos, spark), pods)
        grid.add_row(faults, events)
        return grid

    # -- keys (a terminal) -----------------------------------------------------------------------------------

    def _read_keys(self) -> None:
        fd = sys.stdin.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                data = os.read(fd, 64).decode(errors="ignore")
                if not data:
                    return
                for ch in data:
                    self.key(ch)

    def key(self, ch: str) -> None:
        """One key press (public for tests and for the line reader)."""
        if self.typing is not None:
            if ch in "\r\n":
                self.operator.note(self.typing)
                self.flash, self.typing = f"note saved: {self.typing}", None
            elif ch == "\x1b":
                self.typing, self.flash = None, "note dropped"
            elif ch in "\x7f\x08":
                self.typing = self.typing[:-1]
            elif ch.isprintable():
                self.typing += ch
            return
        if ch in ("y", "Y"):
            self.flash = "confirmed" if self.operator.confirm() else "nothing to confirm right now"
        elif ch in ("s", "S"):
            self.flash = "skipped" if self.operator.skip() else "nothing to skip right now"
        elif ch in ("a", "A"):
            self.operator.abort("the operator pressed abort")
            self.flash = "abort: rolling back"
        elif ch in ("n", "N"):
            self.typing = ""

    # -- lines (not a terminal) ------------------------------------------------------------------------------

    def _out(self, text: str) -> None:
        print(text, flush=True)

    def _read_lines(self) -> None:
        """stdin commands, one per line: y (confirm), s (skip), a (abort); anything else is an observer note.

        Read with select and os.read, not `for line in sys.stdin`: a thread blocked inside the buffered
        reader holds its lock, and the interpreter then cannot finish at exit while stdin stays open.
        """
        fd, pending = sys.stdin.fileno(), ""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(fd, 4096).decode(errors="replace")
            if not data:
                self._stdin_closed = True
                return
            pending += data
            while "\n" in pending:
                line, pending = pending.split("\n", 1)
                self.command(line)

    def command(self, line: str) -> None:
        text = line.strip()
        command = text.lower()
        if not text:
            return
        if command in ("y", "yes"):
            self._out("confirmed" if self.operator.confirm() else "nothing to confirm right now")
        elif command in ("s", "skip"):
            self._out("skipped" if self.operator.skip() else "nothing to skip right now")
        elif command in ("a", "abort"):
            self.operator.abort("the operator typed abort")
        else:
            self.operator.note(text.removeprefix("note ").removeprefix("n "))

    def _print_lines(self) -> None:
        feed, state = LiveFeed(), _LineState()
        while not self._stop.wait(0.25):
            try:
                self._print_tick(feed, state)
            except Exception as exc:  # noqa: BLE001 - a display must not die silently while a step waits
                self._out(f"(status line failed: {exc})")
        self._flush_events(feed, state)  # what the run recorded in its last moments

    def _flush_events(self, feed: LiveFeed, state: _LineState) -> None:
        run = feed.last_run
        if run is None:
            return
        if run is not state.run:  # the next experiment of a suite: its own events
            state.run, state.seen = run, 0
        events = list(run.events)
        for e in events[state.seen :]:
            if e.kind is not EventKind.STEP_END:
                self._out(f"{_since(run.started_at, e.at)} {e.kind.value}: {e.text}")
        state.seen = len(events)

    def _print_tick(self, feed: LiveFeed, state: _LineState) -> None:
        view = feed.view(with_pods=False)
        self._flush_events(feed, state)
        if view is None:
            return
        if view.waiting and self._stdin_closed:
            self.operator.abort(f"stdin is closed: nobody is left to confirm {view.waiting!r}")
        elif view.waiting and self.operator.gates != state.asked:
            state.asked = self.operator.gates
            self._out(f"CONFIRM fault step {view.waiting!r}: type y (run it), s (skip it) or a (abort), Enter")
        if time.monotonic() - state.last_status >= STATUS_EVERY_S and view.per_second:
            state.last_status = time.monotonic()
            slos = ", ".join(f"{r.name} {'ok' if r.verdict is not Verdict.FAIL else 'BREACH'}" for r in view.recent)
            p99 = "-" if view.p99_ms is None else f"{view.p99_ms:.1f} ms"
            self._out(
                f"+{view.elapsed_s:.0f}s {view.label} {_step_text(view)} | {view.rps or 0:.0f} req/s, p99 {p99}, "
                f"{view.failures} failed of {view.requests} | {slos}"
            )


class _LineState:
    """What the line printer has shown so far."""

    def __init__(self) -> None:
        self.run: Any = None
        self.seen = 0
        self.asked = 0
        self.last_status = 0.0


@contextlib.contextmanager
def _cbreak(fd: int) -> Iterator[None]:
    """Single keys without Enter; Ctrl-C still interrupts. The terminal is restored whatever happens."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


# -- progress bars for `resilience run` and `suite` ---------------------------------------------------------------


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
        feed = LiveFeed()
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
