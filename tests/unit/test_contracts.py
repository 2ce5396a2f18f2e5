"""The wire contracts between the platform and the toolkit (`reference_platform.contracts`) are spelled once.

The rollout controllers run here against an in-memory fleet and gateway: every state they write must be a
`RolloutState` member and survive the JSON the control API serves; the toolkit must read the same states.
"""

from __future__ import annotations

import ast
import json
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reference_platform import contracts, pods, rollout, supervisor
from reference_platform.contracts import ROLLOUT_ACTIVE, ROLLOUT_ENDED, RolloutState
from resilience import targets
from resilience.faults import app
from resilience.targets import lifecycle, local

ROOT = Path(__file__).resolve().parents[2]
WIRE_STATES = {"none", "starting", "progressing", "switched", "promoting", "promoted", "rolled-back", "aborted"}


class FakeFleet:
    def __init__(self) -> None:
        self.pods: list[Any] = []

    def add_pod(self, pod: Any) -> None:
        self.pods.append(pod)

    def remove_pod(self, pod: Any) -> None:
        self.pods.remove(pod)

    def restart_pod(self, pod: Any, version: int, reason: str, timeout_s: float = 120.0) -> None:
        pod.model_version = version


class FakeGateway:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def server_stats(self) -> dict[str, dict[str, str]]:
        if self.fail:
            raise RuntimeError("runtime API down")
        return {}

    def set_weight(self, region: str, server: str, weight: int) -> None:
        pass

    def set_server_state(self, server: str, state: str) -> None:
        pass


def _pod(**kw: Any) -> types.SimpleNamespace:
    base = {"name": "p", "region": "a", "role": "inference", "variant": "canary", "ready": True, "retired": False}
    return types.SimpleNamespace(**(base | {"model_version": 1, "host": "127.0.0.1", "http_port": 1} | kw))


def _recorded(controller: Any) -> list[Any]:
    """Swap the controller's rollout record for one that logs every value written to `state` (the first: its
    default, written by __init__)."""
    writes: list[Any] = []

    class Recording(rollout.RolloutState):
        def __setattr__(self, name: str, value: Any) -> None:
            if name == "state":
                writes.append(value)
            super().__setattr__(name, value)

    controller.rollout = Recording(controller.rollout.strategy, controller.rollout.policy)
    return writes


def _wait(controller: Any, state: RolloutState) -> None:
    deadline = time.monotonic() + 5
    while controller.rollout.state != state and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    assert controller.rollout.state == state, controller.rollout


@pytest.fixture(autouse=True)
def _no_drain_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blue-green's switch waits 1 s for in-flight requests; nothing is in flight here."""
    monkeypatch.setattr(rollout, "time", types.SimpleNamespace(time=time.time, sleep=lambda _s: None))


def _canary(gateway: FakeGateway | None = None, slots: list[Any] | None = None) -> rollout.CanaryController:
    policy = rollout.CanaryPolicy(version=2, ready_timeout_s=0.2)
    return rollout.CanaryController(FakeFleet(), gateway or FakeGateway(), policy, slots or [])


def _blue_green(gateway: FakeGateway | None = None) -> rollout.BlueGreenController:
    return rollout.BlueGreenController(FakeFleet(), gateway or FakeGateway(), rollout.CanaryPolicy(version=2), [], 0)


def _shadow(monkeypatch: pytest.MonkeyPatch, ready: bool = True) -> rollout.ShadowController:
    monkeypatch.setattr(rollout.ShadowController, "_mirror", lambda self, target: None)
    monkeypatch.setattr(rollout.ShadowController, "_observed", lambda self: {"requests": 0.0})
    policy = rollout.CanaryPolicy(version=2, ready_timeout_s=0.2)
    return rollout.ShadowController(FakeFleet(), policy, _pod(variant="shadow", ready=ready), "http://unused")


S = RolloutState
MAKERS: dict[str, Callable[[pytest.MonkeyPatch], Any]] = {
    "canary": lambda mp: _canary(),
    "canary, never ready": lambda mp: _canary(slots=[_pod(ready=False)]),
    "canary, gateway down": lambda mp: _canary(FakeGateway(fail=True)),
    "blue-green": lambda mp: _blue_green(),
    "blue-green, gateway down": lambda mp: _blue_green(FakeGateway(fail=True)),
    "shadow": _shadow,
    "shadow, never ready": lambda mp: _shadow(mp, ready=False),
}
SCENARIOS = [  # (controller, state to wait for, then what to call: None to wait for it to end itself, writes)
    ("canary", S.PROGRESSING, "promote", [S.STARTING, S.PROGRESSING, S.PROMOTING, S.PROMOTED]),
    ("canary", S.PROGRESSING, "abort", [S.STARTING, S.PROGRESSING, S.ABORTED]),
    ("canary, never ready", S.ROLLED_BACK, None, [S.STARTING, S.ROLLED_BACK]),
    ("canary, gateway down", S.ROLLED_BACK, None, [S.STARTING, S.ROLLED_BACK]),
    ("blue-green", S.SWITCHED, "promote", [S.STARTING, S.SWITCHED, S.PROMOTED]),
    ("blue-green", S.SWITCHED, "abort", [S.STARTING, S.SWITCHED, S.ABORTED]),
    ("blue-green, gateway down", S.ROLLED_BACK, None, [S.STARTING, S.ROLLED_BACK]),
    ("shadow", S.PROGRESSING, "promote", [S.STARTING, S.PROGRESSING, S.PROMOTING, S.PROMOTED]),
    ("shadow", S.PROGRESSING, "abort", [S.STARTING, S.PROGRESSING, S.ABORTED]),
    ("shadow, never ready", S.ROLLED_BACK, None, [S.STARTING, S.ROLLED_BACK]),
]


