"""Counters, --metrics-port and the -v summary (fastscp.stats, fastscp.metrics,
fastscp.monitor): the real server in each process model, known traffic from
DCMTK's storescu/echoscu and raw peers, the endpoint scraped over HTTP and
parsed with prometheus_client's parser."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, FrozenSet, List, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydicom.data import get_testdata_file

import fastscp
from fastscp import ServerConfig
from fastscp.errors import ConfigError
from fastscp.log import APP_LOGGER
from fastscp.monitor import Summary
from fastscp.stats import CounterTable, LatencyHistogram, Stats

from conftest import DCMTK_ENV, ECHOSCU, free_port, run_storescu, terminate, wait_for, is_listening
from dicomfile import split_file
from dicomnet import ILE, VERIFICATION, RawPeer, abort_pdu
from rawstore import send_cases

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
FILES = [get_testdata_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")]
#: the -v summary line (fastscp.monitor.Summary)
SUMMARY = re.compile(r"I: [\d.]+ objects/s, [\d.]+ MB/s, \d+ associations active"
                     r".*\((\d+) objects, [\d.]+ MB stored in all\)")

Samples = Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def stored_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()
               and not p.name.startswith(".fastscp-"))


def send_known_traffic(port: int) -> None:
    """3 objects (storescu), a C-ECHO (echoscu), a rejected association (no
    called AE title), a C-STORE failing with 0xA900 (data set and command
    disagree) and an association aborted by its peer."""
    assert run_storescu(port, FILES).returncode == 0
    echo = subprocess.run([ECHOSCU, "127.0.0.1", str(port)], env=DCMTK_ENV, capture_output=True,
                          timeout=60)
    assert echo.returncode == 0
    peer = RawPeer(port)
    assert peer.associate([(1, VERIFICATION, [ILE])], called=b"")[0] == 0x03     # A-ASSOCIATE-RJ
    peer.close()
    meta, dataset = split_file(FILES[0])
    ts = meta[0x0010][1].rstrip(b"\0").decode()
    sop_class = meta[0x0002][1].rstrip(b"\0").decode()
    assert send_cases(port, [(ts, sop_class, "1.2.3.4.5.6.7.8.9", dataset)]) == [0xA900]
    peer = RawPeer(port)
    assert peer.associate([(1, VERIFICATION, [ILE])])[0] == 0x02                 # accepted
    peer.send(abort_pdu())
    assert peer.closed_by_peer()
    peer.close()


def expected_counts(out: Path) -> Dict[str, float]:
    return {
        "fastscp_associations_accepted_total": 4,
        "fastscp_associations_rejected_total": 1,
        "fastscp_associations_released_total": 3,
        "fastscp_associations_aborted_total": 1,
        "fastscp_associations_active": 0,
        "fastscp_objects_stored_total": 3,
        "fastscp_stored_bytes_total": stored_bytes(out),
        "fastscp_store_duration_seconds_count": 4,      # every C-STORE answered
    }


def start_cli(tmp_path: Path, *options: str, log_name: str = "server.log") -> Tuple[subprocess.Popen, int, Path]:
    """fastscp as the command line runs it; stderr to a file (read while it runs)."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    port = free_port()
    log = tmp_path / log_name
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "fastscp", *options, "-od", str(out), str(port)],
                                stdout=subprocess.DEVNULL, stderr=stderr)
    if not wait_for(lambda: is_listening(port) or proc.poll() is not None, timeout=20) or proc.poll() is not None:
        terminate(proc)
        pytest.fail("fastscp did not start: %s" % log.read_text())
    return proc, port, log


@pytest.fixture
def cli(tmp_path):
    procs: List[subprocess.Popen] = []

    def start(*options: str) -> Tuple[subprocess.Popen, int, Path]:
        proc, port, log = start_cli(tmp_path, *options)
        procs.append(proc)
        return proc, port, log
    yield start
    for proc in procs:
        terminate(proc)


@pytest.mark.parametrize("mode", [[], ["--fork"], ["--single-process", "-ss", "ST", "-xcs", "false"]],
                         ids=["workers", "fork", "single-process"])
