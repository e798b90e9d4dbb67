"""Typed interface of the DIMSE command set codec (fastscp._dimse)."""
from typing import Dict, Iterable, Tuple, Union

COMMAND_GROUP_LENGTH: int
AFFECTED_SOP_CLASS: int
REQUESTED_SOP_CLASS: int
COMMAND_FIELD: int
MESSAGE_ID: int
MESSAGE_ID_RESPONDED: int
MOVE_DESTINATION: int
PRIORITY: int
DATASET_TYPE: int
STATUS: int
OFFENDING_ELEMENT: int
ERROR_COMMENT: int
AFFECTED_SOP_INSTANCE: int
REQUESTED_SOP_INSTANCE: int
MOVE_ORIGINATOR_AE: int
MOVE_ORIGINATOR_MESSAGE_ID: int
C_STORE_RQ: int
C_STORE_RSP: int
C_ECHO_RQ: int
C_ECHO_RSP: int
NO_DATASET: int
COMMAND_VR: Dict[int, int]

def decode_command(data: bytes) -> Dict[int, Union[int, str, bytes]]: ...
def encode_command(elements: Iterable[Tuple[int, Union[int, str, bytes]]]) -> bytes: ...
def encode_store_response(sop_class: str, message_id: int, status: int, sop_instance: str) -> bytes: ...
