"""Every fault's arguments are checked when the experiment is loaded: exit 2 before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from resilience.ctk import actions
from resilience.engine.experiment import load_experiment
from resilience.errors import ExperimentError

BAD = [
    ("kill_pods", {"signal": "SIGFOO"}, "signal: 'SIGFOO' is not supported"),
    ("kill_pods", {"grace_s": -1}, "grace_s: must be >= 0"),
    ("kill_pods", {"count": 1, "percentage": 50}, "count and percentage"),
    ("kill_pods", {"max_fraction": 1.5}, "max_fraction: must be in (0, 1]"),
    ("hang_pods", {"duration_s": 0}, "duration_s: must be > 0"),
    ("crash_loop_pods", {"duration_s": -3}, "duration_s: must be > 0"),
    ("saturate_gpu", {"utilization": 1.2}, "utilization: must be in (0, 1]"),
    ("saturate_gpu", {"vram_fraction": 1.0}, "vram_fraction: must be in [0, 1)"),
    ("partition_region", {"direction": "sideways"}, "direction: 'sideways' is not one of"),
    ("partition_region", {"mechanism": "iptables"}, "mechanism: 'iptables' is not one of"),
    ("add_latency", {"latency_ms": -5}, "latency_ms: must be >= 0"),
    ("add_latency", {"jitter_ms": -1}, "jitter_ms: must be >= 0"),
    ("reset_connections", {"probability": 0}, "probability: must be in (0, 1]"),
    ("drop_packets", {"percent": 150}, "percent: must be in (0, 100]"),
    ("limit_bandwidth", {"rate": "fast"}, "rate: 'fast' is not a tc rate"),
    ("rollout_bad_canary", {"weight": 80}, "weight: must be 1-50 percent"),
    ("rollout_bad_canary", {"version": 0}, "version: must be a model version >= 1"),
    ("stall_cameras", {"cameras": [-1]}, "cameras: camera ids are >= 0"),
    ("corrupt_frames", {"ratio": 0}, "ratio: must be in (0, 1]"),
]


def _experiment(tmp_path: Path, func: str, arguments: dict[str, object]) -> Path:
    path = tmp_path / "exp.yaml"
    step = {
        "type": "action",
        "name": "fault",
        "provider": {"type": "python", "module": "resilience.ctk.actions", "func": func, "arguments": arguments},
    }
    path.write_text(yaml.safe_dump({"title": "t", "description": "d", "method": [step]}))
    return path


@pytest.mark.parametrize(("func", "arguments", "message"), BAD, ids=[f"{f}-{next(iter(a))}" for f, a, _ in BAD])
def test_a_bad_fault_argument_fails_at_load_naming_file_activity_and_field(
    tmp_path: Path, func: str, arguments: dict[str, object], message: str
) -> None:
    path = _experiment(tmp_path, func, arguments)
    with pytest.raises(ExperimentError) as exc:
        load_experiment(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: method[0].provider.arguments."), text
    assert message in text, text


def test_every_fault_action_has_a_builder_and_its_defaults_are_valid(tmp_path: Path) -> None:
    faults = [n for n in actions.__all__ if hasattr(getattr(actions, n), "build")]
    assert set(actions.__all__) - set(faults) == {"ensure_pods_ready", "rollback_faults"}
    assert {f for f, _, _ in BAD} == set(faults), "every fault has at least one bad-argument case above"
    for name in faults:
        load_experiment(_experiment(tmp_path, name, {}))  # defaults build


def test_values_from_configuration_are_left_to_run_time(tmp_path: Path) -> None:
    load_experiment(_experiment(tmp_path, "add_latency", {"latency_ms": "${latency}"}))
