"""storescp's debug dump of an incoming DIMSE request (DCMTK's
DIMSE_dumpMessage), logged after ``Received Store Request`` /
``Received Echo Request`` when the application logger shows DEBUG."""
from __future__ import annotations

from typing import Any, Dict, List

from fastscp._dimse import (
    AFFECTED_SOP_CLASS, AFFECTED_SOP_INSTANCE, C_STORE_RQ, COMMAND_FIELD, DATASET_TYPE, MESSAGE_ID,
    MOVE_ORIGINATOR_AE, MOVE_ORIGINATOR_MESSAGE_ID, NO_DATASET, PRIORITY,
)
from fastscp.uids import sop_class_name

#: the Priority values DCMTK names
_PRIORITIES = {0: "medium", 1: "high", 2: "low"}


def _field(label: str, value: object) -> str:
    return "%-30s: %s" % (label, value)


def incoming_request(cmd: Dict[int, Any], context_id: int) -> str:
    """The dump of a C-STORE-RQ or C-ECHO-RQ command received on ``context_id``."""
    store = cmd.get(COMMAND_FIELD) == C_STORE_RQ
    lines: List[str] = ["===================== INCOMING DIMSE MESSAGE ====================",
                        "Message Type                  : %s" % ("C-STORE RQ" if store else "C-ECHO RQ")]
    if context_id > 0:
        lines.append(_field("Presentation Context ID", context_id))
    lines.append(_field("Message ID", cmd.get(MESSAGE_ID, 0)))
    data_set = "none" if cmd.get(DATASET_TYPE, NO_DATASET) == NO_DATASET else "present"
    if store:
        sop_class = cmd.get(AFFECTED_SOP_CLASS, "")
        lines.append(_field("Affected SOP Class UID", sop_class_name(sop_class) or sop_class))
        lines.append(_field("Affected SOP Instance UID", cmd.get(AFFECTED_SOP_INSTANCE, "")))
        lines.append(_field("Data Set", data_set))
        lines.append(_field("Priority", _PRIORITIES.get(cmd.get(PRIORITY, 0), "")))
        if MOVE_ORIGINATOR_AE in cmd:
            lines.append(_field("Move Originator AE Title", str(cmd[MOVE_ORIGINATOR_AE]).strip()))
        if MOVE_ORIGINATOR_MESSAGE_ID in cmd:
            lines.append(_field("Move Originator ID", cmd[MOVE_ORIGINATOR_MESSAGE_ID]))
    else:
        lines.append(_field("Data Set", data_set))
    lines.append("======================= END DIMSE MESSAGE =======================")
    return "\n".join(lines)
