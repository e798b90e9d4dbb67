"""Typed interface of the compiled PDV reassembler (fastscp._pdv)."""
from typing import Optional

from fastscp._sink import DatasetSink

DEFAULT_COMMAND_CAP: int

class PDVAssembler:
    sink_error: Optional[BaseException]
    dataset_bytes: int
    dataset_fragments: int
    def __init__(self, command_cap: int = ...) -> None: ...
    def expect_dataset(self, context_id: int, sink: DatasetSink) -> None: ...
    @property
    def expecting_dataset(self) -> bool: ...
    def reset(self) -> None: ...
    def add_pdv(self, context_id: int, header: int, data: bytes) -> Optional[tuple]: ...

