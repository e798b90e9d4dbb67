"""``--metrics-port``: the counters of `fastscp.stats` in Prometheus' text
format, over HTTP, with ``prometheus_client`` (the optional extra
``fastscp[metrics]``; imported only when a metrics port is asked for).

Each scrape reads a fresh `Stats` snapshot through a collector, so the
endpoint holds no state of its own and may run in any process that can
read the shared counters (a thread of `Server`, the metrics process of the
process models).
"""
from __future__ import annotations

import importlib.util
import math
import socket
import socketserver
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from fastscp.stats import COMMAND_COLUMNS, STUDY_END_COLUMNS, Stats

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: why --metrics-port cannot work here (checked by configcheck and the CLI)
UNAVAILABLE = ("--metrics-port needs the Python package prometheus_client "
               "(pip install 'fastscp[metrics]')")

#: every metric the endpoint serves, as exposed (the dashboard's test checks its queries against a scrape)
ASSOCIATIONS = "fastscp_associations_%s"
OBJECTS_STORED = "fastscp_objects_stored"
BYTES_STORED = "fastscp_stored_bytes"
FAILURES = "fastscp_store_failures"
LATENCY = "fastscp_store_duration_seconds"
STUDIES_ENDED = "fastscp_studies_ended"
COMMANDS = "fastscp_commands_%s"


def available() -> bool:
    return importlib.util.find_spec("prometheus_client") is not None


def families(stats: Stats) -> Iterator["Metric"]:
    """The metric families of one snapshot."""
    from prometheus_client.core import (
        CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
    )

    for outcome, value, text in (
            ("accepted", stats.associations_accepted, "associations acknowledged (A-ASSOCIATE-AC)"),
            ("rejected", stats.associations_rejected, "association requests rejected (A-ASSOCIATE-RJ)"),
            ("released", stats.associations_released, "accepted associations ended by A-RELEASE"),
            ("aborted", stats.associations_aborted,
             "accepted associations ended otherwise (A-ABORT, connection closed, timeout, shutdown)")):
        yield CounterMetricFamily(ASSOCIATIONS % outcome, text, value=value)
    yield GaugeMetricFamily(ASSOCIATIONS % "active", "accepted associations in progress",
                            value=stats.associations_active)
    yield CounterMetricFamily(OBJECTS_STORED, "C-STOREs answered with a success or warning status",
                              value=stats.objects_stored)
    yield CounterMetricFamily(BYTES_STORED, "size of the files stored, bytes",
                              value=stats.bytes_stored)
    failures = CounterMetricFamily(FAILURES, "C-STOREs answered with a failure status, by status",
                                   labels=["status"])
    for status, count in stats.store_failures.items():
        failures.add_metric(["0x%04X" % status], count)
    if stats.store_failures_unlisted:
        failures.add_metric(["other"], stats.store_failures_unlisted)
    yield failures
    latency = stats.store_latency
    yield HistogramMetricFamily(
        LATENCY, "time from a C-STORE-RQ command to its response, seconds (every C-STORE answered)",
        buckets=[("+Inf" if math.isinf(b) else repr(b), n) for b, n in zip(latency.bounds, latency.counts)],
        sum_value=latency.sum)
    studies = CounterMetricFamily(STUDIES_ENDED, "end-of-study events, by reason", labels=["reason"])
    for reason in STUDY_END_COLUMNS:
        studies.add_metric([reason], stats.studies_ended.get(reason, 0))
    yield studies
    for what, counts, text in (("started", stats.commands_started, "-xcr/-xcs commands started"),
                               ("failed", stats.commands_failed,
                                "-xcr/-xcs commands that could not start or ended with a non-zero status")):
        family = CounterMetricFamily(COMMANDS % what, text, labels=["hook"])
        for hook in COMMAND_COLUMNS:
            family.add_metric([hook], counts.get(hook, 0))
        yield family


class _Collector:
    """prometheus_client's collector interface over a snapshot function."""

    def __init__(self, read: Callable[[], Stats]) -> None:
        self._read = read

    def collect(self) -> Iterator["Metric"]:
        return families(self._read())


def listen(address: str, port: int) -> socket.socket:
    """The metrics endpoint's listening socket (OSError naming the port)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        return socket.create_server((address, port), family=family)
    except OSError as exc:
        raise OSError(exc.errno, "cannot listen on metrics port %d: %s"
                      % (port, exc.strerror or exc)) from None


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass            # a scrape every few seconds is no news


class _HTTPServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server on a socket bound beforehand (in the parent, before
    forking, so a port in use is reported at start-up)."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, app: Any) -> None:
        super().__init__(sock.getsockname()[:2], _QuietHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])
        self.setup_environ()
        self.set_app(app)


class Endpoint:
    """The HTTP endpoint: ``GET /metrics`` (any path) answers the scrape."""

    def __init__(self, sock: socket.socket, read: Callable[[], Stats]) -> None:
        from prometheus_client import CollectorRegistry, make_wsgi_app
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(read))
        self._httpd = _HTTPServer(sock, make_wsgi_app(registry))
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Serve from a thread of this process (never a forking parent's)."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="fastscp-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
