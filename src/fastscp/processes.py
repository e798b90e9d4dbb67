"""Process models: how `fastscp.serve` runs associations (ServerConfig.process_model).

* ``"single"`` (``--single-process``): `fastscp.server.Server`, one process,
  a thread per association.  Always used when the options keep state across
  associations (sorting into study directories, ``-tn`` serial numbers, end
  of study): that state lives in one process.
* ``"auto"`` (the default): a pool of worker processes sharing the listening
  socket, each serving one association at a time in its main thread.  No
  thread convoy around the GIL, every core busy, and a peer that stalls holds
  up only its own worker: the pool grows by one whenever no worker is idle
  (up to ``max_associations``) and shrinks back when they idle again.
* ``"fork"`` (``--fork``, as storescp): the parent accepts and forks a child
  per connection; the child serves that association and exits.

Forking a process that has threads is unsafe (a lock another thread holds
at the fork stays locked forever in the child), so the parents here never
start a thread: no association, resolver, timer or reaper thread and no
`StoreService` (which may start timer and reaper threads) -- each child
builds its own after the fork.  Signals only set flags and write to a
wake-up pipe; the parent's loop does the work.  The counters
(`fastscp.stats`) are shared memory made before the first fork, a row per
child; the metrics endpoint runs in a metrics process of its own
(`fastscp.monitor`), and the parent's poll loop writes the -v summary.
"""
from __future__ import annotations

import gc
import logging
import os
import select
import signal
import socket
import struct
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, Union

from fastscp._counters import Counters
from fastscp.association import Association
from fastscp.balancer import Balancers, read_header
from fastscp.config import PROCESS_FORK, PROCESS_SINGLE, ServerConfig
from fastscp.hostnames import Lookup, lookup_now
from fastscp.log import APP_LOGGER, flush_output
from fastscp.negotiation import Negotiator
from fastscp.server import (
    BACKOFF_MIN, RESOURCE_ERRNOS, RateLimitedLog, Server, listen_with_tls, serve_association,
)
from fastscp.monitor import MonitoredListener, Monitor, SummarySchedule
from fastscp.service import StoreService
from fastscp.stats import CounterTable, RowAllocator

if TYPE_CHECKING:
    from fastscp.access import HostsAccess
    from fastscp.tls import ServerTLS

log = logging.getLogger(APP_LOGGER)

#: a worker's report to the pool: its pid and state, one atomic pipe write
_REPORT = struct.Struct("=iB")
_IDLE, _BUSY = 0, 1
#: seconds the parent waits at shutdown for children to end their associations
STOP_WAIT = 10.0
#: idle workers the pool keeps ready: a connection finds one without waiting
#: for a fork, and the pool forks the next as it is taken.  More buy nothing
#: measurable (8 senders at once: the same wall and CPU with 1 or 2) and
#: each idle worker shows ~15 MB resident (the parent's pages, shared)
MIN_IDLE = 1
#: the pool keeps at most this many idle workers per core (it forks more on demand)
IDLE_PER_CORE = 2
#: a metrics process that ends is started again if it ran this long, seconds
MONITOR_RESTART_AFTER = 1.0


def shares_state(config: ServerConfig) -> bool:
    """Whether the options keep state across associations (so one process must serve them)."""
    return (config.sort_mode is not None or config.timenames
            or config.exec_on_eostudy is not None or config.rename_on_eostudy
            or config.eostudy_timeout is not None)


def serve(config: ServerConfig) -> None:
    """Listen and serve as `config.process_model` says, until SIGINT/SIGTERM
    (the command line's server; an application with Python callbacks embeds
    `fastscp.server.Server`).  OSError if the port cannot be listened on."""
    config.validate()
    if config.process_model == PROCESS_FORK:
        ForkServer(config).serve_forever()
    elif config.process_model == PROCESS_SINGLE or shares_state(config):
        Server(config).serve_forever()
    else:
        WorkerPool(config).serve_forever()


