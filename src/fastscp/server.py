"""The embeddable server: accepts TCP connections and drives one sans-IO
`Association` per connection, each in its own thread, so a stalled peer
never holds up the others.  The compiled writer releases the GIL while it
writes, so associations also overlap their disk I/O.

The accept loop (one thread, one selector) holds a new connection until its
A-ASSOCIATE-RQ has arrived, within the ACSE timeout as a deadline: a
connection that closes at once (a load balancer's health check), stays
silent or trickles costs no thread.  At most `max_associations` connections
are open; further ones wait in the listen backlog.  `accept()` failing for
want of descriptors (EMFILE/ENFILE) pauses accepting with a rate-limited log
line, and a thread that cannot be started costs that connection only.
"""
from __future__ import annotations

import errno
import logging
import queue
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Set, Tuple, Type, Union

from fastscp import activation
from fastscp.balancer import Balancers, ClosedBeforeHeader, HeaderRead, refused
from fastscp.association import REQUEST_TIMEOUT_MESSAGE, Association
from fastscp.hostnames import Lookup, Resolver
from fastscp.config import ServerConfig
from fastscp.negotiation import Negotiator
from fastscp.records import (
    AssociationHook, Hooks, StoredHook, StoreRequestHook, StudyHook,
)
from fastscp.service import StoreService
from fastscp.stats import CounterTable
from fastscp.monitor import MonitoredListener, Monitor
from fastscp.log import APP_LOGGER
from fastscp.proxyheader import ProxyHeaderError

if TYPE_CHECKING:
    from fastscp.access import HostsAccess
    from fastscp.tls import ServerTLS

#: a peer address as accept() returns it (host, port)
_Address = Tuple[str, int]
#: the arguments of Server._serve_connection
_Job = Tuple[Any, ...]

log = logging.getLogger(APP_LOGGER)

#: listen backlog (storescp: 50): bursts of connections wait here while the
#: accept loop is busy, instead of having their SYNs dropped
BACKLOG = 1024
#: connections accepted per wake-up of the accept loop
ACCEPT_BURST = 64
#: bytes collected in the accept loop before the connection gets its thread
#: (a larger A-ASSOCIATE-RQ is read there, within the same deadline)
PREFIX_LIMIT = 65536
#: accept() errors that mean "no descriptors/memory now": back off
RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
#: back-off after such an error, seconds (doubling up to the maximum)
BACKOFF_MIN, BACKOFF_MAX = 0.05, 1.0
#: at most one log line per this many seconds for a recurring accept failure
LOG_EVERY = 5.0
#: the longest socket timeout set (about 68 years; -ts/-ta/-td take any C long)
MAX_TIMEOUT = float(2 ** 31 - 1)


