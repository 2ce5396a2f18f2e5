"""The frame format between the cameras and preprocessing: a `QCF1` header with a CRC32, and its checks.

A frame is the header (magic, camera, sequence number, capture time, shape, CRC32 of the payload) followed
by the raw uint8 pixels. `decode_frame` accepts only a whole, intact frame of the expected shape; anything
else raises `FrameError` whose `reason` is the label preprocessing counts it under.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

MAGIC = b"QCF1"
HEADER = struct.Struct("<4sHIdHHBI")  # magic, camera, seq, capture time, h, w, c, crc32 of the payload
FRAME_SIZE = 128


class FrameError(ValueError):
    """A frame failed an integrity check; `reason` is the metric label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_frame(camera: int, seq: int, captured: float, image: npt.NDArray[np.uint8]) -> bytes:
    payload = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    h, w, c = image.shape
    return HEADER.pack(MAGIC, camera, seq, captured, h, w, c, zlib.crc32(payload)) + payload


def decode_frame(data: bytes) -> tuple[int, int, float, npt.NDArray[np.uint8]]:
    """Parse and check a frame. Raises FrameError(reason) for anything but a whole, intact frame."""
    if len(data) < HEADER.size:
        raise FrameError("truncated")
    magic, camera, seq, captured, h, w, c, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FrameError("bad-magic")
    payload = data[HEADER.size :]
    if len(payload) != h * w * c:
        raise FrameError("truncated")
    if zlib.crc32(payload) != crc:
        raise FrameError("checksum")
    if (h, w, c) != (FRAME_SIZE, FRAME_SIZE, 3):
        raise FrameError("shape")
    return camera, seq, captured, np.frombuffer(payload, dtype=np.uint8).reshape(h, w, c)
