"""Typed interface of the compiled PDV reassembler (fastscp._pdv)."""
from typing import Optional, Union, final

from fastscp._sink import DatasetSink

DEFAULT_COMMAND_CAP: int

@final
class CommandReceived:
    """A complete command set arrived on a presentation context."""
    @property
    def context_id(self) -> int: ...
    @property
    def command(self) -> bytes:
        """The command set (group 0000, implicit VR little endian)."""
    def __init__(self, context_id: int, command: bytes) -> None: ...

@final
class DatasetReceived:
    """The last fragment of a data set went to the sink."""
    @property
    def context_id(self) -> int: ...
    def __init__(self, context_id: int) -> None: ...

class PDVAssembler:
    sink_error: Optional[BaseException]
    dataset_bytes: int
    dataset_fragments: int
    def __init__(self, command_cap: int = ...) -> None: ...
    def expect_dataset(self, context_id: int, sink: DatasetSink) -> None: ...
    @property
    def expecting_dataset(self) -> bool: ...
    def reset(self) -> None: ...
    def add_pdv(self, context_id: int, header: int, data: bytes) -> Optional[Union[CommandReceived, DatasetReceived]]: ...