class AssociationProcess:
    """The association side of a process that serves connections one at a
    time (a worker, a --fork child, an --inetd run): its own service (made
    after the fork), host names looked up in place, the +ac check, and
    SIGTERM/SIGINT cutting off the association in progress."""

    def __init__(self, config: ServerConfig, negotiator: Negotiator,
                 tls: Optional["ServerTLS"] = None, counters: Optional[Counters] = None) -> None:
        self.config = config
        self.negotiator = negotiator
        self.tls = tls
        self.service = StoreService(config, counters=counters)
        self.access: Optional["HostsAccess"] = None
        if config.access_control:
            from fastscp.access import HostsAccess     # ctypes: only when +ac is asked for
            self.access = HostsAccess()
        #: --proxy-protocol: peers whose connections begin with a PROXY header
        self.balancers = Balancers.of(config.proxy_protocol)
        self.stopping = False
        self.conn: Optional[socket.socket] = None
        # --sleep-* pauses and the idle wait end early at shutdown
        self.wake_fd, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def install_signals(self, on_retire: bool) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self._on_retire if on_retire else signal.SIG_DFL)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _on_stop(self, *_: object) -> None:
        # as Server.shutdown: an association in progress is cut off (its
        # partial object discarded)
        self.stopping = True
        self._wake()
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _on_retire(self, *_: object) -> None:
        # the pool has idle workers to spare: end after the association, if any
        self.stopping = True
        self._wake()

    def sleep(self, seconds: float) -> None:
        if not self.stopping:
            _poll_in([self.wake_fd], seconds)

    def serve(self, conn: socket.socket, addr: Tuple[str, int]) -> None:
        self.conn = conn
        deadline = time.monotonic() + self.config.acse_timeout
        try:
            if self.balancers is not None and self.balancers.relays(addr[0]):
                # first: +ac, TLS and the association are for the sender it names;
                # header and A-ASSOCIATE-RQ share the -ta deadline (as in Server)
                sender = read_header(conn, addr, deadline, self.config.acse_timeout)
                if sender is None:
                    return
                addr = sender
            host_name: Union[str, Callable[[], str]] = addr[0]
            lookup: Optional[Lookup] = None
            if self.config.host_lookup:
                # looked up when the association needs it, in this process only
                host_name = lambda: lookup_now(addr[0]).name  # noqa: E731
            if self.access is not None:
                if self.config.host_lookup:
                    lookup = lookup_now(addr[0])
                    host_name = lookup.name
                if not self.access.admits(addr[0], lookup):
                    return
                # the wait for the A-ASSOCIATE-RQ starts after the +ac check, as in storescp
                deadline = time.monotonic() + self.config.acse_timeout
            conn.setblocking(True)
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass            # not TCP (an inetd test's socket pair)
            if not self.stopping:
                serve_association(conn, addr, self.config, self.service, self.negotiator,
                                  host_name=host_name, request_deadline=deadline,
                                  sleep=self.sleep, tls=self.tls)
        except OSError as exc:
            log.debug("connection from %s: %s", addr[0], exc)
        finally:
            self.conn = None
            conn.close()

    def exit(self) -> None:
        """Finish (pending end-of-study work of this process) and leave."""
        code = 0
        try:
            self.service.close()
        except Exception:
            log.exception("internal error at the end of a child process")
            code = 1
        finally:
            _exit(code)


def _exit(code: int) -> None:
    """Leave a child process without running the parent's clean-up (atexit,
    its sockets' shutdown), after flushing what it logged or printed."""
    flush_output()
    os._exit(code)


