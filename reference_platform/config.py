"""Platform configuration: one file, validated fields, Kubernetes-like defaults scaled down for local use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from reference_platform import netns


class ConfigError(ValueError):
    """The platform configuration file is invalid; the message names the file, the field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeConfig(_Strict):
    period_s: float = Field(default=0.5, gt=0, description="seconds between liveness/readiness probes")
    timeout_s: float = Field(default=1.0, gt=0, description="a probe slower than this fails")
    failure_threshold: int = Field(default=3, ge=1, description="consecutive liveness failures before a restart")
    startup_timeout_s: float = Field(
        default=60.0, gt=0, description="a replica not ready this long after start is restarted"
    )


class BackoffConfig(_Strict):
    initial_s: float = Field(
        default=1.0, ge=0, description="delay before the second restart in a row (the first is immediate)"
    )
    max_s: float = Field(default=30.0, gt=0, description="cap of the doubling restart delay")
    reset_after_s: float = Field(default=30.0, gt=0, description="ready this long and the backoff starts over")
    crash_loop_restarts: int = Field(
        default=5, ge=2, description="restarts within reset_after_s that mark a crash loop"
    )


class ServingConfig(_Strict):
    model_version: int = Field(default=1, ge=1, description="version of qc_cnn in the model repository to serve")
    repository: Path | None = Field(default=None, description="model repository root; default: the packaged one")
    max_batch_size: int = Field(default=16, ge=1, le=256)
    dynamic_batching: bool = Field(
        default=True, description="Triton's dynamic batcher; false serves one request at a time"
    )
    queue_delay_us: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="how long the batcher may hold a request for more to join; 0 batches only what already "
        "queued while the instance was busy (no added latency at low load)",
    )
    threads: int = Field(default=1, ge=1, description="onnxruntime intra-op threads per replica")
    warm_spares: int = Field(default=0, ge=0, le=4, description="booted standby replicas per region (warm restarts)")


class PipelineConfig(_Strict):
    enabled: bool = Field(default=False, description="run cameras -> preprocessing -> sink around inference")
    cameras: int = Field(default=4, ge=1, le=64)
    fps: float = Field(default=5.0, gt=0, le=100, description="frames per second per camera")
    defect_rate: float = Field(default=0.5, ge=0, le=1, description="share of parts with a defect")
    workers: int = Field(default=4, ge=1, le=64, description="preprocessing threads sending to the gateway")
    drift_reference: int = Field(default=250, ge=50, description="predictions in the drift reference window")
    drift_window: int = Field(default=250, ge=50, description="predictions in the drift comparison window")


class AutoscalerConfig(_Strict):
    enabled: bool = Field(default=False, description="scale inference replicas per region on gateway latency")
    min_replicas: int = Field(default=1, ge=1, le=8)
    max_replicas: int = Field(default=4, ge=1, le=8)
    target_ms: float = Field(default=10.0, gt=0, description="average response time per replica to stay under")
    period_s: float = Field(default=1.0, gt=0)
    cooldown_s: float = Field(default=8.0, ge=0, description="no further decision this long after a change")
    scale_down_after_s: float = Field(default=15.0, ge=0, description="latency under half the target this long")


class NetworkConfig(_Strict):
    namespaces: bool = Field(
        default=False,
        description="each region's replicas in their own network namespace (root only): partitions by packet filter",
    )

    @field_validator("namespaces")
    @classmethod
    def _possible(cls, value: bool) -> bool:
        why = netns.available() if value else None
        if why:
            raise ValueError(why)
        return value


class PlatformConfig(_Strict):
    regions: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{0,7}$")]] = Field(
        default_factory=lambda: ["a"], min_length=1, max_length=4
    )
    """Region names; each gets `replicas` inference pods. The first is the callers' default region."""
    replicas: int = Field(default=2, ge=1, le=8, description="inference replicas per region")
    serving: ServingConfig = ServingConfig()
    probes: ProbeConfig = ProbeConfig()
    pipeline: PipelineConfig = PipelineConfig()
    autoscaler: AutoscalerConfig = AutoscalerConfig()
    backoff: BackoffConfig = BackoffConfig()
    network: NetworkConfig = NetworkConfig()
    gateway_http_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    gateway_grpc_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    ready_timeout_s: float = Field(default=120.0, gt=0, description="`platform up` gives up after this long")

    @model_validator(mode="after")
    def _replicas_within_autoscaler_bounds(self) -> PlatformConfig:
        a = self.autoscaler
        if a.enabled and not a.min_replicas <= self.replicas <= a.max_replicas:
            raise ValueError(
                f"replicas ({self.replicas}) must lie within autoscaler min_replicas..max_replicas "
                f"({a.min_replicas}..{a.max_replicas})"
            )
        if a.min_replicas > a.max_replicas:
            raise ValueError("autoscaler.min_replicas must not exceed autoscaler.max_replicas")
        return self

    @field_validator("regions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"region names must be unique, got {value}")
        return value


def load_config(path: Path | None, **overrides: object) -> PlatformConfig:
    """Read a YAML config (or defaults when `path` is None) and apply non-None overrides."""
    data: dict[str, object] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the platform config ({exc.strerror}); check the path") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of fields, e.g. `replicas: 2`")
        data.update(loaded or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        where = str(path) if path else "platform config"
        raise ConfigError(f"{where}: {field}: {err['msg']} (got {err.get('input')!r}); fix that field") from exc
