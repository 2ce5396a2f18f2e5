"""The wire contracts between the platform and the toolkit (`reference_platform.contracts`) are spelled once.

The rollout controllers run here against an in-memory fleet and gateway: every state they write must be a
`RolloutState` member and survive the JSON the control API serves; the toolkit must read the same states.
The state file a real (unstarted) supervisor writes, and a pod's JSON from the platform's own `to_json`,
must come back into the toolkit with the same values and the same keys on the wire; anything else is refused
with a message naming the file (or the endpoint) and the fix.
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

from reference_platform import contracts, pods, rollout, statefile, supervisor
from reference_platform.config import load_config
from reference_platform.contracts import ROLLOUT_ACTIVE, ROLLOUT_ENDED, RolloutState
from reference_platform.netns import RegionNet
from resilience import targets
from resilience.errors import PlatformError
from resilience.faults import app
from resilience.targets import Pod, PodExit, lifecycle, local

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


# --- the state file, a pod and its last exit: one model each, written by the platform, read by the toolkit -----

STATE_KEYS = [  # what the supervisor wrote before PlatformState, in order: plain-JSON readers index these
    "supervisor_pid",
    "platform_id",
    "control_url",
    "gateway",
    "model",
    "pipeline",
    "network",
    "state_dir",
    "started_at",
    "shape",
]
POD_KEYS = [  # what ReplicaPod.to_json wrote before PodRecord, in order
    "name",
    "role",
    "region",
    "pid",
    "ready",
    "started_at",
    "ready_at",
    "restarts",
    "warm_starts",
    "crash_loop",
    "incarnation",
    "model_version",
    "variant",
    "http_port",
    "grpc_port",
    "metrics_port",
    "host",
    "netns",
    "last_exit",
]


def _supervisor(tmp_path: Path, **overrides: object) -> supervisor.Supervisor:
    """A supervisor that has made its pods and reserved its ports, and started nothing."""
    return supervisor.Supervisor(load_config(None, **overrides), tmp_path)


def test_the_state_file_the_supervisor_writes_round_trips_into_the_toolkit(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path, regions=["a", "b"], replicas=2, pipeline={"enabled": True})
    sup.launcher.networks["b"] = RegionNet("b", "rsw-test-b", "rswh-b", "rswn-b", 7)
    path = statefile.write(tmp_path, sup.state(control_port=4321))

    raw = json.loads(path.read_text())  # what a plain-JSON reader (the integration tests) sees
    assert list(raw) == STATE_KEYS and list(raw["gateway"]) == ["http", "grpc", "metrics"]
    assert raw["control_url"] == "http://127.0.0.1:4321" and raw["platform_id"] == sup.platform_id
    assert raw["gateway"]["http"] == f"127.0.0.1:{sup.gateway_http}" and raw["model"] == "qc_cnn"
    assert raw["shape"] == {"regions": 2, "replicas": 2, "pipeline": True, "netns": True}
    assert raw["network"]["mode"] == "netns" and raw["network"]["regions"]["b"]["pod_ip"] == "10.237.7.2"
    assert set(raw["pipeline"]) == {"cameras", "preprocess", "sink"}
    assert contracts.PlatformState.model_validate(raw) == sup.state(control_port=4321)

    platform = local.LocalPlatform(tmp_path)
    assert (platform.control_url, platform.gateway_http, platform.model) == (
        "http://127.0.0.1:4321",
        f"127.0.0.1:{sup.gateway_http}",
        "qc_cnn",
    )
    assert platform.gateway_grpc == f"127.0.0.1:{sup.gateway_grpc}" and platform.state == raw
    link = platform.region_link("b")
    assert link is not None and (link.netns, link.gateway_ip, link.cidr) == (
        "rsw-test-b",
        "10.237.7.1",
        "10.237.7.0/24",
    )
    assert platform.region_link("a") is None


def test_a_state_file_of_another_shape_is_refused_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / contracts.STATE_FILE
    good = {"control_url": "http://127.0.0.1:9", "gateway": {"http": "h:1", "grpc": "h:2"}, "model": "m"}
    shapes = {
        "{not json": "the file",
        "[]": "the file",
        json.dumps({**good, "gateway": "127.0.0.1:1"}): "gateway",
        json.dumps({k: v for k, v in good.items() if k != "control_url"}): "control_url",
        json.dumps({**good, "network": {"mode": "bridge"}}): "network.mode",
        json.dumps({**good, "endpoints": {}}): "endpoints",  # a field this version does not know
    }
    for text, where in shapes.items():
        path.write_text(text)
        with pytest.raises(PlatformError) as exc:
            local.LocalPlatform(tmp_path)
        message = str(exc.value)
        assert message.startswith(f"{path}: ") and "`resilience platform down`" in message, message
        assert f"{where}: " in message, message
        assert lifecycle.recorded(tmp_path) is None
    path.write_text(json.dumps(good))  # what a scripted (stub) supervisor writes is still a state
    assert local.LocalPlatform(tmp_path).platform_state.shape is None


def test_platform_down_clears_a_state_file_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / contracts.STATE_FILE
    path.write_text(json.dumps({"platform_id": "no-such-platform", "supervisor_pid": None, "gateway": 3}))
    assert lifecycle.down(tmp_path, timeout_s=1) == []
    assert not path.exists()


def _replica() -> pods.ReplicaPod:
    net = RegionNet("a", "rsw-test-a", "rswh-a", "rswn-a", 9)
    pod = pods.ReplicaPod(
        name="a-canary",
        region="a",
        http_port=8001,
        grpc_port=8002,
        metrics_port=8003,
        ready=True,
        ready_at=12.5,
        started_at=11.0,
        restarts=3,
        warm_starts=1,
        crash_loop=True,
        incarnation=4,
        model_version=2,
        variant="canary",
        last_exit=pods.ExitRecord(pid=4100, returncode=-9, at=10.25, reason="exited: signal 9"),
        networks={"a": net},
    )
    pod.proc = types.SimpleNamespace(pid=4242, returncode=None)  # type: ignore[assignment]  # running, as waitpid sees it
    return pod


def test_a_pods_json_from_the_platform_parses_into_the_toolkits_pod() -> None:
    replica = _replica()
    wire = json.loads(json.dumps(replica.to_json()))  # what GET /pods serves
    assert list(wire) == POD_KEYS and list(wire["last_exit"]) == ["pid", "returncode", "signal", "at", "reason"]
    pod = Pod.from_json(wire)
    assert (pod.name, pod.role, pod.region, pod.pid, pod.ready, pod.restarts, pod.ready_at) == (
        "a-canary",
        "inference",
        "a",
        4242,
        True,
        3,
        12.5,
    )
    assert (pod.model_version, pod.variant, pod.crash_loop) == (2, "canary", True)
    assert (pod.host, pod.http_port, pod.grpc_port, pod.server_p99_ms) == ("10.237.9.2", 8001, 8002, None)
    assert pod.last_exit == PodExit(pid=4100, returncode=-9, at=10.25, reason="exited: signal 9", signal="SIGKILL")

    stage = pods.ReplicaPod(name="sink", region="a", http_port=0, grpc_port=0, metrics_port=9, role="sink")
    parsed = Pod.from_json(json.loads(json.dumps(stage.to_json())))
    assert (parsed.pid, parsed.model_version, parsed.host, parsed.last_exit) == (None, None, "127.0.0.1", None)


def test_status_pods_carry_the_p99_only_where_it_was_read() -> None:
    record = _replica().record()
    unasked = contracts.StatusPodRecord(**dict(record)).model_dump(mode="json")
    assert list(unasked) == POD_KEYS  # a pod not asked has no key at all, as before
    no_answer = contracts.StatusPodRecord(**dict(record), server_p99_ms=None).model_dump(mode="json")
    assert list(no_answer) == [*POD_KEYS, "server_p99_ms"] and no_answer["server_p99_ms"] is None
    measured = contracts.StatusPodRecord(**dict(record), server_p99_ms=3.25).model_dump(mode="json")
    assert Pod.from_json(json.loads(json.dumps(measured))).server_p99_ms == 3.25


class _Answers(local.LocalPlatform):
    """A recorded platform whose supervisor answers `/pods` with `body` (no server: `_get` is the seam)."""

    def __init__(self, state_dir: Path, body: Any) -> None:
        (state_dir / contracts.STATE_FILE).write_text(
            json.dumps({"control_url": "http://127.0.0.1:9", "gateway": {"http": "-", "grpc": "-"}, "model": "m"})
        )
        super().__init__(state_dir)
        self.body = body

    def _get(self, path: str) -> Any:
        return self.body


def test_pods_the_toolkit_cannot_read_are_a_platform_error(tmp_path: Path) -> None:
    good = _replica().to_json()
    assert [p.name for p in _Answers(tmp_path, [good]).pods()] == ["a-canary"]
    for body in ([{**good, "ready": "perhaps"}], [{k: v for k, v in good.items() if k != "restarts"}], None):
        with pytest.raises(PlatformError, match=r"answered /pods with pods this version does not read"):
            _Answers(tmp_path, body).pods()
