"""Typed interface of the compiled PDU framer (fastscp._pdu)."""
from typing import Iterable, Optional, Tuple, Union, final

from fastscp._pdv import CommandReceived as CommandReceived
from fastscp._pdv import DatasetReceived as DatasetReceived
from fastscp._pdv import PDVAssembler
from fastscp.pdu_records import AssociateRequest

MAX_ASSOCIATION_PDU: int

@final
class PDUReceived:
    """A PDU other than a decoded P-DATA-TF."""
    @property
    def pdu_type(self) -> int: ...
    @property
    def payload(self) -> Optional[bytes]:
        """The body after the 6-byte header; None for a P-DATA-TF PDU skipped
        because P-DATA is not allowed (``pdata_allowed`` false)."""
    def __init__(self, pdu_type: int, payload: Optional[bytes]) -> None: ...

#: what ``PDUReader.next_event()`` returns (besides None)
Event = Union[PDUReceived, CommandReceived, DatasetReceived]

class PDUReader:
    assembler: PDVAssembler
    pdata_allowed: bool
    #: complete PDUs processed so far
    pdus_completed: int
    def __init__(self, max_pdata_length: int, max_other_length: int = ...,
                 command_cap: int = ...) -> None:
        """P-DATA-TF PDUs up to ``max_pdata_length`` bytes (what we announced),
        other PDUs up to ``max_other_length``; command sets up to
        ``command_cap`` bytes (``fastscp._pdv.DEFAULT_COMMAND_CAP``)."""
    @property
    def max_pdata_length(self) -> int: ...
    @property
    def buffered(self) -> int: ...
    @property
    def capacity(self) -> int:
        """Bytes allocated for the receive buffer: it grows (doubling) as
        bytes of a large PDU arrive, never ahead of them."""
    def get_buffer(self) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def feed(self, data: Union[bytes, bytearray, memoryview]) -> None: ...
    def next_event(self) -> Optional[Event]: ...

def parse_associate_rq(payload: bytes) -> AssociateRequest: ...
def encode_associate_ac(called_ae: bytes, calling_ae: bytes, app_context: str,
                        results: Iterable[Tuple[int, int, str]], max_length: int,
                        implementation_class_uid: str, implementation_version_name: str,
                        roles: Iterable[Tuple[str, int, int]] = ...,
                        extended_negotiation: Iterable[Tuple[str, bytes]] = ...) -> bytes: ...
def encode_associate_rj(result: int, source: int, reason: int) -> bytes: ...
def encode_release_rp() -> bytes: ...
def encode_abort(source: int, reason: int) -> bytes: ...
def encode_pdata(context_id: int, data: bytes, command: bool, max_pdu_length: int) -> bytes: ...