def test_scrape_after_known_traffic(tmp_path, cli, mode):
    metrics_port = free_port()
    # -xs: a --fork child exits after its association, and a command still
    # running then is never seen to fail (its exit status goes to init)
    proc, port, _ = cli("--metrics-port", str(metrics_port), "-xcr", "false", "-xs", *mode)
    out = tmp_path / "out"
    send_known_traffic(port)
    expected = expected_counts(out)
    commands = 4                    # -xcr after each C-STORE answered, all failing ("false")
    studies = 2 if "-ss" in mode else 0         # three studies: two ended by the next one

    def settled() -> bool:
        s = scrape(metrics_port)
        return (all(value(s, name) == n for name, n in expected.items())
                and value(s, "fastscp_commands_failed_total", hook="xcr") == commands
                and value(s, "fastscp_commands_failed_total", hook="xcs") == studies)
    assert wait_for(settled, timeout=20), scrape(metrics_port)
    s = scrape(metrics_port)
    assert value(s, "fastscp_store_failures_total", status="0xA900") == 1
    assert sum(v for (name, _), v in s.items() if name == "fastscp_store_failures_total") == 1
    assert value(s, "fastscp_commands_started_total", hook="xcr") == commands
    assert value(s, "fastscp_studies_ended_total", reason="next-study") == studies
    assert value(s, "fastscp_commands_started_total", hook="xcs") == studies
    assert value(s, "fastscp_store_duration_seconds_bucket", le="+Inf") == 4
    assert 0 < value(s, "fastscp_store_duration_seconds_sum") < 60
    if "--single-process" not in mode:
        # a forking parent never starts a thread: the endpoint is its metrics process's
        assert os.listdir("/proc/%d/task" % proc.pid) == [str(proc.pid)]
    terminate(proc)
    assert proc.returncode == 0


def test_fork_children_that_ended_still_count(tmp_path, cli):
    metrics_port = free_port()
    proc, port, _ = cli("--fork", "--metrics-port", str(metrics_port))
    for n in range(1, 4):
        assert run_storescu(port, FILES[:1]).returncode == 0
        # each child has exited (reaped, its row settled and handed on) before the next one
        assert wait_for(lambda: value(scrape(metrics_port), "fastscp_objects_stored_total") == n)
    assert value(scrape(metrics_port), "fastscp_associations_released_total") == 3


def _threads(pid: int) -> int:
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except FileNotFoundError:
        return 0


def test_a_metrics_process_that_dies_is_started_again(tmp_path, cli):
    from conftest import child_pids
    from fastscp.processes import MONITOR_RESTART_AFTER
    metrics_port = free_port()
    proc, port, log = cli("--metrics-port", str(metrics_port))
    assert run_storescu(port, FILES[:1]).returncode == 0
    assert value(scrape(metrics_port), "fastscp_objects_stored_total") == 1

    def metrics_process() -> int:
        # the workers have one thread; the metrics process serves HTTP from a second one
        found = [pid for pid in child_pids(proc.pid) if _threads(pid) > 1]
        return found[0] if len(found) == 1 else 0
    first = metrics_process()
    assert first
    # the server's rule, not a hope: a metrics process that dies within this
    # time of its start is not started again
    time.sleep(MONITOR_RESTART_AFTER)
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: metrics_process() not in (0, first), timeout=10)
    # the counts are the shared memory's, not the metrics process's
    assert wait_for(lambda: value(scrape(metrics_port), "fastscp_objects_stored_total") == 1)
    assert "the metrics process ended; starting another" in log.read_text()


def test_summary_line_at_verbose_in_the_worker_pool(tmp_path, cli):
    proc, port, log = cli("-v", "--summary-interval", "1")
    assert run_storescu(port, FILES).returncode == 0
    # written by the metrics process of the pool's parent, from all workers' rows
    assert wait_for(lambda: any(m.group(1) == "3" for m in SUMMARY.finditer(log.read_text())), timeout=15), \
        log.read_text()