@pytest.mark.parametrize(("kind", "reached", "then", "expected"), SCENARIOS)
def test_every_state_a_rollout_controller_writes_is_a_rollout_state(
    kind: str, reached: RolloutState, then: str | None, expected: list[RolloutState], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = MAKERS[kind](monkeypatch)
    writes = _recorded(controller)
    controller.start()
    _wait(controller, reached)
    if then:
        getattr(controller, then)()
    controller.thread.join(timeout=5)
    assert not controller.thread.is_alive()
    assert writes == expected
    assert all(type(w) is RolloutState for w in writes), writes  # a plain string would compare equal: not enough
    assert all(w in ROLLOUT_ACTIVE for w in writes[:-1]) and writes[-1] in ROLLOUT_ENDED
    wire = json.loads(json.dumps(controller.rollout.to_json()))  # what the control API serves
    assert wire["state"] == expected[-1].value and RolloutState(wire["state"]) is expected[-1]


def test_the_wire_spelling_is_unchanged_and_active_ended_partition_the_states() -> None:
    assert {s.value for s in RolloutState} == WIRE_STATES
    assert not ROLLOUT_ACTIVE & ROLLOUT_ENDED
    assert ROLLOUT_ACTIVE | ROLLOUT_ENDED | {RolloutState.NONE} == set(RolloutState)
    assert json.dumps({"state": RolloutState.ROLLED_BACK}) == '{"state": "rolled-back"}'
    assert {RolloutState(s) for s in ("rolled-back", "aborted", "promoted")} == ROLLOUT_ENDED


def test_the_toolkit_reads_the_platforms_states() -> None:
    assert targets.RolloutState is RolloutState and targets.ROLLOUT_ENDED is ROLLOUT_ENDED
    assert app.ENDED == ROLLOUT_ENDED == {"rolled-back", "aborted", "promoted"}  # plain wire strings match
    fault = app.BadCanary()
    served = {"canary": {"a-canary": {"requests": 5}}, "started_at": 1.0}
    _, evidence, _, unmet = fault._judge({**served, "state": "rolled-back", "decided_at": 2.5}, None)
    assert evidence["rolled_back_by_platform"] and evidence["time_to_rollback_s"] == 1.5 and unmet is None
    _, evidence, _, unmet = fault._judge({**served, "state": "aborted"}, "progressing")
    assert evidence["aborted_by_fault"] and not evidence["rolled_back_by_platform"]
    assert unmet and "the fault aborted it" in unmet


def test_shared_names_are_defined_once() -> None:
    assert local.STATE_FILE is supervisor.STATE_FILE is contracts.STATE_FILE == "platform.json"
    assert lifecycle.PLATFORM_ID_ENV is pods.PLATFORM_ID_ENV is contracts.PLATFORM_ID_ENV
    assert pods.child_env("abc")[contracts.PLATFORM_ID_ENV] == "abc"
    assert pods.work_root("0123456789abcdef").name == contracts.WORKSPACE_PREFIX + "0123456789ab"


# "rolled-back" is the one distinctive spelling of the set; a module not yet moved over is listed here
STATE_SPELLINGS = {"rolled-back", "progressing", "promoting", "switched"}
NOT_YET_MOVED: set[tuple[str, str]] = set()


def _state_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings, bare strings
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and n.value in STATE_SPELLINGS and id(n) not in docstrings
    }


def test_no_module_but_the_contracts_spells_a_rollout_state() -> None:
    files = [p for d in ("resilience", "reference_platform") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 50
    found = {
        (str(p.relative_to(ROOT)), value)
        for p in files
        if p != ROOT / "reference_platform" / "contracts.py"
        for value in _state_literals(p)
    }
    assert found == NOT_YET_MOVED  # a new spelling elsewhere fails; so does one moved but still listed here
    assert _state_literals(ROOT / "reference_platform" / "contracts.py") == STATE_SPELLINGS