class Server(MonitoredListener):
    """A DICOM Storage SCP.

    >>> server = Server(ServerConfig(port=11112, output_directory="/data/in"),
    ...                 on_stored=lambda obj: print(obj.path))
    >>> server.serve_forever()          # until SIGINT/SIGTERM or server.shutdown()

    Listening starts in the constructor (OSError if the port is taken), so
    `server.port` is known at once, also with port 0.

    Callbacks (all optional keyword arguments; each runs in the thread of
    the association concerned, or of the -tos timer / `serve_forever` for
    studies ending by timeout / shutdown; one that raises is logged and
    never ends the association or the server):

    * ``on_association_accepted(info: AssociationInfo)``, and
      ``on_association_released(info)`` / ``on_association_aborted(info)``
      when an accepted association ends;
    * ``on_store_request(request: StoreRequest) -> StoreDecision``: a
      C-STORE-RQ arrived, before any byte of its data set: return None
      (store as usual), a path (relative to the output directory, or
      absolute; the file is written there atomically, directories created)
      or a DIMSE failure status (int, e.g. 0xA700) to refuse the object: its
      data set is then drained and nothing is written.  Raising = refused
      with 0x0110;
    * ``on_stored(obj: StoredObject)``: after the file got its final name
      (raising = the object is answered 0x0110; the file stays);
    * ``on_study_complete(study: CompletedStudy)``: a study ended (an object
      of another study completed, `eostudy_timeout` seconds without objects,
      or a clean shutdown), after -rns renamed its files and -xcs started.
    """

    def __init__(self, config: ServerConfig, *, on_stored: Optional[StoredHook] = None,
                 on_store_request: Optional[StoreRequestHook] = None,
                 on_study_complete: Optional[StudyHook] = None,
                 on_association_accepted: Optional[AssociationHook] = None,
                 on_association_released: Optional[AssociationHook] = None,
                 on_association_aborted: Optional[AssociationHook] = None):
        config.validate()         # what the command line refuses, refused here too
        self.config = config
        #: one row for all threads (`fastscp.stats`)
        self.counters = CounterTable()
        self.service = StoreService(config, counters=self.counters.row(0), hooks=Hooks(
            on_stored=on_stored, on_store_request=on_store_request,
            on_study_complete=on_study_complete,
            on_association_accepted=on_association_accepted,
            on_association_released=on_association_released,
            on_association_aborted=on_association_aborted))
        self.negotiator = Negotiator.from_config(config)
        self._sock, self._tls = listen_with_tls(config)
        #: --metrics-port and the -v summary, in threads of their own while serving
        try:
            self._monitor = Monitor(config, self.counters.snapshot)
        except BaseException:
            self._sock.close()
            raise
        # wakes the accept loop from shutdown() (a signal handler or another
        # thread) and when an association thread ends (a slot is free)
        self._stop_r, self._stop_w = socket.socketpair()
        self._stop_r.setblocking(False)
        self._stop_w.setblocking(False)
        self._stopping = threading.Event()
        self._workers = _Workers(self._serve_connection)
        self._conns: Set[socket.socket] = set()
        self._lock = threading.Lock()
        #: connections accepted, waiting for their A-ASSOCIATE-RQ (accept loop only)
        self._pending: Dict[socket.socket, _Pending] = {}
        self._listening = False
        self._backoff_until = 0.0
        self._backoff = 0.0
        self._failures = RateLimitedLog()
        self._resolver: Optional[Resolver] = Resolver() if config.host_lookup else None
        #: +ac: libwrap's verdict on each connection, in its association thread
        self._access: Optional["HostsAccess"] = None
        if config.access_control:
            from fastscp.access import HostsAccess     # ctypes: only when +ac is asked for
            self._access = HostsAccess()
        #: --proxy-protocol: peers whose connections begin with a PROXY header
        self._balancers = Balancers.of(config.proxy_protocol)

    def serve_forever(self, handle_signals: Optional[bool] = None) -> None:
        """Accept associations until `shutdown()` (or SIGINT/SIGTERM when
        handle_signals, the default in the main thread)."""
        if handle_signals is None:
            handle_signals = threading.current_thread() is threading.main_thread()
        previous = {}
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self.shutdown())
        sel = selectors.DefaultSelector()
        sel.register(self._stop_r, selectors.EVENT_READ)
        self._monitor.start_threads()
        try:
            while not self._stopping.is_set():
                try:
                    self._accept_round(sel)
                except Exception:       # a fault of ours must not stop the server
                    self._failures.exception("internal error in the accept loop")
                    self._stopping.wait(BACKOFF_MIN)
        finally:
            for pending in list(self._pending.values()):
                self._drop_pending(sel, pending)
            sel.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_all()
            # pending end-of-study work (-rns, -xcs, on_study_complete) runs now
            self.service.close()
            self._monitor.close()

    def shutdown(self) -> None:
        """Stop accepting; abort associations in progress (their partial
        objects are discarded). Safe from signal handlers and other threads."""
        if not self._stopping.is_set():
            self._stopping.set()
            try:
                self._stop_w.send(b"x")
            except OSError:
                pass

    # -- the accept loop ------------------------------------------------------
    def _open_connections(self) -> int:
        with self._lock:
            return len(self._conns) + len(self._pending)

    def _update_listening(self, sel: selectors.BaseSelector) -> None:
        """Watch the listening socket only while a connection may be accepted."""
        want = (self._open_connections() < self.config.max_associations
                and time.monotonic() >= self._backoff_until)
        if want != self._listening:
            if want:
                sel.register(self._sock, selectors.EVENT_READ)
            else:
                sel.unregister(self._sock)
            self._listening = want

    def _select_timeout(self) -> Optional[float]:
        deadlines = [p.deadline for p in self._pending.values()]
        if not self._listening and self._backoff_until:
            deadlines.append(self._backoff_until)
        if not deadlines:
            return None
        # epoll takes milliseconds in a C int: a day at most (-ta may be huge)
        return min(86400.0, max(0.0, min(deadlines) - time.monotonic()))

    def _accept_round(self, sel: selectors.BaseSelector) -> None:
        self._update_listening(sel)
        for key, _ in sel.select(self._select_timeout()):
            if self._stopping.is_set():
                return
            if key.fileobj is self._sock:
                self._accept_burst(sel)
            elif key.fileobj is self._stop_r:
                _drain(self._stop_r)
            else:
                self._read_pending(sel, key.data)
        self._expire_pending(sel)

    def _accept_burst(self, sel: selectors.BaseSelector) -> None:
        for _ in range(ACCEPT_BURST):
            if self._open_connections() >= self.config.max_associations:
                return
            try:
                conn, addr = self._sock.accept()
            except BlockingIOError:
                self._backoff = 0.0
                return
            except OSError as exc:
                if exc.errno in RESOURCE_ERRNOS:
                    # stop accepting for a while: retrying at once would spin
                    self._backoff = min(BACKOFF_MAX, max(BACKOFF_MIN, 2 * self._backoff))
                    self._backoff_until = time.monotonic() + self._backoff
                    self._failures.error("cannot accept connection: %s; pausing %.2f s",
                                         exc.strerror or exc, self._backoff)
                    return
                log.debug("accept failed: %s", exc)         # e.g. ECONNABORTED
                continue
            self._backoff = 0.0
            self._backoff_until = 0.0
            try:
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                conn.close()
                continue
            pending = _Pending(conn, addr, time.monotonic() + self.config.acse_timeout)
            self._pending[conn] = pending
            sel.register(conn, selectors.EVENT_READ, pending)
            if self._balancers is not None and self._balancers.relays(addr[0]):
                # read here first: +ac and TLS are for the sender in the header
                pending.header = HeaderRead(addr)
            elif self._access is not None or self._tls is not None:
                # +ac: the thread checks the peer (DNS may be slow) before a byte is read;
                # TLS: the handshake runs in the association's thread (tls.py)
                self._hand_over(sel, pending)

    def _read_pending(self, sel: selectors.BaseSelector, pending: "_Pending") -> None:
        if pending.header is not None:
            self._read_header(sel, pending)
            return
        try:
            data = pending.conn.recv(PREFIX_LIMIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            log.debug("connection from %s closed before an association request", pending.addr[0])
            self._drop_pending(sel, pending)
            return
        pending.data += data
        if _request_complete(pending.data) or len(pending.data) >= PREFIX_LIMIT:
            self._hand_over(sel, pending)

    def _read_header(self, sel: selectors.BaseSelector, pending: "_Pending") -> None:
        """A balancer connection's PROXY header: the sender becomes the peer."""
        assert pending.header is not None
        try:
            if not pending.header.read_some(pending.conn):
                return
        except BlockingIOError:
            return
        except (ProxyHeaderError, ClosedBeforeHeader) as exc:
            refused(pending.addr, exc)
            self._drop_pending(sel, pending)
            return
        pending.addr = pending.header.sender()
        pending.header = None
        if self._access is not None or self._tls is not None:
            self._hand_over(sel, pending)

    def _expire_pending(self, sel: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for pending in [p for p in self._pending.values() if p.deadline <= now]:
            if pending.header is not None:
                pending.header.expired(self.config.acse_timeout)
                self._drop_pending(sel, pending)
            elif pending.data:
                # the association logs the deadline as it would after the hand-over
                self._hand_over(sel, pending)
            else:
                log.error(REQUEST_TIMEOUT_MESSAGE)          # as storescp; a close logs nothing
                self._drop_pending(sel, pending)

    def _drop_pending(self, sel: selectors.BaseSelector, pending: "_Pending") -> None:
        sel.unregister(pending.conn)
        del self._pending[pending.conn]
        pending.conn.close()

    def _hand_over(self, sel: selectors.BaseSelector, pending: "_Pending") -> None:
        """Give the connection its association thread."""
        sel.unregister(pending.conn)
        del self._pending[pending.conn]
        conn, addr = pending.conn, pending.addr
        conn.setblocking(True)
        lookup = self._resolver.submit(addr[0]) if self._resolver is not None else None
        with self._lock:
            self._conns.add(conn)
        try:
            self._workers.submit((conn, addr, lookup, pending.data, pending.deadline))
        except RuntimeError as exc:         # "can't start new thread": this connection only
            self._failures.error("cannot serve connection from %s: %s", addr[0], exc)
            with self._lock:
                self._conns.discard(conn)
            if lookup is not None:
                lookup.wanted = False
            conn.close()

    def _serve_connection(self, conn: socket.socket, addr: "_Address", lookup: Optional[Lookup] = None,
                          prefix: bytes = b"", request_deadline: Optional[float] = None) -> None:
        host_name: Union[str, Callable[[], str]] = addr[0] if lookup is None else lookup.result
        try:
            if self._access is not None:
                if not self._access.admits(addr[0], lookup):
                    return
                # as in storescp, the wait for the A-ASSOCIATE-RQ starts after the check
                request_deadline = time.monotonic() + self.config.acse_timeout
            serve_association(conn, addr, self.config, self.service, self.negotiator,
                              host_name=host_name, prefix=prefix, tls=self._tls,
                              request_deadline=request_deadline, sleep=self._stopping.wait)
        finally:
            if lookup is not None:
                lookup.wanted = False
            conn.close()
            with self._lock:
                self._conns.discard(conn)
            try:
                self._stop_w.send(b"s")     # a slot is free: wake the accept loop
            except OSError:
                pass

    def _close_all(self) -> None:
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._workers.stop(timeout=10)
        self._stop_r.close()
        self._stop_w.close()
        if self._resolver is not None:
            self._resolver.close()

    def close(self) -> None:
        """Release the sockets of a server that was never served."""
        self.service.close()
        self._monitor.close()
        self._sock.close()
        self._stop_r.close()
        self._stop_w.close()
        if self._resolver is not None:
            self._resolver.close()


def listen(config: ServerConfig) -> socket.socket:
    """The listening socket of config.host/config.port (OSError if taken),
    or the one systemd passed to this process (`fastscp.activation`)."""
    passed = activation.take_listening_socket()
    if passed is not None:
        address = passed.getsockname()
        if address[1] != config.port:
            log.warning("port %d not used: listening on the socket passed by systemd, %s port %d",
                        config.port, address[0], address[1])
        return passed
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def listen_with_tls(config: ServerConfig, *, tls_apart: bool = False,
                    ) -> Tuple[socket.socket, Optional["ServerTLS"]]:
    """The listening socket (non-blocking) and the TLS side, set up once the
    port is bound, as storescp does; nothing is left open if either fails.
    `tls_apart`: see `fastscp.tls.server_tls` (only without threads)."""
    sock = listen(config)
    try:
        tls = tls_of(config, apart=tls_apart)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock, tls


def tls_of(config: ServerConfig, *, apart: bool = False) -> Optional["ServerTLS"]:
    """The TLS side of a server of `config`, None for plain TCP (ssl and
    the key loading are imported only for TLS).  Raises TLSSetupError."""
    if config.tls_key_cert is None and config.tls_context is None:
        return None
    from fastscp.tls import server_tls
    return server_tls(config, apart=apart)


def serve_association(conn: socket.socket, addr: "_Address", config: ServerConfig,
                      service: StoreService, negotiator: Negotiator, *,
                      host_name: Union[str, Callable[[], str]], prefix: bytes = b"",
                      request_deadline: Optional[float] = None,
                      sleep: Callable[[float], object] = time.sleep,
                      tls: Optional["ServerTLS"] = None) -> None:
    """Serve one connection (blocking) until its association ends; ``prefix``
    = bytes already read from it; with ``tls`` the handshake comes first,
    within the request deadline (or -ta from now).  The caller closes the
    connection.  A fault of ours aborts this association only."""
    assoc = Association(config, service, addr[0], addr[1], negotiator, peer_host_name=host_name)
    io: Any = conn
    try:
        if tls is not None:
            tls_conn = tls.accept(conn, request_deadline or time.monotonic() + config.acse_timeout)
            if tls_conn is None:
                return                  # the handshake failed (logged)
            io = tls_conn
        if prefix:
            assoc.receive(prefix)
            _send_and_run_deferred(assoc, io)
        drive(assoc, io, sleep, request_deadline=request_deadline,
              pdu_timeout=config.pdu_timeout)
    except Exception:
        log.exception("internal error in association with %s:%d", addr[0], addr[1])
        assoc.abort()
        try:
            io.sendall(assoc.data_to_send())
        except OSError:
            pass
    finally:
        if assoc.outcome == "rejected":
            service.counters.rejected()
        if io is not conn:
            io.close()          # the TLS layer (conn stays the caller's)


if sys.platform.startswith("linux"):
    def _set_timeout(conn: socket.socket, timeout: Optional[float]) -> None:
        """Kernel-side timeouts (SO_RCVTIMEO/SO_SNDTIMEO) on a blocking socket:
        unlike socket.settimeout they cost no poll() before every recv."""
        seconds = 0.0 if timeout is None else min(max(timeout, 0.001), MAX_TIMEOUT)
        tv = struct.pack("@ll", int(seconds), int((seconds % 1) * 1e6))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    _TIMEOUT_ERRORS: Tuple[Type[BaseException], ...] = (socket.timeout, BlockingIOError)
else:
    def _set_timeout(conn: socket.socket, timeout: Optional[float]) -> None:
        conn.settimeout(None if timeout is None else min(timeout, MAX_TIMEOUT))
    _TIMEOUT_ERRORS = (socket.timeout,)


def drive(assoc: Association, conn: socket.socket,
          sleep: Callable[[float], object] = time.sleep, *,
          request_deadline: Optional[float] = None, pdu_timeout: Optional[float] = None,
          clock: Callable[[], float] = time.monotonic) -> None:
    """Run one association over a connected socket until it ends.

    `sleep` serves the association's pauses (storescp's --sleep-* test
    options); it blocks this association's thread only.  The server passes
    a wait that ends early at shutdown.  Besides the association's own
    per-read timeouts: ``request_deadline`` (a `clock` time) bounds the wait
    for a complete A-ASSOCIATE-RQ, ``pdu_timeout`` the time from the first
    byte of a PDU to its last, however slowly the bytes trickle in."""
    recv_into = conn.recv_into
    current = object()
    pdu_mark, pdu_start = -1, 0.0
    while not assoc.closed:
        if assoc.pause is not None:
            sleep(min(assoc.pause, threading.TIMEOUT_MAX))
            assoc.resume()
            _send_and_run_deferred(assoc, conn)
            continue
        timeout = assoc.timeout
        limit = None
        if assoc.awaiting_request:
            if request_deadline is not None:
                limit, allowed = request_deadline, assoc.config.acse_timeout
        elif pdu_timeout is not None and assoc.pdu_in_progress:
            if assoc.pdus_completed != pdu_mark:        # a new PDU began
                pdu_mark, pdu_start = assoc.pdus_completed, clock()
            limit, allowed = pdu_start + pdu_timeout, pdu_timeout
        if limit is not None:
            remaining = limit - clock()
            if remaining <= 0:
                assoc.deadline_expired(allowed)
                _send_and_run_deferred(assoc, conn)
                continue
            if timeout is None or remaining < timeout:
                timeout = remaining
        if timeout != current:
            _set_timeout(conn, timeout)
            current = timeout
        try:
            n = recv_into(assoc.get_buffer())
        except _TIMEOUT_ERRORS:
            if limit is not None and clock() >= limit:
                assoc.deadline_expired(allowed)
            else:
                assoc.timeout_expired()
            n = -1
        except OSError:
            n = 0
        if n == 0:
            assoc.connection_lost()
        elif n > 0:
            assoc.buffer_updated(n)
        _send_and_run_deferred(assoc, conn)


class _Workers:
    """The association threads, reused: a connection goes to an idle thread,
    and a new thread is started only when none is idle (a thread start per
    association cost more than the rest of a short association's set-up)."""

    def __init__(self, serve: Callable[..., None]):
        self._serve = serve
        self._jobs: "queue.SimpleQueue[Optional[_Job]]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: Set[threading.Thread] = set()

    def submit(self, job: "_Job") -> None:
        """Serve ``job`` (the arguments of ``serve``); RuntimeError if no
        thread is idle and none can be started."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return
        thread = threading.Thread(target=self._run, args=(job,), name="fastscp-assoc", daemon=True)
        with self._lock:
            self._threads.add(thread)
        try:
            thread.start()
        except BaseException:
            with self._lock:
                self._threads.discard(thread)
            raise

    def _run(self, job: "Optional[_Job]") -> None:
        try:
            while job is not None:
                self._serve(*job)
                with self._lock:
                    self._idle += 1
                job = self._jobs.get()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def stop(self, timeout: float) -> None:
        """End the idle threads and wait for the busy ones (their connections
        were shut down)."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join(timeout=timeout)


class _Pending:
    """A connection accepted, waiting in the accept loop for its A-ASSOCIATE-RQ."""

    __slots__ = ("conn", "addr", "deadline", "data", "header")

    def __init__(self, conn: socket.socket, addr: "_Address", deadline: float) -> None:
        self.conn, self.addr, self.deadline, self.data = conn, addr, deadline, b""
        #: a balancer connection's PROXY header, until it is read (--proxy-protocol)
        self.header: Optional[HeaderRead] = None


def _request_complete(data: bytes) -> bool:
    """A whole PDU (normally the A-ASSOCIATE-RQ) is in ``data``, or its first
    bytes are no PDU header at all: the association takes it from there."""
    if len(data) < 6:
        return False
    if not 0x01 <= data[0] <= 0x07:
        return True
    length: int = struct.unpack(">I", data[2:6])[0]
    return len(data) >= 6 + length


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass


class RateLimitedLog:
    """An error line at most every LOG_EVERY seconds, with the count of the
    ones left out in between."""

    def __init__(self) -> None:
        self._last = -LOG_EVERY
        self._skipped = 0

    def error(self, fmt: str, *args: object) -> None:
        self._log(log.error, fmt, args)

    def exception(self, fmt: str, *args: object) -> None:
        self._log(log.exception, fmt, args)

    def _log(self, emit: Callable[..., None], fmt: str, args: Tuple[object, ...]) -> None:
        now = time.monotonic()
        if now - self._last < LOG_EVERY:
            self._skipped += 1
            return
        if self._skipped:
            fmt += " (%d more like it in the last %.0f s)" % (self._skipped, now - self._last)
        emit(fmt, *args)
        self._last, self._skipped = now, 0


def _send_and_run_deferred(assoc: Association, conn: socket.socket) -> None:
    """Send what the association queued, then run the work it deferred until
    after the send (e.g. -xcr commands, which storescp runs after the response)."""
    out = assoc.data_to_send()
    if out:
        try:
            conn.sendall(out)
        except OSError:
            assoc.connection_lost()
    assoc.run_deferred()