def test_no_summary_without_verbose(tmp_path, cli):
    proc, port, log = cli("--summary-interval", "1")
    assert run_storescu(port, FILES).returncode == 0
    terminate(proc)
    assert "objects/s" not in log.read_text()


# -- the library ---------------------------------------------------------------------

def test_server_stats_after_traffic(make_server):
    srv = make_server(metrics_port=0, exec_on_reception="exit 2")
    send_known_traffic(srv.port)
    assert wait_for(lambda: srv.server.stats().commands_failed.get("xcr") == 4)
    stats = srv.server.stats()
    assert isinstance(stats, fastscp.Stats)
    assert (stats.associations_accepted, stats.associations_rejected, stats.associations_released,
            stats.associations_aborted, stats.associations_active) == (4, 1, 3, 1, 0)
    assert stats.objects_stored == 3
    assert stats.bytes_stored == stored_bytes(srv.directory) == sum(o.size for o in srv.stored)
    assert stats.store_failures == {0xA900: 1} and stats.store_failures_total == 1
    assert stats.store_latency.count == 4 and stats.store_latency.bounds[-1] == float("inf")
    assert list(stats.store_latency.counts) == sorted(stats.store_latency.counts)
    assert stats.commands_started == {"xcr": 4}
    # the same numbers over HTTP (port 0: a free one, told by metrics_port)
    s = scrape(srv.server.metrics_port)
    assert value(s, "fastscp_objects_stored_total") == 3
    assert value(s, "fastscp_associations_rejected_total") == 1


def test_active_associations_are_counted_while_they_last(make_server):
    srv = make_server()
    peer = RawPeer(srv.port)
    assert peer.associate([(1, VERIFICATION, [ILE])])[0] == 0x02
    assert wait_for(lambda: srv.server.stats().associations_active == 1)
    peer.close()
    assert wait_for(lambda: srv.server.stats().associations_active == 0)
    assert srv.server.stats().associations_aborted == 1


def test_end_of_study_by_reason(make_server):
    srv = make_server(sort_mode="study-uid")
    assert run_storescu(srv.port, FILES).returncode == 0
    srv.stop()
    assert srv.server.stats().studies_ended == {"next-study": 2, "shutdown": 1}


def test_async_server_stats(tmp_path):
    from fastscp import AsyncServer

    async def main() -> Stats:
        server = AsyncServer(ServerConfig(port=0, host="127.0.0.1", output_directory=str(tmp_path)))
        task = asyncio.ensure_future(server.serve_forever())
        result = await asyncio.get_running_loop().run_in_executor(
            None, lambda: run_storescu(server.port, FILES[:2]))
        assert result.returncode == 0
        stats = server.stats()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return stats
    stats = asyncio.run(main())
    assert stats.objects_stored == 2 and stats.associations_released == 1


