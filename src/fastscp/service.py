"""The DIMSE services fastscp provides: Verification (C-ECHO) and Storage (C-STORE).

Sans-IO like the association: the association calls `begin_store` when a
C-STORE-RQ command arrives and the returned `PendingStore`'s `finish` when
its data set is complete (`abandon` when the association ends before).
The data set never passes through here; it streams from the PDU buffer into
the writer (a `DatasetSink`) that `begin_store` returns.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Callable, Optional, Tuple

from fastscp import status as st
from fastscp._counters import Counters
from fastscp._sink import DatasetSink, DiscardSink
from fastscp.config import ServerConfig
from fastscp.errors import DatasetError, OutputError
from fastscp.output import make_writer, stored_transfer_syntax
from fastscp.placement import Study
from fastscp.records import (
    AssociationInfo, Hooks, StoredHook, StoredObject, StoreRequest, StoreRequestHook, call_hook,
)
from fastscp.stats import CounterTable
from fastscp.status import is_failure_status
from fastscp.storage import PlacementFailed, Storage
from fastscp.study import StudyEvents
from fastscp.log import APP_LOGGER

if TYPE_CHECKING:
    from fastscp._writer import DatasetWriter, WriteResult
    from fastscp.output import Writer

log = logging.getLogger(APP_LOGGER)


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
        events = service.events
        #: the file name (-uf/+uf/-tn/-fe), decided now as storescp does
        self.name = "" if self.ignore else storage.file_name(sop_class_uid, sop_instance_uid)
        self.final_path = "" if self.ignore else os.path.join(self.directory, self.name)
        self.temp_path: Optional[str] = None
        self.fd = -1
        #: where the data set goes (replaced below unless nothing is to be written)
        self.sink: DatasetSink = DiscardSink()
        #: the writer behind `sink`, once made
        self.writer: Optional[Writer] = None
        #: why no writer could be made (file system error, or a writer that
        #: refuses this transfer syntax or configuration)
        self.open_error: Optional[Exception] = None
        #: an on_store_request hook refused the object with this status
        self.refused: Optional[int] = None
        #: an on_store_request hook chose the path
        self.chosen_path = False
        #: what the association runs once the response was sent (-xcr, end of study)
        self.after_response: Optional[Callable[[], None]] = None
        self._stored_directory: Optional[str] = None
        self._ended_study: Optional[Study] = None
        self._timer_open = True
        #: the size of the file stored (the store latency starts now)
        self.bytes_stored = 0
        self._started_ns = time.monotonic_ns()
        events.begin()
        hook = service.hooks.on_store_request
        if hook is not None and not self.ignore:
            self._ask(hook)
            if self.refused is not None:
                return                          # the data set is drained, never written
        try:
            if self.ignore:
                self.fd = os.open(os.devnull, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            else:
                self.fd, self.temp_path = storage.open_temp(self.directory)
            self.sink = self.writer = service.writer(
                self.fd, transfer_syntax, info.calling_ae_title, sop_class_uid, sop_instance_uid,
                temp_dir=None if self.ignore else self.directory, convert=not self.ignore)
        except Exception as exc:
            self.open_error = exc
            self._release()                     # the data set is drained into the DiscardSink

    def _release(self) -> None:
        """Give back the descriptor, the temporary file and what the writer holds."""
        self._close()
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()
        if self.temp_path:
            self.service.storage.discard(self.temp_path)
            self.temp_path = None

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _ask(self, hook: StoreRequestHook) -> None:
        """on_store_request: refuse, choose the path, or let fastscp decide."""
        request = StoreRequest(self.sop_class_uid, self.sop_instance_uid, self.transfer_syntax,
                               self.info, self.name)
        try:
            decision = hook(request)
        except Exception:
            log.exception("on_store_request hook failed for %s", self.final_path)
            self.refused = st.PROCESSING_FAILURE
            return
        if decision is None:
            return
        if isinstance(decision, int) and not isinstance(decision, bool):
            if is_failure_status(decision):
                log.info("C-STORE refused by the on_store_request hook: status 0x%04x", decision)
                self.refused = decision
            else:
                log.error("on_store_request hook returned 0x%04x, which is no failure status",
                          decision)
                self.refused = st.PROCESSING_FAILURE
            return
        if isinstance(decision, (str, os.PathLike)):
            path = os.path.join(self.service.storage.directory, os.fspath(decision))
            directory, name = os.path.split(path)
            if name:
                self.directory, self.name, self.final_path = directory or ".", name, path
                self.chosen_path = True
                try:
                    os.makedirs(self.directory, exist_ok=True)
                except OSError as exc:
                    log.error("cannot create directory: %s: %s", self.directory,
                              exc.strerror or exc)
                    self.refused = st.OUT_OF_RESOURCES
                return
        log.error("on_store_request hook returned %r: neither None, a file path nor a status",
                  decision)
        self.refused = st.PROCESSING_FAILURE

    def _place_and_commit(self, result: WriteResult, bit_preserving: bool) -> Optional[int]:
        """Give the complete temporary file its final name (the storage
        decides the directory); a status if the object cannot be placed (0xC000)."""
        try:
            placed = self.service.storage.place(
                self.temp_path, self.fd, self.directory, self.name, chosen=self.chosen_path,
                study_uid=result.study_instance_uid,
                patient_name=result.patient_name,
                charset=result.specific_character_set, info=self.info,
                announce=not bit_preserving)      # storescp +B logs no such line
        except PlacementFailed as exc:
            log.error("%s", exc)
            self._stored_directory, self.name = exc.directory, exc.name   # storescp's stale #p/#f
            self.abandon()
            return st.CANNOT_UNDERSTAND
        self.temp_path = None
        self._close()
        self.directory, self.final_path = placed.directory, placed.final_path
        self._stored_directory = placed.directory
        self._ended_study = placed.ended_study
        return None

    def _close_timer(self, stored: bool) -> None:
        if self._timer_open:
            self._timer_open = False
            self.service.events.end(stored)

    def finish(self, sink_error: Optional[BaseException]) -> int:
        """The last data set fragment arrived: complete the file, return the
        status; `after_response` then holds the -xcr/end-of-study work."""
        try:
            status = self.refused if self.refused is not None else self._complete(sink_error)
        except Exception:
            # a fault of fastscp's own: the association goes on, nothing is left behind
            log.exception("C-STORE failed: %s", self.final_path)
            self.abandon()
            status = st.PROCESSING_FAILURE
        events = self.service.events
        self._close_timer(self._stored_directory is not None)
        directory = None if self.ignore else (self._stored_directory or self.directory)
        try:
            self.after_response = events.after_response(
                directory, None if self.ignore else self.name, self.info, self._ended_study)
        except Exception:
            log.exception("after C-STORE: %s", self.final_path)
        self.service.counters.stored(status, is_failure_status(status), self.bytes_stored,
                                     time.monotonic_ns() - self._started_ns)
        return status

    def abandon(self) -> None:
        """The association ended before the data set was complete."""
        self._close_timer(False)
        self._release()

    def _complete(self, sink_error: Optional[BaseException]) -> int:
        """Complete the file, return the status."""
        if self.open_error is not None:
            log.error("cannot write DICOM file: %s: %s", self.final_path,
                      getattr(self.open_error, "strerror", None) or self.open_error)
            return st.OUT_OF_RESOURCES
        if self.ignore:
            return self._finish_ignored(sink_error)
        bit_preserving = self.service.config.bit_preserving
        try:
            if sink_error is not None:
                raise sink_error
            assert self.writer is not None     # open_error is set otherwise
            result = self.writer.finish()
            if self.temp_path is not None:
                self._close()           # an unnamed file stays open until it is linked
            # +B: no consistency check at all (storescp)
            status = st.SUCCESS if bit_preserving else self._check(result)
            if is_failure_status(status):
                # storescp keeps such a file; a failure here leaves none
                self.abandon()
                return status
            failed = self._place_and_commit(result, bit_preserving)
            if failed is not None:
                return failed
        except DatasetError as exc:
            log.error("cannot store DICOM data set %s: %s", self.final_path, exc)
            self.abandon()
            return st.CANNOT_UNDERSTAND
        except OSError as exc:
            log.error("cannot write DICOM file: %s: %s", self.final_path, exc.strerror or exc)
            self.abandon()
            return st.OUT_OF_RESOURCES
        except (OutputError, NotImplementedError) as exc:
            log.error("cannot write DICOM file: %s: %s", self.final_path, exc)
            self.abandon()
            return st.OUT_OF_RESOURCES
        if status == st.SUCCESS and result.elements_discarded:
            log.warning("data set incomplete or with repeated elements, stored without them: %s",
                        self.final_path)
            status = st.ELEMENTS_DISCARDED
        self.bytes_stored = result.bytes_written
        hook = self.service.on_stored
        if hook is not None:
            event = StoredObject(
                path=self.final_path, sop_class_uid=self.sop_class_uid,
                sop_instance_uid=self.sop_instance_uid,
                study_instance_uid=result.study_instance_uid,
                transfer_syntax=self.transfer_syntax, size=result.bytes_written,
                stored_transfer_syntax=stored_transfer_syntax(self.service.config, self.transfer_syntax),
                association=self.info, status=status)
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
            assert self.writer is not None
            self.writer.finish()
        except DatasetError as exc:
            log.error("cannot parse DICOM data set (--ignore): %s", exc)
            return st.CANNOT_UNDERSTAND
        except (OSError, OutputError, NotImplementedError) as exc:
            log.error("cannot parse DICOM data set (--ignore): %s", exc)
            return st.OUT_OF_RESOURCES
        finally:
            self._close()
        return st.SUCCESS

    def _check(self, result: WriteResult) -> int:
        """storescp's consistency check of the stored data set against the command."""
        if not result.sop_class_uid_anywhere or not result.sop_instance_uid_anywhere:
            log.error("bad DICOM file: %s", self.final_path)
            return st.CANNOT_UNDERSTAND
        if (result.sop_class_uid != self.sop_class_uid
                or result.sop_instance_uid != self.sop_instance_uid):
            log.error("data set does not match the command's SOP class or instance UID: %s",
                      self.final_path)
            return st.DATASET_DOES_NOT_MATCH_SOP_CLASS
        return st.SUCCESS


