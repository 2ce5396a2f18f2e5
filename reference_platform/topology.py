"""A platform's pods, made up front: the replicas and pipeline stages it runs, and the idle slots it may fill.

Every pod gets its ports when it is made, so the gateway's configuration can name every backend it may ever
route to (HAProxy starts with the slots' entries disabled; the autoscaler and the rollouts enable them).
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_platform import gateway
from reference_platform.config import PipelineConfig, PlatformConfig, ServingConfig
from reference_platform.pods import Launcher, ReplicaPod

STAGES = ("sink", "preprocess", "cameras")
"""The pipeline's stages, in the order they start (each one's consumer first)."""


@dataclass(slots=True)
class Topology:
    """What one platform runs (`pods`) and the slots its autoscaler and rollouts fill later."""

    pods: list[ReplicaPod]
    """Started with the platform: the inference replicas of every region, then the pipeline stages."""
    scale_slots: list[ReplicaPod]
    """Replicas the autoscaler may add, beyond `replicas` per region up to its `max_replicas`."""
    green_slots: list[ReplicaPod]
    """Blue-green's second stable set: a deployment fills whichever set is not serving."""
    canary_slots: list[ReplicaPod]
    """One canary per region."""
    shadow_slot: ReplicaPod
    """The shadow rollout's replica (it mirrors the pipeline's frames; never in the gateway)."""
    stage_urls: dict[str, str]
    """Pipeline stage -> its control and metrics URL; empty without a pipeline."""

    @property
    def replicas(self) -> list[ReplicaPod]:
        """The inference replicas started with the platform (a blue-green switch may send them back to idle)."""
        return [p for p in self.pods if p.role == "inference"]

    def backends(self) -> list[gateway.Backend]:
        """Every inference pod and slot as a gateway backend; the slots' entries start disabled."""
        idle = self.scale_slots + self.green_slots
        return [
            gateway.Backend(
                p.name,
                p.region,
                p.http_port,
                p.grpc_port,
                host=p.host,
                source=p.net.gateway_ip if p.net else None,
                canary=p.variant == "canary",
                disabled=p in idle,
            )
            for p in self.pods + self.scale_slots + self.green_slots + self.canary_slots
            if p.role == "inference"
        ]


def serving_args(s: ServingConfig) -> list[str]:
    """The serving settings every replica gets, as `reference_platform.replica` arguments."""
    return [
        "--max-batch-size",
        str(s.max_batch_size),
        "--queue-delay-us",
        str(s.queue_delay_us),
        *([] if s.dynamic_batching else ["--no-dynamic-batching"]),
        "--threads",
        str(s.threads),
    ]


def plan(config: PlatformConfig, launcher: Launcher, gateway_http: int) -> Topology:
    """Make every pod and slot of a platform of `config`'s shape (the gateway's HTTP port feeds the pipeline)."""
    version = config.serving.model_version
    replicas = [
        launcher.replica(f"{region}-{i}", region, model_version=version)
        for region in config.regions
        for i in range(config.replicas)
    ]
    extra = config.autoscaler.max_replicas - config.replicas if config.autoscaler.enabled else 0
    scale_slots = [
        launcher.replica(f"{region}-{i}", region, model_version=version, retired=True)
        for region in config.regions
        for i in range(config.replicas, config.replicas + extra)
    ]
    shadow_slot = launcher.replica("shadow", config.regions[0], variant="shadow", retired=True)
    green_slots = [launcher.replica(f"{p.name}-next", p.region, retired=True) for p in replicas]
    canary_slots = [
        launcher.replica(f"{region}-canary", region, variant="canary", retired=True) for region in config.regions
    ]
    stages, stage_urls = (
        pipeline_pods(config.pipeline, config.regions[0], launcher, gateway_http)
        if config.pipeline.enabled
        else ([], {})
    )
    return Topology(replicas + stages, scale_slots, green_slots, canary_slots, shadow_slot, stage_urls)


def pipeline_pods(
    pc: PipelineConfig, region: str, launcher: Launcher, gateway_http: int
) -> tuple[list[ReplicaPod], dict[str, str]]:
    """cameras -> preprocess -> sink, each a pod probed on its /healthz; and each stage's URL."""
    frames, results = launcher.port(), launcher.port()
    ports = {stage: launcher.port() for stage in ("cameras", "preprocess", "sink")}
    commands = {
        "sink": [
            "sink",
            "--in-port",
            str(results),
            "--reference",
            str(pc.drift_reference),
            "--window",
            str(pc.drift_window),
        ],
        "preprocess": [
            "preprocess",
            "--in-port",
            str(frames),
            "--out",
            f"tcp://127.0.0.1:{results}",
            "--gateway",
            f"127.0.0.1:{gateway_http}",
            "--workers",
            str(pc.workers),
        ],
        "cameras": [
            "cameras",
            "--out",
            f"tcp://127.0.0.1:{frames}",
            "--cameras",
            str(pc.cameras),
            "--fps",
            str(pc.fps),
            "--defect-rate",
            str(pc.defect_rate),
        ],
    }
    pods = [
        ReplicaPod(
            name=stage,
            region=region,
            http_port=0,
            grpc_port=0,
            metrics_port=ports[stage],
            role=stage,
            command=[*commands[stage], "--port", str(ports[stage])],
        )
        for stage in STAGES
    ]
    return pods, {stage: f"http://127.0.0.1:{port}" for stage, port in ports.items()}
