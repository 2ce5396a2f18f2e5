"""What the load generator process tells the toolkit over ZeroMQ: one pydantic model per message.

Both sides import this module: the locustfile (and its recorder) builds the messages, the generator's
reader validates each one it receives (`parse`), so a field renamed on one side fails loudly on the other.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from resilience.model import Slice


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Message):
    """The generator (one worker of it) is up; its clock's origin."""

    type: Literal["hello"] = "hello"
    worker: int = 0
    """Which generator process: 0 alone, else the Locust worker's index."""
    wall0: float
    """Wall-clock time (epoch s) of the schedule's time 0."""
    started_at: float | None = None
    """When this process began its schedule (a worker may join a shared schedule late)."""
    pid: int | None = None
    """The process (the toolkit matches its own worker processes to Locust's worker indexes by it)."""


class SliceDone(_Message):
    """Every request intended to be sent in one slice of time, once all of them ended (or timed out)."""

    type: Literal["slice"] = "slice"
    worker: int = 0
    index: int
    start: float
    end: float
    ok: int
    failed: int
    """Failed requests, including those still unfinished when the slice had to be sent."""
    errors: dict[str, int]
    latency: str
    """HDR histogram of the successful requests' latencies (us, from the intended send time), encoded."""
    lag: str
    """HDR histogram of the schedule lag (us: how late each send started), encoded."""
    through: float | None = None
    """Wall time up to which this worker has sent every slice (none of its requests still open before it)."""

    def to_slice(self) -> Slice:
        """The slice as the toolkit keeps it, stamped with when it held it (wall-clock time to detect)."""
        return Slice(
            index=self.index,
            start=self.start,
            end=self.end,
            ok=self.ok,
            failed=self.failed,
            latency_hdr=self.latency.encode(),
            lag_hdr=self.lag.encode(),
            errors=dict(self.errors),
            received_at=time.time(),
        )


class Progress(_Message):
    """A worker's flush: everything it scheduled before `through` has been sent (slices with no request too)."""

    type: Literal["progress"] = "progress"
    worker: int
    through: float


class WorkerLost(_Message):
    """Locust's master stopped hearing from a worker (heartbeats missing): it sends no more of its share."""

    type: Literal["worker-lost"] = "worker-lost"
    worker: int
    at: float
    reason: str


class End(_Message):
    """The schedule finished: what it sent and what it cost."""

    type: Literal["end"] = "end"
    worker: int = 0
    sent: int
    cpu_s: float
    """The generator process's CPU time (user + system)."""
    wall_s: float
    lag_p99_ms: float | None = None
    """This process's schedule lag p99 over the run."""
    ended_at: float | None = None
    """When its schedule stopped sending."""


Message = Hello | SliceDone | Progress | WorkerLost | End
LoadMessage = Annotated[Message, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Message] = TypeAdapter(LoadMessage)


def parse(obj: object) -> Message:
    """The message `obj` (decoded JSON) is; pydantic's ValidationError when it is none of them."""
    return _ADAPTER.validate_python(obj)
