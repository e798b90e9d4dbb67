"""The embeddable server: accepts TCP connections and drives one sans-IO
`Association` per connection, each in its own thread, so a stalled peer
never holds up the others.  The compiled writer releases the GIL while it
writes, so associations also overlap their disk I/O.
"""
from __future__ import annotations

import logging
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from typing import Callable, Optional, Set, Union

from fastscp.association import Association
from fastscp.hostnames import Lookup, Resolver
from fastscp.config import ServerConfig
from fastscp.negotiation import Negotiator
from fastscp.output import check_output_options
from fastscp.events import CompletedStudy, StoreDecision, StoreRequest
from fastscp.service import AssociationInfo, StoredHook, StoreService
from fastscp.study import Hooks

log = logging.getLogger("fastscp")

#: listen backlog, as storescp
BACKLOG = 50
#: the longest socket timeout set (about 68 years; -ts/-ta/-td take any C long)
MAX_TIMEOUT = float(2 ** 31 - 1)


class Server:
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
                 on_store_request: Optional[Callable[[StoreRequest], StoreDecision]] = None,
                 on_study_complete: Optional[Callable[[CompletedStudy], None]] = None,
                 on_association_accepted: Optional[Callable[[AssociationInfo], None]] = None,
                 on_association_released: Optional[Callable[[AssociationInfo], None]] = None,
                 on_association_aborted: Optional[Callable[[AssociationInfo], None]] = None):
        check_output_options(config)
        self.config = config
        self.service = StoreService(config, hooks=Hooks(
            on_stored=on_stored, on_store_request=on_store_request,
            on_study_complete=on_study_complete,
            on_association_accepted=on_association_accepted,
            on_association_released=on_association_released,
            on_association_aborted=on_association_aborted))
        self.negotiator = Negotiator.from_config(config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((config.host, config.port))
            self._sock.listen(BACKLOG)
        except OSError:
            self._sock.close()
            raise
        # wakes the accept loop from shutdown() (a signal handler or another thread)
        self._stop_r, self._stop_w = socket.socketpair()
        self._stopping = threading.Event()
        self._threads: Set[threading.Thread] = set()
        self._conns: Set[socket.socket] = set()
        self._lock = threading.Lock()
        self._resolver: Optional[Resolver] = Resolver() if config.host_lookup else None

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

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
        sel.register(self._sock, selectors.EVENT_READ)
        sel.register(self._stop_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._sock and not self._stopping.is_set():
                        self._accept()
        finally:
            sel.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_all()
            # pending end-of-study work (-rns, -xcs, on_study_complete) runs now
            self.service.close()

    def shutdown(self) -> None:
        """Stop accepting; abort associations in progress (their partial
        objects are discarded). Safe from signal handlers and other threads."""
        if not self._stopping.is_set():
            self._stopping.set()
            try:
                self._stop_w.send(b"x")
            except OSError:
                pass

    def _accept(self) -> None:
        try:
            conn, addr = self._sock.accept()
        except OSError as exc:          # e.g. EMFILE, ECONNABORTED: keep serving
            log.error("cannot accept connection: %s", exc)
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lookup = self._resolver.submit(addr[0]) if self._resolver is not None else None
        thread = threading.Thread(target=self._serve_connection, args=(conn, addr, lookup),
                                  name="fastscp-assoc-%s:%d" % addr[:2], daemon=True)
        with self._lock:
            self._threads.add(thread)
            self._conns.add(conn)
        thread.start()

    def _serve_connection(self, conn: socket.socket, addr, lookup: Optional[Lookup] = None) -> None:
        host_name: Union[str, Callable[[], str]] = addr[0] if lookup is None else lookup.result
        assoc = Association(self.config, self.service, addr[0], addr[1], self.negotiator,
                            peer_host_name=host_name)
        try:
            drive(assoc, conn, self._stopping.wait)
        except Exception:
            log.exception("internal error in association with %s:%d", addr[0], addr[1])
            assoc.abort()
            try:
                conn.sendall(assoc.data_to_send())
            except OSError:
                pass
        finally:
            if lookup is not None:
                lookup.wanted = False
            conn.close()
            with self._lock:
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())

    def _close_all(self) -> None:
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout=10)
        self._stop_r.close()
        self._stop_w.close()
        if self._resolver is not None:
            self._resolver.close()

    def close(self) -> None:
        """Release the sockets of a server that was never served."""
        self.service.close()
        self._sock.close()
        self._stop_r.close()
        self._stop_w.close()
        if self._resolver is not None:
            self._resolver.close()


if sys.platform.startswith("linux"):
    def _set_timeout(conn: socket.socket, timeout: Optional[float]) -> None:
        """Kernel-side timeouts (SO_RCVTIMEO/SO_SNDTIMEO) on a blocking socket:
        unlike socket.settimeout they cost no poll() before every recv."""
        seconds = 0.0 if timeout is None else min(max(timeout, 0.001), MAX_TIMEOUT)
        tv = struct.pack("@ll", int(seconds), int((seconds % 1) * 1e6))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    _TIMEOUT_ERRORS: tuple = (socket.timeout, BlockingIOError)
else:
    def _set_timeout(conn: socket.socket, timeout: Optional[float]) -> None:
        conn.settimeout(None if timeout is None else min(timeout, MAX_TIMEOUT))
    _TIMEOUT_ERRORS = (socket.timeout,)


def drive(assoc: Association, conn: socket.socket,
          sleep: Callable[[float], object] = time.sleep) -> None:
    """Run one association over a connected socket until it ends.

    `sleep` serves the association's pauses (storescp's --sleep-* test
    options); it blocks this association's thread only.  The server passes
    a wait that ends early at shutdown."""
    recv_into = conn.recv_into
    current = object()
    while not assoc.closed:
        if assoc.pause is not None:
            sleep(min(assoc.pause, threading.TIMEOUT_MAX))
            assoc.resume()
            _send_and_run_deferred(assoc, conn)
            continue
        timeout = assoc.timeout
        if timeout != current:
            _set_timeout(conn, timeout)
            current = timeout
        try:
            n = recv_into(assoc.get_buffer())
        except _TIMEOUT_ERRORS:
            assoc.timeout_expired()
            n = -1
        except OSError:
            n = 0
        if n == 0:
            assoc.connection_lost()
        elif n > 0:
            assoc.buffer_updated(n)
        _send_and_run_deferred(assoc, conn)


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
