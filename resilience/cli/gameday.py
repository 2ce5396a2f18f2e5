"""The operator's side of a game day: the live dashboard and single keys on a terminal; status lines and
one command per stdin line elsewhere (CI logs, pipes). Reads `resilience.engine.live` from its own threads;
chaoslib keeps the main thread.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live

from resilience.cli.dashboard import render_dashboard, since, step_text
from resilience.engine import session
from resilience.engine.live import LiveFeed, LiveView
from resilience.engine.operator import Operator
from resilience.model import EventKind, Verdict

STATUS_EVERY_S = 5.0
"""Line output: one status line this often."""


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
        self._feed = LiveFeed(session.peek)

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

    def render(self) -> RenderableType:
        view = self._feed.view(with_pods=True)
        if view is not None:
            self._view = view
        return render_dashboard(self._view, self.operator.label, self.typing, self.logs, self.flash)

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
        feed, state = LiveFeed(session.peek), _LineState()
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
        events = list(run.timeline.events)
        for e in events[state.seen :]:
            if e.kind is not EventKind.STEP_END:
                self._out(f"{since(run.timeline.started_at, e.at)} {e.kind.value}: {e.text}")
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
                f"+{view.elapsed_s:.0f}s {view.label} {step_text(view)} | {view.rps or 0:.0f} req/s, p99 {p99}, "
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
