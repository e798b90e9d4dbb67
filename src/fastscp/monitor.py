"""Watching a server from inside: the ``--metrics-port`` endpoint
(`fastscp.metrics`) and, at ``-v``, a periodic one-line summary.  Both read
the shared counters (`fastscp.stats`), so the same code serves the
one-process `Server` (from threads of its own) and the process models,
whose parents never start a thread because they fork: there the parent's
poll loop writes the summary (`SummarySchedule` gives its timeout) and a
metrics process of its own (forked by the parent like a worker, see
`fastscp.processes`) serves the endpoint.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Callable, List, Optional

from fastscp.config import ServerConfig
from fastscp.log import APP_LOGGER
from fastscp.stats import Stats

if TYPE_CHECKING:
    from fastscp.metrics import Endpoint
    from fastscp.stats import CounterTable

log = logging.getLogger(APP_LOGGER)

#: the metrics process checks this often whether its parent is still there, seconds
PARENT_CHECK = 1.0


class MonitoredListener:
    """What a listening server shows of itself, the same for the one-process
    `Server` and the process models' parents: its port, its metrics port and
    its counters.  The subclass sets ``_sock``, ``_monitor`` and ``counters``."""

    _sock: socket.socket
    _monitor: "Monitor"
    counters: "CounterTable"

    @property
    def port(self) -> int:
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def metrics_port(self) -> Optional[int]:
        """The port of the metrics endpoint (config.metrics_port; None: none)."""
        return self._monitor.port

    def stats(self) -> Stats:
        """What the server has done so far (its counters, also those of
        child processes that ended)."""
        return self.counters.snapshot()


class Summary:
    """The ``-v`` line: objects/s, MB/s (10^6 bytes) and the associations
    active, over the interval since the previous line; nothing while the
    server is idle (no association active, nothing stored since)."""

    def __init__(self, read: Callable[[], Stats], clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._clock = clock
        self._last = read()
        self._at = clock()

    def line(self) -> Optional[str]:
        now, stats = self._clock(), self._read()
        last, seconds = self._last, max(now - self._at, 1e-9)
        self._last, self._at = stats, now
        objects = stats.objects_stored - last.objects_stored
        failures = stats.store_failures_total - last.store_failures_total
        if not stats.associations_active and not objects and not failures:
            return None
        megabytes = (stats.bytes_stored - last.bytes_stored) / 1e6
        text = "%.1f objects/s, %.2f MB/s, %d associations active" % (
            objects / seconds, megabytes / seconds, stats.associations_active)
        if failures:
            text += ", %d failed" % failures
        return text + " (%d objects, %.1f MB stored in all)" % (
            stats.objects_stored, stats.bytes_stored / 1e6)

    def log(self) -> None:
        text = self.line()
        if text is not None:
            log.info("%s", text)


class SummarySchedule:
    """When the next summary is due, for a loop that waits with a timeout
    (`summary` None: never)."""

    def __init__(self, summary: Optional[Summary], interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.summary = summary
        self.interval = interval
        self._clock = clock
        self._due = clock() + interval

    def timeout(self) -> Optional[float]:
        """Seconds until the next summary; None: none will be written."""
        if self.summary is None:
            return None
        return max(0.0, self._due - self._clock())

    def tick(self) -> None:
        """Write the summary if it is due."""
        if self.summary is not None and self._clock() >= self._due:
            self._due = self._clock() + self.interval
            self.summary.log()


class Monitor:
    """The endpoint and the summary of one server.  The metrics port is
    bound in the constructor (OSError if taken), so that a process parent
    reports it at start-up and every metrics process it forks inherits it."""

    def __init__(self, config: ServerConfig, read: Callable[[], Stats]) -> None:
        self.read = read
        self.interval = config.summary_interval
        self._sock: Optional[socket.socket] = None
        if config.metrics_port is not None:
            from fastscp.metrics import listen
            self._sock = listen(config.metrics_address, config.metrics_port)
        self._endpoint: Optional["Endpoint"] = None
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []

    @property
    def port(self) -> Optional[int]:
        if self._sock is None:
            return None
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def fileno(self) -> int:
        return -1 if self._sock is None else self._sock.fileno()

    def summary_schedule(self) -> SummarySchedule:
        """The summary's schedule: written at -v (the application logger at
        INFO when serving starts), otherwise never."""
        wanted = log.isEnabledFor(logging.INFO)
        return SummarySchedule(Summary(self.read) if wanted else None, self.interval)

    def _start_endpoint(self) -> None:
        if self._sock is not None and self._endpoint is None:
            from fastscp.metrics import Endpoint
            self._endpoint = Endpoint(self._sock, self.read)
            self._endpoint.start()

    # -- in the process that serves (Server) ---------------------------------------
    def start_threads(self) -> None:
        """Serve the endpoint and write the summary from threads of this process."""
        self._start_endpoint()
        schedule = self.summary_schedule()
        if schedule.summary is not None:
            thread = threading.Thread(target=self._summarise_until_stopped, args=(schedule,),
                                      name="fastscp-summary", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _summarise_until_stopped(self, schedule: SummarySchedule) -> None:
        while not self._stop.wait(schedule.timeout()):
            schedule.tick()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._endpoint is not None:
            self._endpoint.stop()          # closes the socket too
            self._endpoint = None
        elif self._sock is not None:
            self._sock.close()
        self._sock = None

    # -- in the metrics process of a process parent ------------------------------
    def run_as_process(self, parent: int) -> None:
        """The main of the metrics process: serve the endpoint (a thread is
        fine here: this process never forks) and end with the parent
        (SIGTERM at its stop, or when it is gone)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent's stop ends us
        for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        self._start_endpoint()
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
