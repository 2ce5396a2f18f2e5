"""Resource metrics for every pod: CPU and memory of its whole process group, and GPUs when present.

Exported by the supervisor's `/metrics` at scrape time:

- `pod_cpu_seconds_total{pod, role, device="cpu"}` and `pod_memory_bytes{pod, role, device="cpu"}`
  (RSS summed over the pod's process group: tritonserver and its backend stub);
- `gpu_present` 1 or 0; with a GPU (NVML), `gpu_utilization_ratio{gpu}` and `gpu_memory_used_bytes{gpu}`.
  Without one nothing pretends: CPU figures are labelled `device="cpu"` and `gpu_present` is 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == pgid or _pgid(proc.pid) == pgid:
                members.append(proc)
        except (psutil.Error, ProcessLookupError):
            continue
    return members


def _pgid(pid: int) -> int:
    import os

    return os.getpgid(pid)


def gpus() -> list[dict[str, float]]:
    """Utilization and memory per GPU via NVML; [] when there is no GPU or no driver."""
    try:
        import pynvml  # type: ignore[import-untyped]  # nvidia-ml-py ships no type information

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library, no driver, no device: all mean "no GPU here"
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            out.append(
                {"utilization": util.gpu / 100.0, "memory_used": float(mem.used), "memory_total": float(mem.total)}
            )
        return out
    finally:
        pynvml.nvmlShutdown()


class PodResources(Collector):
    """A Prometheus collector reading the pods' process groups at scrape time."""

    def __init__(self, pods: Callable[[], list[Any]]) -> None:
        self.pods = pods

    def collect(self) -> Iterator[Any]:
        cpu = CounterMetricFamily(
            "pod_cpu_seconds", "CPU time of the pod's process group", labels=["pod", "role", "device"]
        )
        mem = GaugeMetricFamily("pod_memory_bytes", "RSS of the pod's process group", labels=["pod", "role", "device"])
        for pod in self.pods():
            pid = pod.pid
            if pid is None:
                continue
            seconds, rss = 0.0, 0
            for proc in group_members(pid):
                try:
                    t = proc.cpu_times()
                    seconds += t.user + t.system
                    rss += proc.memory_info().rss
                except psutil.Error:
                    continue
            cpu.add_metric([pod.name, pod.role, "cpu"], seconds)
            mem.add_metric([pod.name, pod.role, "cpu"], rss)
        yield cpu
        yield mem
        devices = gpus()
        yield GaugeMetricFamily("gpu_present", "1 when NVML sees at least one GPU", value=1 if devices else 0)
        if devices:
            util = GaugeMetricFamily("gpu_utilization_ratio", "GPU utilization (NVML)", labels=["gpu"])
            used = GaugeMetricFamily("gpu_memory_used_bytes", "GPU memory in use (NVML)", labels=["gpu"])
            for i, d in enumerate(devices):
                util.add_metric([str(i)], d["utilization"])
                used.add_metric([str(i)], d["memory_used"])
            yield util
            yield used
