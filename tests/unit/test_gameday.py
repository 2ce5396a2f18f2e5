"""Game-day mechanics without a platform: the operator's gate (confirm, skip, abort) across threads, the
timeline control's view of an experiment, notes typed key by key, sparklines, and how reports carry it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import InterruptExecution
from chaoslib.types import Dry

from resilience.cli.dashboard import sparkline
from resilience.cli.gameday import GameDay
from resilience.ctk import timeline
from resilience.engine import session
from resilience.engine.operator import Operator
from resilience.engine.runner import _Phases
from resilience.engine.session import RunPlan, RunSession
from resilience.engine.suite import aggregate
from resilience.engine.verdict import decide
from resilience.model import EventKind, ExitCode, RunReport, RunStatus, SLIKind, SLOResult, SuiteRun, Verdict
from resilience.report import to_dict, to_markdown
from resilience.report.html import render_html


def _run(tmp_path: Path) -> RunSession:
    return RunSession(RunPlan(experiment_path=None, work_dir=tmp_path))


def _gate_in_thread(op: Operator, step: str) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def call() -> None:
        try:
            out["ran"] = op.gate(step)
        except InterruptExecution as exc:
            out["raised"] = str(exc)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 5
    while op.waiting != step:
        assert time.monotonic() < deadline, "the gate never waited"
        time.sleep(0.01)
    return t, out


def test_the_gate_waits_for_the_operator_and_records_the_decision(tmp_path: Path) -> None:
    op, run = Operator(), _run(tmp_path)
    op.attach(run)
    assert not op.confirm()  # nothing is waiting yet: a stray key confirms nothing
    t, out = _gate_in_thread(op, "kill-one-replica")
    time.sleep(0.3)
    assert t.is_alive() and out == {}  # still blocked: nobody decided
    assert op.confirm()
    t.join(2)
    assert out == {"ran": True} and op.waiting is None
    assert [(e.kind, e.text) for e in run.timeline.events] == [(EventKind.CONFIRMED, "kill-one-replica")]
    assert not op.confirm()  # the decision is spent


def test_skip_and_abort_while_waiting(tmp_path: Path) -> None:
    op, run = Operator(), _run(tmp_path)
    op.attach(run)
    t, out = _gate_in_thread(op, "partition")
    assert op.skip()
    t.join(2)
    assert out == {"ran": False}
    t, out = _gate_in_thread(op, "add-latency")
    op.abort("the operator pressed abort")
    t.join(2)
    assert "aborted by the operator before 'add-latency'" in out["raised"]
    assert run.outcome.aborted_by is not None and "during" in run.outcome.aborted_by
    assert [e.kind for e in run.timeline.events] == [EventKind.SKIPPED, EventKind.ABORT]
    with pytest.raises(InterruptExecution):  # aborted stays aborted: no further step runs
        op.gate("next-step")


def test_confirm_all_never_blocks_and_says_so(tmp_path: Path) -> None:
    op, run = Operator(confirm_all=True), _run(tmp_path)
    op.attach(run)
    assert op.gate("kill") is True
    assert run.timeline.events[0].kind is EventKind.CONFIRMED and "automatically" in run.timeline.events[0].text


def test_abort_outside_a_step_stops_at_the_next_activity_but_never_the_rollbacks(tmp_path: Path) -> None:
    """In setup (the load's warm-up) no signal is sent; the timeline control raises at the next activity."""
    op, run = Operator(), _run(tmp_path)
    op.attach(run)
    session.begin(run)
    phases = _Phases(run)
    try:
        op.abort()
        assert run.timeline.phase == "setup" and run.outcome.aborted_by and not run.timeline.in_step
        phases.start_hypothesis_before({})
        with pytest.raises(InterruptExecution):
            timeline.before_activity_control({"type": "probe", "name": "p99-ok"})
        phases.start_rollbacks({})
        timeline.before_activity_control({"type": "action", "name": "undo"})
        assert run.timeline.phase == "rollbacks" and run.timeline.step == "undo"  # rollbacks always run
    finally:
        session.end()


def _decide_when_waiting(op: Operator, decide: Callable[[], bool]) -> threading.Thread:
    def wait_then_decide() -> None:
        deadline = time.monotonic() + 5
        while op.waiting is None and time.monotonic() < deadline:
            time.sleep(0.01)
        decide()

    t = threading.Thread(target=wait_then_decide)
    t.start()
    return t


def test_timeline_control_gates_method_actions_only_and_skips_by_dry_run(tmp_path: Path) -> None:
    op, run = Operator(), _run(tmp_path)
    op.attach(run)
    session.begin(run)
    phases = _Phases(run)
    hang = {
        "type": "action",
        "name": "freeze",
        "provider": {"type": "python", "module": "resilience.ctk.actions", "func": "hang_pods", "arguments": {}},
        "pauses": {"after": 30},
    }
    probe = {"type": "probe", "name": "p99-ok"}
    try:
        phases.start_method({})
        timeline.before_activity_control(probe)  # a probe in the method: not gated
        assert run.timeline.step == "p99-ok" and run.timeline.in_step and op.gates == 0
        timeline.after_activity_control(probe, state={"status": "succeeded"})
        assert not run.timeline.in_step and run.timeline.step is None
        t = _decide_when_waiting(op, op.skip)
        timeline.before_activity_control(hang)  # chaoslib calls it in the main thread: it blocks here
        t.join(2)
        assert hang["dry"] is Dry.ACTIONS and run.book.skipped == ["freeze"] and op.gates == 1
        assert run.timeline.step_expected_s == 40.0  # hang_pods' default duration_s (10) + the pause after (30)
        timeline.after_activity_control(hang, state={"status": "succeeded"})
        assert "dry" not in hang  # asked again if the same activity comes back
        hang["pauses"] = {"after": "${cooldown}"}  # valid chaoslib, unknown until substituted
        t = _decide_when_waiting(op, op.confirm)
        timeline.before_activity_control(hang)
        t.join(2)
        assert run.timeline.step_expected_s == 10.0 and "dry" not in hang
        # background steps and the continuous steady-state checks run in chaoslib's pools: not steps
        other = threading.Thread(target=timeline.before_activity_control, args=({"type": "probe", "name": "bg"},))
        other.start()
        other.join(2)
        assert run.timeline.step == "freeze"
        phases.start_rollbacks({})
        assert not run.timeline.in_step
        timeline.before_activity_control({"type": "action", "name": "undo"})  # rollbacks are never gated
        assert op.gates == 2
        status, code, reasons = decide({"status": "completed", "run": [], "rollbacks": []}, run, [], [])
        assert (status, code) == (RunStatus.FAULT_FAILED, ExitCode.FAULT_OR_ABORT)
        assert any("skipped 'freeze'" in r for r in reasons)
    finally:
        session.end()


def test_an_operator_abort_is_an_aborted_run_exit_3(tmp_path: Path) -> None:
    run = _run(tmp_path)
    run.outcome.aborted_by = "the operator pressed abort at 10:00:00 (during freeze)"
    status, code, reasons = decide({"status": "interrupted", "run": [], "rollbacks": []}, run, [], [])
    assert (status, code) == (RunStatus.ABORTED, ExitCode.FAULT_OR_ABORT)
    assert reasons == ["the operator pressed abort at 10:00:00 (during freeze); rollbacks ran"]


def test_notes_are_typed_key_by_key(tmp_path: Path) -> None:
    op, run = Operator(), _run(tmp_path)
    op.attach(run)
    day = GameDay(op, tmp_path / "gameday.log", tty=True)
    for ch in "nspikee\x7f at 12s\r":
        day.key(ch)
    for ch in "ndropped\x1b":
        day.key(ch)
    assert [(e.kind, e.text) for e in run.timeline.events] == [(EventKind.NOTE, "spike at 12s")]
    assert day.typing is None
    day.key("y")  # nothing waits: no decision recorded
    assert len(run.timeline.events) == 1 and "nothing to confirm" in day.flash


def test_sparkline_scales_to_the_maximum_and_keeps_gaps() -> None:
    line = sparkline([0, 1, 2, 4, 8, None, 8])
    assert len(line) == 7 and line[5] == " "
    assert line[0] == "▁" and line[4] == line[6] == "█"
    assert list(line[:5]) == sorted(line[:5])  # higher values never get lower blocks
    assert sparkline([0.0, 0.0]) == "▁▁" and sparkline([]) == ""
    assert len(sparkline(list(range(100)), width=40)) == 40


def _report(events: tuple[Any, ...]) -> RunReport:
    return RunReport(
        title="t",
        experiment_path="e.yaml",
        started_at=1000.0,
        ended_at=1060.0,
        status=RunStatus.ABORTED,
        verdict=Verdict.ERROR,
        exit_code=ExitCode.FAULT_OR_ABORT,
        reasons=(),
        slos=(),
        faults=(),
        load=None,
        events=events,
    )


def test_reports_carry_the_notes_and_decisions(tmp_path: Path) -> None:
    run = _run(tmp_path)
    events = (
        run.timeline.record(EventKind.STEP, "method: action freeze", at=1010.0),
        run.timeline.record(EventKind.CONFIRMED, "freeze", at=1010.0),
        run.timeline.record(EventKind.NOTE, "p99 | spiked", at=1012.5),
        run.timeline.record(EventKind.ABORT, "the operator pressed abort", at=1015.0),
    )
    report = _report(events)
    data = to_dict(report)
    assert [(e["kind"], e["offset_s"]) for e in data["events"]] == [
        ("step", 10.0),
        ("confirmed", 10.0),
        ("note", 12.5),
        ("abort", 15.0),
    ]
    md = to_markdown(report)
    assert "| +12.5 s | note | p99 \\| spiked |" in md and "method: action freeze" not in md
    html = render_html(replace(report, timeline=()))
    assert 'id="timeline"' in html and '<tr class="note"><td>+12.5 s</td>' in html


def test_an_aborted_suite_counts_what_it_did_not_run(tmp_path: Path) -> None:
    slo = SLOResult("availability", SLIKind.AVAILABILITY, ">= 99.9%", 1.0, "ratio", Verdict.PASS, 5000, 0, 5, "")
    ok = replace(_report(()), status=RunStatus.COMPLETED, verdict=Verdict.PASS, exit_code=ExitCode.OK, slos=(slo,))
    full = aggregate("s", [SuiteRun("a.yaml", 1.0, ok)])
    assert full.score == 100.0
    cut = aggregate("s", [SuiteRun("a.yaml", 1.0, ok)], ["the game day was aborted"], not_run_weight=1.0)
    assert full.exit_code is ExitCode.OK
    assert cut.exit_code is ExitCode.FAULT_OR_ABORT and cut.score == pytest.approx(full.score / 2)


def test_progress_bars_follow_the_platform_start_and_the_running_step(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from resilience.cli.progress import RunProgress, progress_enabled

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    assert progress_enabled(console, quiet=False, as_json=False)
    assert not progress_enabled(console, quiet=True, as_json=False)
    assert not progress_enabled(console, quiet=False, as_json=True)
    assert not progress_enabled(Console(file=io.StringIO()), quiet=False, as_json=False)  # not a terminal
    bar = RunProgress(console, enabled=True)
    run = _run(tmp_path)
    with bar.shown():
        bar.platform(1, 2)
        time.sleep(0.3)
        assert "platform start" in out.getvalue() and "1/2 pods ready" in out.getvalue()
        run.timeline.phase, run.timeline.step, run.timeline.step_started, run.timeline.step_expected_s = (
            "method",
            "freeze-replica",
            time.time() - 5,
            20.0,
        )
        session.begin(run)
        try:
            time.sleep(0.8)
        finally:
            session.end()
    text = out.getvalue()
    assert "freeze-replica" in text and "method" in text and "5 s" in text


def test_interrupting_the_method_signals_the_main_thread_only_while_chaoslib_listens(tmp_path: Path) -> None:
    import signal as sig

    from resilience.engine.operator import interrupt_method

    run = _run(tmp_path)
    run.timeline.phase, run.timeline.step = "method", None
    previous = sig.signal(sig.SIGUSR1, sig.SIG_DFL)
    try:
        interrupt_method(run)  # no handler: SIGUSR1 would kill the process; it is not sent
        caught: list[str] = []

        def handler(signum: int, frame: Any) -> None:
            caught.append(threading.current_thread().name)
            raise InterruptExecution("test")

        sig.signal(sig.SIGUSR1, handler)
        # sent from another thread (as the key reader does), the signal interrupts the main thread's sleep
        threading.Timer(0.2, interrupt_method, args=(run,)).start()
        started = time.monotonic()
        with pytest.raises(InterruptExecution):
            time.sleep(5)
        assert time.monotonic() - started < 2.0
        assert caught == ["MainThread"]
    finally:
        sig.signal(sig.SIGUSR1, previous)


def test_the_guarded_handler_interrupts_method_steps_only(tmp_path: Path) -> None:
    """A late signal (the step ended, the rollbacks run) must not raise: chaoslib would skip the rollbacks."""
    import signal as sig

    from resilience.engine.operator import guard_interrupts

    def chaoslib_like(signum: int, frame: Any) -> None:
        raise SystemExit(20)

    previous = sig.signal(sig.SIGUSR1, chaoslib_like)
    previous_term = sig.getsignal(sig.SIGTERM)
    earlier, run = _run(tmp_path), _run(tmp_path)
    session.begin(run)
    try:
        guard_interrupts(earlier)
        guard_interrupts(run)  # the next run of a suite: wraps chaoslib's handler once, and guards this run
        guard = sig.getsignal(sig.SIGUSR1)
        assert getattr(guard, "chaoslib_handler", None) is chaoslib_like and getattr(guard, "run", None) is run
        earlier.timeline.in_step = True  # the earlier run's state no longer decides
        run.timeline.in_step = False
        sig.pthread_kill(threading.main_thread().ident or 0, sig.SIGUSR1)
        time.sleep(0.05)  # delivered and ignored: nothing raised
        run.timeline.in_step = True
        with pytest.raises(SystemExit):
            sig.pthread_kill(threading.main_thread().ident or 0, sig.SIGUSR1)
            time.sleep(1)
        assert run.timeline.step_interrupted and not earlier.timeline.step_interrupted
    finally:
        session.end()
        sig.signal(sig.SIGUSR1, previous)
        sig.signal(sig.SIGTERM, previous_term)
