"""One association, sans-IO: the PS3.8 upper-layer state machine (acceptor
side) and the DIMSE dispatch.

The transport reads into `get_buffer()`, reports the count with
`buffer_updated(n)`, sends whatever `data_to_send()` returns, closes the
connection when `closed` becomes true, and calls `timeout_expired()` when no
byte arrived within `timeout` seconds.  When `pause` is not None (storescp's
test options `--sleep-*`), the transport sends what is queued, waits that
many seconds without reading and calls `resume()`.  No sockets, clocks or
threads here.

States used by an acceptor (PS3.8 §9.2): Sta2 (transport open, waiting for
A-ASSOCIATE-RQ, ARTIM running), Sta6 (established), Sta13 (waiting for the
peer to close after we sent RJ, RP or A-ABORT, ARTIM running) and Sta1
(closed).  Sta3 and Sta8 are left at once because fastscp answers an
A-ASSOCIATE-RQ or A-RELEASE-RQ as soon as it has it.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

from fastscp import pdu_records
from fastscp._pdu import (
    CommandReceived, DatasetReceived, PDUReader, encode_abort, encode_associate_ac,
    encode_associate_rj, encode_pdata, encode_release_rp, parse_associate_rq,
)
from fastscp._dimse import (
    AFFECTED_SOP_CLASS, AFFECTED_SOP_INSTANCE, C_ECHO_RQ, C_ECHO_RSP, C_STORE_RQ,
    COMMAND_FIELD, DATASET_TYPE, MESSAGE_ID, MESSAGE_ID_RESPONDED, NO_DATASET, STATUS,
    decode_command, encode_command, encode_store_response,
)
from fastscp.config import (
    IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, ServerConfig,
)
from fastscp.errors import ProtocolError
from fastscp.negotiation import Negotiator, describe_association
from fastscp.records import AssociationInfo, DimseService, PendingStoreHandle
from fastscp.uids import VERIFICATION_SOP_CLASS, log_abbreviation
from fastscp.log import APP_LOGGER, NET_LOGGER
from fastscp import progress
from fastscp.progress import ProgressDots
from fastscp.dimsedump import incoming_request

if TYPE_CHECKING:
    from fastscp._pdu import Event

log = logging.getLogger(APP_LOGGER)
net_log = logging.getLogger(NET_LOGGER)

STA1, STA2, STA6, STA13 = "Sta1", "Sta2", "Sta6", "Sta13"

#: bytes `receive` hands to the reader at a time
RECEIVE_SLICE = 65536

#: logged (as storescp) when no byte of an A-ASSOCIATE-RQ came within -ta
REQUEST_TIMEOUT_MESSAGE = "Receiving Association failed: network read timeout"

# A-ASSOCIATE-RJ (result, source, reason), PS3.8 §9.3.4
RJ_NO_REASON = (1, 1, 1)
RJ_APPLICATION_CONTEXT = (1, 1, 2)
RJ_CALLING_AE = (1, 1, 3)
RJ_CALLED_AE = (1, 1, 7)
RJ_PROTOCOL_VERSION = (1, 2, 2)

# A-ABORT (source, reason): DIMSE-level trouble is reported as DCMTK does
# (service user, reason not specified); upper-layer trouble as the provider.
ABORT_USER = (0, 0)
ABORT_UNEXPECTED_PDU = (2, 2)
ABORT_INVALID_PDU = (2, 6)


class Association:
    """The acceptor side of one association."""

    #: the INFO line of a new association's request (None: not logged; a
    #: --fork child logs its own line when it starts, as storescp)
    received_message: Optional[str] = "Association Received"

    def __init__(self, config: ServerConfig, service: DimseService,
                 peer_address: str = "", peer_port: int = 0,
                 negotiator: Optional[Negotiator] = None,
                 peer_host_name: Union[str, Callable[[], str], None] = None):
        self.config = config
        self.service = service
        self.negotiator = negotiator or Negotiator.from_config(config)
        self.peer_address = peer_address
        self.peer_port = peer_port
        #: the peer's name, or a callable the transport gives to fetch it
        #: (a host lookup running elsewhere) when the A-ASSOCIATE-RQ arrives
        self._peer_host_name = peer_host_name
        #: seconds the transport must wait before calling resume(), or None
        self.pause: Optional[float] = None
        self._after_pause: Optional[Callable[[], None]] = None
        #: data set PDVs seen of the current C-STORE (--sleep-during/--abort-during)
        self._seen_pdvs = 0
        self._watch_pdvs = config.abort_during or config.sleep_during > 0
        #: the progress dots of the current C-STORE, if shown (fastscp.progress)
        self._dots: Optional[ProgressDots] = None
        self._show_progress = progress.shown()
        self.reader = PDUReader(config.max_pdu)
        self.state = STA2
        self.info: Optional[AssociationInfo] = None
        self.peer_max_pdu = 0
        #: accepted presentation contexts: id -> (abstract syntax, transfer syntax)
        self.contexts: Dict[int, Tuple[str, str]] = {}
        self._out: List[bytes] = []
        self._store: Optional[PendingStoreHandle] = None
        self._store_command: Optional[Dict[int, Any]] = None
        #: how the association ended: "released", "aborted", "rejected", or None
        self.outcome: Optional[str] = None
        #: work to run once the queued bytes were sent (-xcr, end of study):
        #: the transport calls run_deferred(); otherwise it runs before the
        #: next input is processed
        self._deferred: List[Callable[[], None]] = []

    # -- transport interface -------------------------------------------------
    @property
    def closed(self) -> bool:
        """The transport connection must be (or was) closed."""
        return self.state == STA1

    @property
    def timeout(self) -> Optional[float]:
        """Seconds the transport may wait for the next bytes, None = forever."""
        if self.state in (STA2, STA13):
            return self.config.acse_timeout
        if self._store is not None and self.config.dimse_timeout is not None:
            return self.config.dimse_timeout
        return self.config.socket_timeout

    @property
    def awaiting_request(self) -> bool:
        """No A-ASSOCIATE-RQ processed yet (the request deadline applies)."""
        return self.state == STA2

    @property
    def pdu_in_progress(self) -> bool:
        """Bytes of an incomplete PDU are buffered (a PDU deadline applies)."""
        return self.reader.buffered > 0

    @property
    def pdus_completed(self) -> int:
        """Complete PDUs received so far (progress, for the PDU deadline)."""
        return self.reader.pdus_completed

    def get_buffer(self) -> memoryview:
        return self.reader.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.reader.buffer_updated(nbytes)
        self._process()

    def receive(self, data: bytes) -> None:
        """Feed bytes of any size (tests and non-socket transports): in
        slices, each processed before the next, as a socket transport reads."""
        view = memoryview(data)
        for start in range(0, max(len(view), 1), RECEIVE_SLICE):
            self.reader.feed(view[start:start + RECEIVE_SLICE])
            self._process()
            if self.closed:
                return

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def connection_lost(self) -> None:
        """The peer closed the transport connection (Evt17)."""
        if self.state == STA6:
            log.info("Association Aborted")
            if self._store is not None:
                log.error("Store SCP Failed: peer closed the connection in the middle of a data set")
            self._ended("aborted")
        elif self.state == STA2 and self.outcome is None:
            self.outcome = "closed"
        self._to_sta1()

    def timeout_expired(self) -> None:
        """No bytes for `timeout` seconds (Evt18 in Sta2/Sta13)."""
        if self.state == STA2:
            log.error(REQUEST_TIMEOUT_MESSAGE)
            self.outcome = "timeout"
        elif self.state == STA6:
            if self._store is not None:
                # storescp (-td) logs this and then waits for a next command
                # in limbo; fastscp ends the association clearly instead
                log.error("Store SCP Failed: DIMSE No data available (no data set PDV for %s s): "
                          "aborting association", self.timeout)
            else:
                log.error("Association timed out after %s s without data: aborting", self.timeout)
            self._abort(ABORT_USER)
            self._ended("aborted")
        self._to_sta1()

    def deadline_expired(self, seconds: float) -> None:
        """The transport's deadline passed: the A-ASSOCIATE-RQ (before the
        association), or a PDU whose first bytes arrived (after), was not
        complete within ``seconds``, however the bytes trickled in."""
        if self.state == STA2:
            if self.reader.buffered == 0 and self.pdus_completed == 0:
                log.error(REQUEST_TIMEOUT_MESSAGE)      # not a byte: storescp's read timeout
            else:
                log.error("Receiving Association failed: no complete association request within %s s",
                          seconds)
            self.outcome = "timeout"
        elif self.state == STA6:
            log.error("PDU not complete within %s s: aborting association", seconds)
            self._abort(ABORT_USER)
            self._ended("aborted")
        self._to_sta1()

    def abort(self) -> None:
        """Abort locally (server shutdown)."""
        if self.state == STA6:
            self._abort(ABORT_USER)
            self._ended("aborted")
        elif self.state == STA2:
            self._to_sta1()

    # -- processing ----------------------------------------------------------
    def resume(self) -> None:
        """The pause asked for by `pause` is over: go on where we stopped."""
        action = self._after_pause
        self.pause = self._after_pause = None
        if action is not None and self.state == STA6:
            action()
        if self.pause is None:
            self._process()

    def run_deferred(self) -> None:
        """Run what waits for the response to be sent (storescp runs -xcr and
        end-of-study events after the C-STORE response); never raises."""
        while self._deferred:
            action = self._deferred.pop(0)
            try:
                action()
            except Exception:
                log.exception("post-store processing failed")

    def _process(self) -> None:
        if self._deferred:
            self.run_deferred()
        reader = self.reader
        while self.state != STA1 and self.pause is None:
            try:
                ev = reader.next_event()
            except ProtocolError as exc:
                self._protocol_error(str(exc))
                return
            if ((self._watch_pdvs or self._dots is not None) and self._store is not None
                    and self._progress(ev)):
                continue
            if ev is None:
                return
            self._dispatch(ev)

    def _dispatch(self, ev: Event) -> None:
        # the event classes are final: type() is enough (and cheaper than isinstance)
        if type(ev) is CommandReceived:
            self._on_command(ev.context_id, ev.command)
        elif type(ev) is DatasetReceived:
            self._on_dataset_end(ev.context_id)
        else:
            self._on_pdu(ev.pdu_type, ev.payload)

    def _progress(self, ev: Optional[Event]) -> bool:
        """storescp's per-PDV progress callback, for the progress dots,
        --abort-during and --sleep-during only (checked after each batch the
        compiled reader walked, so the default path has no per-PDV Python
        call).  Returns True if `ev` was taken care of."""
        n = self.reader.assembler.dataset_fragments
        new = n - self._seen_pdvs
        if new <= 0:
            return False
        self._seen_pdvs = n
        if self._dots is not None:
            self._dots.pdvs(new)
        if self.config.abort_during:
            self._test_abort()
            return True
        if self.config.sleep_during > 0:
            # one pause per PDV; the event (if any) is handled after it
            self._pause(self.config.sleep_during * new,
                        None if ev is None else (lambda: self._dispatch(ev)))
            return True
        return False

    def _pause(self, seconds: float, then: Optional[Callable[[], None]] = None) -> None:
        self.pause = seconds
        self._after_pause = then

    def _test_abort(self) -> None:
        log.info("ABORT initiated (due to command line options)")
        self._abort(ABORT_USER)
        self._ended("aborted")

    def _protocol_error(self, message: str) -> None:
        if self.state == STA2:
            log.error("Receiving Association failed: %s", message)
            self.outcome = "protocol-error"
            self._send(encode_abort(*ABORT_INVALID_PDU))
            self._enter_sta13()
        elif self.state == STA6:
            log.error("DIMSE failure (aborting association): %s", message)
            self._abort(ABORT_INVALID_PDU)
            self._ended("aborted")
        else:
            self._to_sta1()

    def _on_pdu(self, pdu_type: int, payload: Optional[bytes]) -> None:
        state = self.state
        if pdu_type == pdu_records.A_ABORT:                       # Evt16: AA-2 / AA-3
            if state == STA6:
                log.info("Association Aborted")
                if self._store is not None:
                    log.error("Store SCP Failed: Peer aborted Association")
                self._ended("aborted")
            self._to_sta1()
        elif state == STA2:
            if pdu_type == pdu_records.A_ASSOCIATE_RQ:            # Evt6: AE-6
                assert payload is not None      # the reader gives every non-P-DATA PDU's body
                self._on_associate_rq(payload)
            else:                                          # AA-1
                log.error("Receiving Association failed: unexpected %s before A-ASSOCIATE-RQ",
                          pdu_records.PDU_NAMES.get(pdu_type))
                self.outcome = "protocol-error"
                self._send(encode_abort(*ABORT_UNEXPECTED_PDU))
                self._enter_sta13()
        elif state == STA6:
            if pdu_type == pdu_records.A_RELEASE_RQ:              # Evt12: AR-2, then AR-4 at once
                if self._store is not None:
                    log.error("A-RELEASE-RQ in the middle of a data set: aborting")
                    self._abort(ABORT_UNEXPECTED_PDU)
                    self._ended("aborted")
                    return
                log.info("Association Release")
                self._send(encode_release_rp())
                self._ended("released")
                self._enter_sta13()
            else:                                          # AA-8
                log.error("DIMSE failure (aborting association): unexpected %s",
                          pdu_records.PDU_NAMES.get(pdu_type))
                self._abort(ABORT_UNEXPECTED_PDU)
                self._ended("aborted")
        elif state == STA13 and pdu_type == pdu_records.A_ASSOCIATE_RQ:   # AA-7
            self._send(encode_abort(*ABORT_UNEXPECTED_PDU))
        # Sta13, anything else: AA-6, ignored

    # -- association establishment --------------------------------------------
    def _on_associate_rq(self, payload: bytes) -> None:
        host_name = self._resolve_host_name()
        net_log.debug("Association Received: %s", host_name)
        if self.received_message is not None:
            log.info("%s", self.received_message)
        try:
            rq = parse_associate_rq(payload)
        except ProtocolError as exc:
            self._protocol_error(str(exc))
            return
        pc_level = logging.INFO if self.config.verbose_pc else logging.DEBUG
        if log.isEnabledFor(pc_level):
            log.log(pc_level, "Parameters:\n%s", describe_association(
                rq, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, self.config.max_pdu))
        if rq.protocol_version & 1 == 0:
            log.error("Receiving Association failed: unsupported peer protocol %04x; expected 0001",
                      rq.protocol_version)
            return self._reject(RJ_PROTOCOL_VERSION)
        if not rq.called_ae:
            log.error("Illegal service parameter: Called AP Title")
            return self._reject(RJ_CALLED_AE)
        if not rq.calling_ae:
            log.error("Illegal service parameter: Calling AP Title")
            return self._reject(RJ_CALLING_AE)
        if not rq.presentation_contexts:
            log.error("Association Rejected: no presentation context proposed")
            return self._reject(RJ_NO_REASON)
        if self.config.refuse:
            log.info("Refusing Association (forced via command line)")
            return self._reject(RJ_NO_REASON)
        negotiation = self.negotiator.negotiate(rq.presentation_contexts, rq.user)
        results = negotiation.results
        if rq.application_context != pdu_records.DICOM_APPLICATION_CONTEXT:
            log.info("Association Rejected: Bad Application Context Name: %s", rq.application_context)
            return self._reject(RJ_APPLICATION_CONTEXT)
        if self.config.reject_without_implementation_uid and not rq.user.implementation_class_uid:
            log.info("Association Rejected: No Implementation Class UID provided")
            return self._reject(RJ_NO_REASON)
        self.peer_max_pdu = rq.user.max_length or 0
        self.info = AssociationInfo(rq.calling_ae, rq.called_ae, self.peer_address, self.peer_port,
                                    host_name)
        self.contexts = {r.context_id: (r.abstract_syntax, r.transfer_syntax)
                         for r in results if r.result == pdu_records.PC_ACCEPTANCE}
        self._send(encode_associate_ac(
            _ae_field(rq.called_ae_raw), _ae_field(rq.calling_ae_raw),
            pdu_records.DICOM_APPLICATION_CONTEXT,
            [(r.context_id, r.result, r.transfer_syntax) for r in results],
            self.config.max_pdu, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME,
            negotiation.roles, negotiation.extended_negotiation))
        send_pdv = min(self.peer_max_pdu or 131072, 131072) - 12
        log.info("Association Acknowledged (Max Send PDV: %d)", send_pdv)
        if log.isEnabledFor(pc_level):
            log.log(pc_level, "%s", describe_association(
                rq, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, self.config.max_pdu,
                negotiation))
        if not self.contexts:
            log.info("    (but no valid presentation contexts)")
        self.state = STA6
        self.reader.pdata_allowed = True
        self.service.association_accepted(self.info)

    def _resolve_host_name(self) -> str:
        name = self._peer_host_name
        if callable(name):
            try:
                name = name()
            except Exception:       # a failing lookup only costs the name
                name = None
        return name or self.peer_address

    def _reject(self, rsn: Tuple[int, int, int]) -> None:
        self.outcome = "rejected"
        self._send(encode_associate_rj(*rsn))
        self._enter_sta13()

    # -- DIMSE -----------------------------------------------------------------
    def _on_command(self, ctx: int, raw: bytes) -> None:
        if ctx not in self.contexts:
            return self._dimse_abort("Bad presentation context ID %d" % ctx)
        try:
            cmd = decode_command(raw)
        except ProtocolError as exc:
            return self._dimse_abort("Command Parse Failed: %s" % exc)
        field = cmd.get(COMMAND_FIELD)
        has_dataset = cmd.get(DATASET_TYPE, NO_DATASET) != NO_DATASET
        if field == C_ECHO_RQ:
            if has_dataset:
                return self._dimse_abort("C-ECHO-RQ with a data set")
            if log.isEnabledFor(logging.DEBUG):   # storescp: the dump replaces the details
                log.info("Received Echo Request")
                log.debug("%s", incoming_request(cmd, ctx))
            else:
                log.info("Received Echo Request (MsgID %s)", cmd.get(MESSAGE_ID))
            self._respond(ctx, [(AFFECTED_SOP_CLASS, cmd.get(AFFECTED_SOP_CLASS, VERIFICATION_SOP_CLASS)),
                                (COMMAND_FIELD, C_ECHO_RSP),
                                (MESSAGE_ID_RESPONDED, cmd.get(MESSAGE_ID, 0)),
                                (DATASET_TYPE, NO_DATASET), (STATUS, 0)])
        elif field == C_STORE_RQ:
            sop_class = _command_uid(cmd, AFFECTED_SOP_CLASS, "AffectedSOPClassUID")
            sop_instance = _command_uid(cmd, AFFECTED_SOP_INSTANCE, "AffectedSOPInstanceUID")
            if not has_dataset:
                return self._dimse_abort("C-Store RQ: DataSetType == NULL")
            if not sop_class or not sop_instance or MESSAGE_ID not in cmd:
                return self._dimse_abort("Command Parse Failed: C-STORE-RQ lacks a required element")
            if log.isEnabledFor(logging.DEBUG):
                log.info("Received Store Request")
                log.debug("%s", incoming_request(cmd, ctx))
            elif log.isEnabledFor(logging.INFO):
                log.info("Received Store Request (MsgID %s, %s)", cmd[MESSAGE_ID],
                         log_abbreviation(sop_class))
            self._store_command = cmd
            assert self.info is not None        # commands come only in Sta6
            self._store = self.service.begin_store(self.info, self.contexts[ctx][1], sop_class, sop_instance)
            self.reader.assembler.expect_dataset(ctx, self._store.sink)
            self._seen_pdvs = 0
            if self._show_progress:
                self._dots = ProgressDots.start()
            if self.config.sleep_during > 0:      # storescp's "begin" progress callback
                self._pause(self.config.sleep_during)
        else:
            self._dimse_abort("Expected C-ECHO or C-STORE request but received DIMSE command 0x%04x"
                              % (field if isinstance(field, int) else 0))

    def _on_dataset_end(self, ctx: int) -> None:
        if self._dots is not None:
            self._dots.end()
            self._dots = None
        if self.config.abort_after:
            return self._test_abort()
        if self.config.sleep_during > 0:          # storescp's "end" progress callback
            return self._pause(self.config.sleep_during, lambda: self._finish_store(ctx))
        self._finish_store(ctx)

    def _finish_store(self, ctx: int) -> None:
        store, cmd = self._store, self._store_command
        assert store is not None and cmd is not None
        self._store = self._store_command = None
        status = store.finish(self.reader.assembler.sink_error)
        self._send(encode_pdata(ctx, encode_store_response(
            cmd[AFFECTED_SOP_CLASS], cmd[MESSAGE_ID], status, cmd[AFFECTED_SOP_INSTANCE]),
            True, self.peer_max_pdu))
        if store.after_response is not None:
            self._deferred.append(store.after_response)
        if self.config.sleep_after > 0:
            self._pause(self.config.sleep_after)

    def _respond(self, ctx: int, elements: List[Tuple[int, Any]]) -> None:
        self._send(encode_pdata(ctx, encode_command(elements), True, self.peer_max_pdu))

    def _dimse_abort(self, message: str) -> None:
        log.error("DIMSE failure (aborting association): %s", message)
        self._abort(ABORT_USER)
        self._ended("aborted")

    # -- helpers ---------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        self._out.append(data)

    def _abort(self, source_reason: Tuple[int, int]) -> None:
        self._send(encode_abort(*source_reason))
        self._enter_sta13()

    def _enter_sta13(self) -> None:
        self.state = STA13
        self.reader.pdata_allowed = False
        self._drop_store()

    def _to_sta1(self) -> None:
        self.state = STA1
        self.reader.pdata_allowed = False
        self._drop_store()
        self.run_deferred()

    def _drop_store(self) -> None:
        if self._store is not None:
            self._store.abandon()
            self._store = self._store_command = None
            self.reader.assembler.reset()

    def _ended(self, outcome: str) -> None:
        if self.outcome is None:
            self.outcome = outcome
            if self.info is not None and outcome in ("released", "aborted"):
                self.run_deferred()
                self.service.association_ended(self.info, outcome)


def _command_uid(cmd: Dict[int, Any], tag: int, name: str) -> Any:
    """A UID of the command as dcmdata reads it: white space removed anywhere
    (storescp then names the file, checks and answers with the clean value)."""
    value = cmd.get(tag)
    if isinstance(value, str):
        clean = "".join(value.split())
        if clean != value:
            log.warning("DcmUniqueIdentifier: Element %s (0000,%04x) contains one or more space "
                        "characters, which were removed", name, tag)
            cmd[tag] = value = clean
    return value


def _ae_field(raw: bytes) -> bytes:
    """An AE title field echoed as storescp does: trailing spaces trimmed, re-padded."""
    return raw.rstrip(b" \x00").ljust(16, b" ")[:16]
