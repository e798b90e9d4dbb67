"""Typed interface of the data set sinks (fastscp._sink)."""
import sys
from typing import Callable

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

class DatasetSink:
    """Receives the data set fragments of one C-STORE, in order (C-level ``feed``)."""

    def write(self, data: Buffer) -> None:
        """Feed any contiguous bytes-like object (bytes, bytearray, memoryview)."""

class DiscardSink(DatasetSink):
    """Swallows every byte."""

    bytes_received: int
    def finish(self) -> dict[str, int]: ...

class CallbackSink(DatasetSink):
    def __init__(self, callback: Callable[[bytes], object]) -> None: ...

