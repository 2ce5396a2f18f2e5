"""The generator's ZeroMQ messages: what the recorder sends is what the reader parses, and nothing else is."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from resilience.load import messages
from resilience.load.openloop import Recorder
from resilience.model import Histogram


class ListSink:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def send_json(self, obj: object) -> None:
        self.sent.append(json.loads(json.dumps(obj)))  # what crosses the socket: JSON, not Python objects


def test_the_recorders_slices_parse_as_slice_messages_with_their_counts_and_histograms() -> None:
    sink = ListSink()
    rec = Recorder(sink, slice_s=60.0, timeout_s=1.0)
    intended = rec.mono0
    for n, latency_s in enumerate((0.002, 0.004, 0.008)):
        i = rec.begin(intended)
        rec.started(i, 0.0001)
        rec.end(i, latency_s, "http 500" if n == 2 else None)
    rec.begin(intended)  # still in flight when the slice is forced out: counted as failed, named unfinished
    rec.flush(force=True)
    (msg,) = [messages.parse(m) for m in sink.sent]
    assert isinstance(msg, messages.SliceDone)
    assert (msg.ok, msg.failed) == (2, 2)
    assert msg.errors == {"http 500": 1, "unfinished": 1}
    latency = Histogram.decode(msg.latency.encode())
    top = latency.percentile_ms(100)
    assert latency.count == 2 and top is not None and 3.99 <= top <= 4.01


def test_hello_and_end_round_trip_through_json() -> None:
    for msg in (messages.Hello(wall0=1.5), messages.End(sent=10, cpu_s=0.25, wall_s=3.0)):
        assert messages.parse(json.loads(json.dumps(msg.model_dump()))) == msg


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "hello"},  # a field missing
        {"type": "slice", "index": 0},  # most fields missing
        {"type": "end", "sent": 1, "cpu_s": 0.1, "wall_s": 1.0, "extra": 1},  # a field this side does not know
        {"type": "goodbye"},  # a message this side does not know
        ["hello"],
    ],
)
def test_a_message_of_another_shape_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError):
        messages.parse(raw)
