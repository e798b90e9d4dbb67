"""The records the embedding API's callbacks receive, the callback types,
and the interface the association talks to.

One public module for them: `fastscp` re-exports the records; the server,
the storage service and the end-of-study logic take them from here.
"""
from __future__ import annotations

import logging
import os
from fastscp.record import Record
from typing import Any, Callable, Optional, Protocol, Tuple, Union

from fastscp._sink import DatasetSink
from fastscp.log import APP_LOGGER

log = logging.getLogger(APP_LOGGER)


class AssociationInfo(Record, frozen=True):
    """Who is on the other side of an association."""
    calling_ae_title: str
    called_ae_title: str
    peer_address: str
    peer_port: int
    #: the peer's host name as storescp shows it (`#r`): reverse DNS cut at
    #: the first '.', or the dotted IP (with -dhl, or when the lookup fails)
    peer_host_name: str = ""


class StoreRequest(Record, frozen=True):
    """What an ``on_store_request`` callback receives: a C-STORE-RQ command
    that just arrived, before any byte of its data set."""
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    #: the association it came in
    association: AssociationInfo
    #: where fastscp would store it (directory decided later in sort mode)
    default_name: str


class StoredObject(Record, frozen=True):
    """What the `on_stored` hook receives for each object written."""
    path: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: Optional[str]
    #: the transfer syntax the data set was received in (negotiated)
    transfer_syntax: str
    size: int
    association: AssociationInfo
    status: int
    #: the transfer syntax of the file: as received, or the +te/+tb/+ti/+td one
    stored_transfer_syntax: str = ""


class CompletedStudy(Record, frozen=True):
    """What an ``on_study_complete`` callback receives."""
    study_instance_uid: str
    #: the study's directory (the output directory without a sort option)
    directory: str
    #: the study's files in completion order, under their final names
    #: (after -rns); files an on_store_request hook placed elsewhere included
    files: Tuple[str, ...]
    #: "next-study" (an object of another study arrived), "timeout" (-tos /
    #: eostudy_timeout) or "shutdown" (the server stopped cleanly)
    reason: str
    #: the association the end was detected in (next-study), or that of the
    #: study's last object
    association: Optional[AssociationInfo]


#: on_store_request's answer: None = store as usual; a path (relative to the
#: output directory, or absolute) = store exactly there; an int = refuse
#: with that DIMSE failure status (0xA000-0xAFFF, 0xC000-0xCFFF, 0x01xx, 0x02xx)
StoreDecision = Union[None, str, os.PathLike[str], int]

StoredHook = Callable[[StoredObject], None]
StoreRequestHook = Callable[[StoreRequest], StoreDecision]
StudyHook = Callable[[CompletedStudy], None]
AssociationHook = Callable[[AssociationInfo], None]


class Hooks(Record):
    """The embedding API's callbacks (all optional); see `fastscp.Server`."""
    on_stored: Optional[StoredHook] = None
    on_store_request: Optional[StoreRequestHook] = None
    on_study_complete: Optional[StudyHook] = None
    on_association_accepted: Optional[AssociationHook] = None
    on_association_released: Optional[AssociationHook] = None
    on_association_aborted: Optional[AssociationHook] = None


def call_hook(hook: Optional[Callable[[Any], object]], arg: object, what: str) -> bool:
    """Call a user callback; log (never raise) if it fails.  True if it ran cleanly."""
    if hook is None:
        return True
    try:
        hook(arg)
        return True
    except Exception:
        log.exception("%s hook failed", what)
        return False


# -- what the association needs of the DIMSE services --------------------------------

class PendingStoreHandle(Protocol):
    """One C-STORE the service began: its data set streams into `sink`."""
    sink: DatasetSink
    #: what runs once the response was sent (-xcr, end of study), after finish()
    after_response: Optional[Callable[[], None]]

    def finish(self, sink_error: Optional[BaseException]) -> int:
        """The data set is complete: the C-STORE status."""

    def abandon(self) -> None:
        """The association ended before the data set was complete."""


class DimseService(Protocol):
    """The services behind an association (fastscp.service.StoreService)."""

    def association_accepted(self, info: AssociationInfo) -> None: ...

    def association_ended(self, info: AssociationInfo, outcome: str) -> None: ...

    def begin_store(self, info: AssociationInfo, transfer_syntax: str,
                    sop_class_uid: str, sop_instance_uid: str) -> PendingStoreHandle: ...