class _Parent(MonitoredListener):
    """What both parents share: the listening socket, signals turned into
    flags and a wake-up pipe, children reaped, and a bounded stop."""

    def __init__(self, config: ServerConfig) -> None:
        config.validate()
        self.config = config
        # built once here, inherited by every child
        self.negotiator = Negotiator.from_config(config)
        # so is the writer with its data dictionary (otherwise imported at the
        # first C-STORE, which keeps it out of --inetd's start-up)
        import fastscp._writer  # noqa: F401
        # the TLS context is made here, once, and inherited by every child;
        # its files are read in a child of their own (no thread runs yet)
        self._sock, self.tls = listen_with_tls(config, tls_apart=True)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        self._failures = RateLimitedLog()
        self.children: Dict[int, int] = {}          # pid -> state (_IDLE/_BUSY)
        #: the counters: row 0 the parent's, one row per child (max_associations at once)
        self.counters = CounterTable(config.max_associations + 1)
        self._rows = RowAllocator(self.counters)
        try:
            self._monitor = Monitor(config, self.counters.snapshot)
        except BaseException:
            self._sock.close()
            raise
        self._monitor_pid: Optional[int] = None
        self._monitor_started = 0.0
        self._summary = SummarySchedule(None, config.summary_interval)

    def shutdown(self) -> None:
        """Stop serving (safe from a signal handler)."""
        self._stopping = True
        try:
            os.write(self._wake_w, b"s")
        except OSError:
            pass

    def serve_forever(self) -> None:
        previous = {sig: signal.signal(sig, lambda *_: self.shutdown())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: None)
        old_wakeup = signal.set_wakeup_fd(self._wake_w)
        try:
            self._summary = self._monitor.summary_schedule()
            self._start_monitor()
            self._run()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            self._stop_monitor()
            self._stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.close()

    def _run(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._sock.close()
        self._monitor.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _fork(self, child_main: Callable[[Counters], None]) -> Optional[int]:
        """Fork a child that runs `child_main` with its row of the counters
        and exits; its pid, or None if the system refused (logged)."""
        row = self._rows.take()
        if row is None:             # more children than max_associations: never
            log.error("cannot create a child process: no counter row free")
            return None
        pid = self._spawn(lambda: child_main(self.counters.row(row)))
        if pid is None:
            self._rows.give_back(row)
            return None
        self.children[pid] = _IDLE
        self._rows.assign(pid, row)
        return pid

    def _spawn(self, child_main: Callable[[], None]) -> Optional[int]:
        """Fork a process that runs `child_main` and exits; its pid, or None
        if the system refused (logged)."""
        # objects the parent made are never collected in a child: kept out
        # of the collector's reach, they are not copied into each child by
        # its collections' writes (copy-on-write)
        gc.freeze()
        flush_output()
        try:
            pid = os.fork()
        except OSError as exc:
            log.error("cannot create a child process: %s", exc.strerror or exc)
            return None
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                os.close(self._wake_r)
                os.close(self._wake_w)
                child_main()
            except BaseException:
                log.exception("internal error in a child process")
                _exit(1)
            _exit(0)
        return pid

    def _reap(self) -> List[int]:
        ended = []
        while self.children or self._monitor_pid is not None:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                self._monitor_pid = None
                break
            if pid == 0:
                break
            if self.children.pop(pid, None) is not None:
                ended.append(pid)
                self._rows.reaped(pid)
            elif pid == self._monitor_pid:
                self._monitor_ended()
        return ended

    # -- the metrics process (fastscp.monitor): the endpoint ---------------------------
    def _parent_only_fds(self) -> List[int]:
        """Descriptors the metrics process must not keep open."""
        return [self._sock.fileno()]

    def _start_monitor(self) -> None:
        if self._monitor.port is None:
            return
        parent = os.getpid()

        def main() -> None:
            for fd in self._parent_only_fds():
                os.close(fd)
            self._monitor.run_as_process(parent)
        self._monitor_started = time.monotonic()
        self._monitor_pid = self._spawn(main)

    def _monitor_ended(self) -> None:
        self._monitor_pid = None
        if self._stopping:
            return
        if time.monotonic() - self._monitor_started < MONITOR_RESTART_AFTER:
            log.error("the metrics process ended at once; no metrics endpoint")
            return
        log.warning("the metrics process ended; starting another")
        self._start_monitor()

    def _stop_monitor(self) -> None:
        pid, self._monitor_pid = self._monitor_pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)        # its default action: it ends at once
            deadline = time.monotonic() + STOP_WAIT
            while os.waitpid(pid, os.WNOHANG)[0] == 0:
                if time.monotonic() >= deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.01)
        except (ProcessLookupError, ChildProcessError):
            pass

    def _stop_children(self) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_WAIT
        while self.children and time.monotonic() < deadline:
            self._reap()
            if self.children:
                time.sleep(0.01)        # bounded: children end their associations now
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.children.clear()

    def _wait(self, watch_listener: bool, extra: Tuple[int, ...] = ()) -> List[int]:
        """Block until the listening socket (if watched), the wake-up pipe or
        one of `extra` is readable, or the -v summary is due (then written);
        returns the readable descriptors."""
        fds = [self._wake_r, *extra] + ([self._sock.fileno()] if watch_listener else [])
        ready = _poll_in(fds, self._summary.timeout())
        self._summary.tick()
        return ready


