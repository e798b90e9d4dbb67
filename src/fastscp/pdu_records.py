"""Plain data classes for the upper-layer PDUs fastscp reads and answers.

The compiled framer (`_pdu`) parses an A-ASSOCIATE-RQ into these; the
association layer decides on them and hands the answer back for encoding.
"""
from __future__ import annotations

from fastscp.record import Record, field
from typing import Dict, List, Optional, Tuple

# PDU types (PS3.8 §9.3)
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

PDU_NAMES = {
    A_ASSOCIATE_RQ: "A-ASSOCIATE-RQ", A_ASSOCIATE_AC: "A-ASSOCIATE-AC",
    A_ASSOCIATE_RJ: "A-ASSOCIATE-RJ", P_DATA_TF: "P-DATA-TF",
    A_RELEASE_RQ: "A-RELEASE-RQ", A_RELEASE_RP: "A-RELEASE-RP", A_ABORT: "A-ABORT",
}

DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

# Presentation context results (PS3.8 §9.3.3.2)
PC_ACCEPTANCE = 0
PC_USER_REJECTION = 1
PC_NO_REASON = 2
PC_ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
PC_TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


class PresentationContextProposal(Record):
    context_id: int
    abstract_syntax: str
    transfer_syntaxes: List[str]


class UserInformation(Record):
    max_length: Optional[int] = None
    implementation_class_uid: Optional[str] = None
    implementation_version_name: Optional[str] = None
    #: (max operations invoked, max operations performed), if proposed
    async_ops_window: Optional[Tuple[int, int]] = None
    #: SOP class UID -> (scu_role, scp_role) as proposed
    roles: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    #: SOP class UID -> service class application information (raw bytes)
    extended_negotiation: Dict[str, bytes] = field(default_factory=dict)
    #: raw SOP class common extended negotiation sub-items (0x57)
    common_extended_negotiation: List[bytes] = field(default_factory=list)
    #: raw user identity negotiation sub-item (0x58), if proposed
    user_identity: Optional[bytes] = None


class AssociateRequest(Record):
    protocol_version: int
    #: the 16-byte AE title fields as received (not stripped)
    called_ae_raw: bytes
    calling_ae_raw: bytes
    application_context: Optional[str]
    presentation_contexts: List[PresentationContextProposal]
    user: UserInformation

    @property
    def called_ae(self) -> str:
        return self.called_ae_raw.decode("ascii", "replace").strip()

    @property
    def calling_ae(self) -> str:
        return self.calling_ae_raw.decode("ascii", "replace").strip()


class PresentationContextResult(Record):
    context_id: int
    result: int
    #: the accepted transfer syntax (for a refused context a placeholder)
    transfer_syntax: str
    abstract_syntax: str = ""
