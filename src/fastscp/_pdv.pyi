"""Typed interface of the compiled PDV reassembler (fastscp._pdv)."""
from typing import Optional, final

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
    """Made by `fastscp._pdu.PDUReader` (its ``assembler``), which feeds it the PDVs."""
    #: first exception the sink raised for the current data set (the rest was drained)
    sink_error: Optional[BaseException]
    #: data set PDVs seen for the current message
    dataset_fragments: int
    def __init__(self, command_cap: int = ...) -> None: ...
    def expect_dataset(self, context_id: int, sink: DatasetSink) -> None: ...
    def reset(self) -> None: ...

