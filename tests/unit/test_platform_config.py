from __future__ import annotations

from pathlib import Path

import pytest

from reference_platform.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_the_defaults() -> None:
    assert load_config(ROOT / "reference_platform" / "platform.yaml") == load_config(None)


def test_overrides_apply() -> None:
    assert load_config(None, replicas=4).replicas == 4


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("replicas: 0\n", "replicas"),
        ("probes:\n  period_s: -1\n", "probes.period_s"),
        ("replicaz: 2\n", "replicaz"),
        ("serving:\n  queue_delay_us: fast\n", "serving.queue_delay_us"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in str(exc.value) and f": {field}:" in str(exc.value)


def test_cli_up_with_bad_config_exits_2_without_starting_anything(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    bad = tmp_path / "platform.yaml"
    bad.write_text("replicas: many\n")
    env = {**os.environ, "RESILIENCE_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "resilience.cli", "platform", "up", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "replicas" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "platform.json").exists()


def test_stage_metrics_are_parsed_by_prometheus_clients_parser_with_labels_in_the_names() -> None:
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

    from resilience.targets.local import prometheus_samples

    registry = CollectorRegistry()
    sent = Counter("pipeline_camera_frames_sent", "frames", ["camera"], registry=registry)
    sent.labels("0").inc(3)
    sent.labels("1").inc(5)
    Gauge("pipeline_sink_prediction_psi", "psi", registry=registry).set(0.25)
    samples = prometheus_samples(generate_latest(registry).decode())
    assert samples['pipeline_camera_frames_sent_total{camera="0"}'] == 3.0
    assert samples['pipeline_camera_frames_sent_total{camera="1"}'] == 5.0
    assert samples["pipeline_sink_prediction_psi"] == 0.25
    # a sample with a timestamp, which a split-on-the-last-space parser reads as name "x_total 7"
    stamped = prometheus_samples('x_total{reason="bad crc"} 7 1700000000000\n')
    assert stamped == {'x_total{reason="bad crc"}': 7.0}