def test_summary_line_from_the_counters(make_server):
    """At INFO, a Server logs the summary every summary_interval seconds while
    something happens; the interval is the library's knob."""
    logger = logging.getLogger(APP_LOGGER)
    lines: List[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append("I: " + record.getMessage())
    handler = Collect(logging.INFO)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        srv = make_server(summary_interval=0.1)
        assert run_storescu(srv.port, FILES).returncode == 0
        assert wait_for(lambda: any(m.group(1) == "3" for m in map(SUMMARY.match, list(lines)) if m))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_summary_is_silent_while_idle_and_counts_the_interval():
    table = CounterTable()
    row = table.row(0)
    clock = [100.0]
    summary = Summary(table.snapshot, clock=lambda: clock[0])
    clock[0] += 10
    assert summary.line() is None                 # nothing happened, no association
    row.accepted()
    for _ in range(20):
        row.stored(0, False, 500000, 1000)
    row.stored(0xA700, True, 0, 1000)
    clock[0] += 10
    assert summary.line() == ("2.0 objects/s, 1.00 MB/s, 1 associations active, 1 failed "
                              "(20 objects, 10.0 MB stored in all)")
    clock[0] += 10
    assert summary.line() == "0.0 objects/s, 0.00 MB/s, 1 associations active (20 objects, 10.0 MB stored in all)"
    row.ended(True)
    clock[0] += 10
    assert summary.line() is None


def test_rows_add_up_and_a_dead_process_row_is_settled():
    from fastscp.stats import RowAllocator
    table = CounterTable(4)
    rows = RowAllocator(table)
    first, second = rows.take(), rows.take()
    assert (first, second) == (1, 2) and table.rows_in_use == 3
    rows.assign(111, first)
    rows.assign(222, second)
    for row in (first, second):
        counters = table.row(row)
        counters.accepted()
        counters.stored(0, False, 10, 2_000_000)
        counters.stored(0xC000, True, 0, 40_000_000_000)
    table.row(first).ended(True)
    rows.reaped(222)                  # died in its association: counted aborted
    stats = table.snapshot()
    assert (stats.associations_active, stats.associations_released, stats.associations_aborted) == (0, 1, 1)
    assert stats.objects_stored == 2 and stats.bytes_stored == 20
    assert stats.store_failures == {0xC000: 2}
    histogram: LatencyHistogram = stats.store_latency
    assert histogram.count == 4
    assert histogram.counts[histogram.bounds.index(0.0025)] == 2       # 2 ms
    assert histogram.counts[histogram.bounds.index(60.0)] == 4          # 40 s
    assert histogram.sum == pytest.approx(80.004)
    assert rows.take() == 2           # the dead child's row goes on counting for the next


def test_more_failure_statuses_than_a_row_lists():
    table = CounterTable()
    for status in range(0xA700, 0xA700 + 20):
        table.row(0).stored(status, True, 0, 0)
    stats = table.snapshot()
    assert len(stats.store_failures) == 16 and stats.store_failures_unlisted == 4
    assert stats.store_failures_total == 20


# -- refusals --------------------------------------------------------------------------

def test_metrics_port_refused_with_inetd(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fastscp", "--inetd", "--metrics-port", "9999",
                        "-od", str(tmp_path)], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert r.returncode == 1        # (inetd mode: messages go to /dev/null, as storescp's)
    from fastscp import options
    with pytest.raises(options.CommandLineError, match="--metrics-port not allowed with --inetd"):
        options.evaluate(["--inetd", "--metrics-port", "9999"])


def test_metrics_address_needs_metrics_port():
    from fastscp import options
    with pytest.raises(options.CommandLineError, match="--metrics-address only allowed with --metrics-port"):
        options.evaluate(["--metrics-address", "0.0.0.0", "104"])


def test_without_prometheus_client_the_option_is_refused(tmp_path, monkeypatch, capsys):
    from fastscp import cli, metrics
    monkeypatch.setitem(sys.modules, "prometheus_client", None)       # find_spec: not installed
    assert not metrics.available()
    assert cli.main(["--metrics-port", "9999", "-od", str(tmp_path), str(free_port())]) == 1
    assert "error: %s" % metrics.UNAVAILABLE in capsys.readouterr().err
    with pytest.raises(ConfigError, match="prometheus_client"):
        ServerConfig(metrics_port=9999).validate()


def test_metrics_port_in_use_is_reported_at_start(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "fastscp", "--metrics-port", str(port),
                            "-od", str(tmp_path), str(free_port())], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "cannot listen on metrics port %d: Address already in use" % port in r.stderr, r.stderr


# -- the Grafana dashboard -----------------------------------------------------------

def test_dashboard_queries_only_metrics_the_endpoint_serves(make_server):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs
    queried = {name for e in exprs for name in re.findall(r"\bfastscp_[a-z_]+", e)}
    srv = make_server(metrics_port=0)
    send_known_traffic(srv.port)
    served = {name for name, _ in scrape(srv.server.metrics_port)}
    assert queried and queried <= served, queried - served
    titles = " ".join(panel.get("title", "") for panel in dashboard["panels"]).lower()
    for topic in ("objects/s", "mb/s", "active associations", "failures", "latency", "end of study"):
        assert topic in titles, topic
