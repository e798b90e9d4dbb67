"""The DIMSE services fastscp provides: Verification (C-ECHO) and Storage (C-STORE).

Sans-IO like the association: the association calls `begin_store` when a
C-STORE-RQ command arrives and `end_store` when its data set is complete.
The data set never passes through here; it streams from the PDU buffer into
the writer (a `DatasetSink`) that `begin_store` returns.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Optional

from fastscp import status as st
from fastscp._writer import DatasetWriter, DiscardSink
from fastscp.config import (
    IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, ServerConfig,
)
from fastscp.errors import DatasetError
from fastscp.storage import Storage
from fastscp.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN

log = logging.getLogger("fastscp")


@dataclass(frozen=True)
class AssociationInfo:
    """Who is on the other side of an association."""
    calling_ae_title: str
    called_ae_title: str
    peer_address: str
    peer_port: int
    #: the peer's host name as storescp shows it (`#r`): reverse DNS cut at
    #: the first '.', or the dotted IP (with -dhl, or when the lookup fails)
    peer_host_name: str = ""


@dataclass(frozen=True)
class StoredObject:
    """What the `on_stored` hook receives for each object written."""
    path: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: Optional[str]
    transfer_syntax: str
    size: int
    association: AssociationInfo
    status: int


StoredHook = Callable[[StoredObject], None]


class PendingStore:
    """One C-STORE in progress: its temporary file and writer."""

    def __init__(self, service: "StoreService", info: AssociationInfo, transfer_syntax: str,
                 sop_class_uid: str, sop_instance_uid: str):
        self.service = service
        self.info = info
        self.transfer_syntax = transfer_syntax
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid
        storage = service.storage
        self.directory = storage.directory
        #: --ignore: the data set is parsed (by the writer, into /dev/null), nothing is stored
        self.ignore = service.config.ignore
        self.final_path = "" if self.ignore else os.path.join(
            self.directory, storage.final_name(sop_class_uid, sop_instance_uid))
        self.temp_path: Optional[str] = None
        self.fd = -1
        self.open_error: Optional[OSError] = None
        try:
            if self.ignore:
                self.fd = os.open(os.devnull, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            else:
                self.fd, self.temp_path = storage.open_temp(self.directory)
            writer_class, extra = DatasetWriter, {}
            if transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
                # inflated into a temporary file, deflated again at the end
                from fastscp.deflate import DeflatedWriter
                writer_class, extra = DeflatedWriter, {
                    "temp_dir": None if self.ignore else self.directory}
            self.sink = writer_class(
                self.fd, transfer_syntax,
                calling_ae_title=info.calling_ae_title,
                implementation_class_uid=IMPLEMENTATION_CLASS_UID,
                implementation_version_name=IMPLEMENTATION_VERSION_NAME,
                command_sop_class_uid=sop_class_uid,
                command_sop_instance_uid=sop_instance_uid,
                **extra,
            )
        except OSError as exc:
            self.open_error = exc
            self._close()
            self.sink = DiscardSink()

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def abandon(self) -> None:
        """The association ended before the data set was complete."""
        self._close()
        if self.temp_path:
            self.service.storage.discard(self.temp_path)
            self.temp_path = None

    def finish(self, sink_error: Optional[BaseException]) -> int:
        """The last data set fragment arrived: complete the file, return the status."""
        if self.open_error is not None:
            log.error("cannot write DICOM file: %s: %s", self.final_path, self.open_error.strerror)
            return st.OUT_OF_RESOURCES
        if self.ignore:
            return self._finish_ignored(sink_error)
        log.info("storing DICOM file: %s", self.final_path)
        try:
            if sink_error is not None:
                raise sink_error
            result = self.sink.finish()
            self._close()
            self.service.storage.commit(self.temp_path, self.final_path)
            self.temp_path = None
        except DatasetError as exc:
            log.error("cannot store DICOM data set %s: %s", self.final_path, exc)
            self.abandon()
            return st.CANNOT_UNDERSTAND
        except OSError as exc:
            log.error("cannot write DICOM file: %s: %s", self.final_path, exc.strerror or exc)
            self.abandon()
            return st.OUT_OF_RESOURCES
        except NotImplementedError as exc:
            log.error("cannot write DICOM file: %s: %s", self.final_path, exc)
            self.abandon()
            return st.OUT_OF_RESOURCES
        status = self._check(result)
        event = StoredObject(
            path=self.final_path, sop_class_uid=self.sop_class_uid,
            sop_instance_uid=self.sop_instance_uid,
            study_instance_uid=result.get("study_instance_uid"),
            transfer_syntax=self.transfer_syntax, size=result.get("bytes_written", 0),
            association=self.info, status=status)
        hook = self.service.on_stored
        if hook is not None:
            try:
                hook(event)
            except Exception:
                log.exception("on_stored hook failed for %s", self.final_path)
                return st.PROCESSING_FAILURE
        return status

    def _finish_ignored(self, sink_error: Optional[BaseException]) -> int:
        """--ignore: the data set was parsed into /dev/null; status 0, no SOP
        check, no file, no hook -- but an undecodable data set still fails."""
        try:
            if sink_error is not None:
                raise sink_error
            self.sink.finish()
        except DatasetError as exc:
            log.error("cannot parse DICOM data set (--ignore): %s", exc)
            return st.CANNOT_UNDERSTAND
        except (OSError, NotImplementedError) as exc:
            log.error("cannot parse DICOM data set (--ignore): %s", exc)
            return st.OUT_OF_RESOURCES
        finally:
            self._close()
        return st.SUCCESS

    def _check(self, result: dict) -> int:
        """storescp's consistency check of the stored data set against the command."""
        if not result.get("sop_class_uid_anywhere") or not result.get("sop_instance_uid_anywhere"):
            log.error("bad DICOM file: %s", self.final_path)
            return st.CANNOT_UNDERSTAND
        if (result.get("sop_class_uid") != self.sop_class_uid
                or result.get("sop_instance_uid") != self.sop_instance_uid):
            return st.DATASET_DOES_NOT_MATCH_SOP_CLASS
        return st.SUCCESS


class StoreService:
    """Storage SCP behaviour shared by all associations of a server."""

    def __init__(self, config: ServerConfig, on_stored: Optional[StoredHook] = None,
                 storage: Optional[Storage] = None):
        self.config = config
        self.storage = storage or Storage(config.output_directory)
        self.on_stored = on_stored

    def begin_store(self, info: AssociationInfo, transfer_syntax: str,
                    sop_class_uid: str, sop_instance_uid: str) -> PendingStore:
        return PendingStore(self, info, transfer_syntax, sop_class_uid, sop_instance_uid)