def _poll_in(fds: List[int], timeout: Optional[float]) -> List[int]:
    """The descriptors of `fds` readable (or at end of file) within `timeout` seconds."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    ms = None if timeout is None else max(0, int(min(timeout, 86400.0) * 1000))
    return [fd for fd, _ in poller.poll(ms)]


class ForkServer(_Parent):
    """--fork: a child process per association, forked right after accept()."""

    def _run(self) -> None:
        listener = self._sock.fileno()
        while not self._stopping:
            full = len(self.children) >= self.config.max_associations
            ready = self._wait(watch_listener=not full)
            self._drain_wake()
            self._reap()
            if self._stopping or listener not in ready:
                continue
            accepted = _accept(self._sock, self._failures)
            if accepted is None:
                continue
            conn, addr = accepted
            try:
                self._fork(lambda counters: self._child(conn, addr, counters))
            finally:
                conn.close()            # the child has its own copy

    def _child(self, conn: socket.socket, addr: Tuple[str, int], counters: Counters) -> None:
        self._sock.close()
        self._monitor.close()
        # as storescp: the child announces itself at once, before any request
        log.info("Association Received in child process (pid: %d)", os.getpid())
        Association.received_message = None
        child = AssociationProcess(self.config, self.negotiator, self.tls, counters)
        child.install_signals(on_retire=False)
        child.serve(conn, addr)
        child.exit()


class WorkerPool(_Parent):
    """The default: worker processes that accept on the shared listening
    socket and serve one association at a time each."""

    def __init__(self, config: ServerConfig, *, min_idle: Optional[int] = None) -> None:
        super().__init__(config)
        cores = os.cpu_count() or 1
        #: idle workers kept ready (a connection finds one without waiting for a fork)
        self.min_idle = max(1, min_idle if min_idle is not None else MIN_IDLE)
        self.max_idle = max(self.min_idle, IDLE_PER_CORE * cores)
        self._report_r, self._report_w = os.pipe()
        os.set_blocking(self._report_r, False)
        #: its write end is held by the parent only: end of file = the parent is gone
        self._life_r, self._life_w = os.pipe()
        self._pending = b""

    def _parent_only_fds(self) -> List[int]:
        return super()._parent_only_fds() + [self._report_r, self._report_w, self._life_w]

    def close(self) -> None:
        super().close()
        for fd in (self._report_r, self._report_w, self._life_r, self._life_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _run(self) -> None:
        while not self._stopping:
            self._adjust()
            ready = self._wait(watch_listener=False, extra=(self._report_r,))
            self._drain_wake()
            if self._report_r in ready:
                self._read_reports()
            self._reap()

    def _idle(self) -> List[int]:
        return [pid for pid, state in self.children.items() if state == _IDLE]

    def _adjust(self) -> None:
        """Keep min_idle..max_idle workers idle, within max_associations."""
        idle = self._idle()
        while (len(idle) < self.min_idle and len(self.children) < self.config.max_associations
               and not self._stopping):
            pid = self._fork(self._worker)
            if pid is None:
                break
            idle.append(pid)
        for pid in idle[self.max_idle:]:
            self.children[pid] = _BUSY      # retiring; its exit is reaped
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass

    def _read_reports(self) -> None:
        try:
            while True:
                data = os.read(self._report_r, _REPORT.size * 512)
                if not data:
                    break
                self._pending += data
        except BlockingIOError:
            pass
        whole = len(self._pending) - len(self._pending) % _REPORT.size
        for pid, state in _REPORT.iter_unpack(self._pending[:whole]):
            if pid in self.children:
                self.children[pid] = state
        self._pending = self._pending[whole:]

    def _worker(self, counters: Counters) -> None:
        os.close(self._report_r)
        os.close(self._life_w)
        self._monitor.close()
        child = AssociationProcess(self.config, self.negotiator, self.tls, counters)
        child.install_signals(on_retire=True)
        me = os.getpid()
        failures = RateLimitedLog()
        wait = _listener_waiter(self._sock.fileno(), (self._life_r, child.wake_fd))
        try:
            while not child.stopping:
                if self._life_r in wait():
                    break                       # the parent is gone
                if child.stopping:
                    break
                accepted = _accept(self._sock, failures)
                if accepted is None:
                    continue                    # another worker took it, or none can be had now
                conn, addr = accepted
                _report(self._report_w, me, _BUSY)
                child.serve(conn, addr)
                if not _report(self._report_w, me, _IDLE):
                    break                       # the parent is gone
        finally:
            self._sock.close()
        child.exit()


def _accept(sock: socket.socket, failures: RateLimitedLog) -> Optional[Tuple[socket.socket, Tuple[str, int]]]:
    """A connection from the non-blocking listening socket, or None: none
    waiting (another process took it), or an error -- for want of
    descriptors or memory logged at most every few seconds and followed by
    a pause, as the one-process server does, so that it never spins."""
    try:
        conn, addr = sock.accept()
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            failures.error("cannot accept connection: %s", exc.strerror or exc)
            time.sleep(BACKOFF_MIN)
        return None
    return conn, addr


def _report(fd: int, pid: int, state: int) -> bool:
    try:
        os.write(fd, _REPORT.pack(pid, state))
        return True
    except OSError:
        return False


def _listener_waiter(listener: int, others: Tuple[int, ...]) -> Callable[[], List[int]]:
    """A blocking wait for the shared listening socket or `others`; on Linux
    (epoll with EPOLLEXCLUSIVE) a connection wakes one idle worker, not all."""
    exclusive = getattr(select, "EPOLLEXCLUSIVE", None)
    if exclusive is None:
        fds = [listener, *others]
        return lambda: _poll_in(fds, None)
    poller = select.epoll()
    poller.register(listener, select.EPOLLIN | exclusive)
    for fd in others:
        poller.register(fd, select.EPOLLIN)
    return lambda: [fd for fd, _ in poller.poll()]
