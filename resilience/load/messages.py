"""What the load generator process tells the toolkit over ZeroMQ: one pydantic model per message.

Both sides import this module: the locustfile (and its recorder) builds the messages, the generator's
reader validates each one it receives (`parse`), so a field renamed on one side fails loudly on the other.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Message):
    """The generator is up; its clock's origin."""

    type: Literal["hello"] = "hello"
    wall0: float
    """Wall-clock time (epoch s) of the schedule's time 0."""


class SliceDone(_Message):
    """Every request intended to be sent in one slice of time, once all of them ended (or timed out)."""

    type: Literal["slice"] = "slice"
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


class End(_Message):
    """The schedule finished: what it sent and what it cost."""

    type: Literal["end"] = "end"
    sent: int
    cpu_s: float
    """The generator process's CPU time (user + system)."""
    wall_s: float


LoadMessage = Annotated[Hello | SliceDone | End, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Hello | SliceDone | End] = TypeAdapter(LoadMessage)


def parse(obj: object) -> Hello | SliceDone | End:
    """The message `obj` (decoded JSON) is; pydantic's ValidationError when it is none of them."""
    return _ADAPTER.validate_python(obj)