class _LastWriter(threading.local):
    key: Optional[Tuple[str, str, bool]] = None
    writer: Optional[DatasetWriter] = None


class StoreService:
    """Storage SCP behaviour shared by all associations of a server."""

    def __init__(self, config: ServerConfig, on_stored: Optional[StoredHook] = None,
                 storage: Optional[Storage] = None, hooks: Optional[Hooks] = None,
                 counters: Optional[Counters] = None):
        self.config = config
        #: this process's row of the server's counters (`fastscp.stats`)
        self.counters = counters if counters is not None else CounterTable().row(0)
        #: names, sort directories and study state (shared by all associations)
        self.storage = storage or Storage(config)
        self.hooks = hooks or Hooks()
        if on_stored is not None:
            self.hooks.on_stored = on_stored
        self.on_stored = self.hooks.on_stored
        #: -xcr, end of study (-rns, -xcs, -tos, on_study_complete)
        self.events = StudyEvents(config, self.hooks, self.storage, self.counters)
        #: per thread (an association's): its last writer, reused for its next object
        self._last_writer = _LastWriter()

    def writer(self, fd: int, transfer_syntax: str, calling_ae_title: str, sop_class_uid: str,
               sop_instance_uid: str, *, temp_dir: Optional[str], convert: bool) -> Writer:
        """The writer of one object: the thread's last one restarted if it
        has the same settings and finished well (making a new writer was the
        largest single cost of a small object), else a new one."""
        last = self._last_writer
        key = (transfer_syntax, calling_ae_title, convert)
        previous = last.writer
        if previous is not None and last.key == key:
            try:
                previous.restart(fd, sop_class_uid, sop_instance_uid)
                return previous
            except RuntimeError:
                pass                # still in use or failed: a new one
        writer = make_writer(self.config, fd, transfer_syntax, calling_ae_title=calling_ae_title,
                             command_sop_class_uid=sop_class_uid,
                             command_sop_instance_uid=sop_instance_uid,
                             temp_dir=temp_dir, convert=convert)
        from fastscp._writer import DatasetWriter     # loaded by make_writer (not at start-up)
        last.key = key
        last.writer = (writer if type(writer) is DatasetWriter and not self.config.bit_preserving
                       else None)
        return writer

    def association_accepted(self, info: AssociationInfo) -> None:
        self.counters.accepted()
        call_hook(self.hooks.on_association_accepted, info, "on_association_accepted")

    def association_ended(self, info: AssociationInfo, outcome: str) -> None:
        self.counters.ended(outcome == "released")
        self._last_writer.writer = None         # its memory goes with the association
        hook = (self.hooks.on_association_released if outcome == "released"
                else self.hooks.on_association_aborted)
        call_hook(hook, info, "on_association_%s" % outcome)

    def close(self) -> None:
        """Clean shutdown: the pending study ends (-rns, -xcs, on_study_complete)."""
        self.events.close()

    def begin_store(self, info: AssociationInfo, transfer_syntax: str,
                    sop_class_uid: str, sop_instance_uid: str) -> PendingStore:
        return PendingStore(self, info, transfer_syntax, sop_class_uid, sop_instance_uid)
