"""Process models (fastscp.processes): --fork as storescp, the default pool of
worker processes, and --single-process -- with real peers over loopback."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from fastscp import ServerConfig
from fastscp.errors import ConfigError

from pydicom.data import get_testdata_file

from conftest import DCMTK_ENV, ECHOSCU, child_pids as children, final_files, run_storescu, wait_for

CHILD_LINE = re.compile(r"I: Association Received in child process \(pid: (\d+)\)")


def echo(port: int) -> subprocess.CompletedProcess:
    return subprocess.run([ECHOSCU, "127.0.0.1", str(port)], env=DCMTK_ENV, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def ct_files():
    # three objects: pydicom's CT and MR test files
    return [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm"),
            get_testdata_file("rtplan.dcm")]


def _out(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    return d


def _shape(line: str) -> str:
    """A log line without what differs between the servers and runs (pids, paths)."""
    line = CHILD_LINE.sub("I: Association Received in child process (pid: N)", line)
    return re.sub(r"storing DICOM file: .*", "storing DICOM file: P", line)


def test_fork_serves_each_association_in_a_child_like_storescp(tmp_path, spawn, ct_files):
    logs = {}
    for kind in ("dcmtk", "fastscp"):
        out = _out(tmp_path, kind)
        srv = spawn(kind, out, "--fork", "-v")
        for f in ct_files:
            assert run_storescu(srv.port, [f]).returncode == 0
        assert echo(srv.port).returncode == 0
        assert wait_for(lambda: not children(srv.proc.pid), timeout=10), "children not reaped"
        srv.stop()
        pids = [int(p) for p in CHILD_LINE.findall(srv.stderr)]
        # the 4 associations and the connect-and-close that saw the port listening
        assert len(set(pids)) == 5 and srv.proc.pid not in pids, srv.stderr
        logs[kind] = [_shape(line) for line in srv.stderr.splitlines()]
        assert len(final_files(out)) == 3
    assert logs["fastscp"] == logs["dcmtk"]


def test_fork_stores_what_storescp_stores(tmp_path, spawn, ct_files):
    dirs = {}
    for kind in ("dcmtk", "fastscp"):
        dirs[kind] = out = _out(tmp_path, kind)
        srv = spawn(kind, out, "--fork")
        assert run_storescu(srv.port, ct_files).returncode == 0
        srv.stop()
    names = sorted(p.name for p in final_files(dirs["dcmtk"]))
    assert names and names == sorted(p.name for p in final_files(dirs["fastscp"]))


def test_default_pool_serves_while_peers_stall(tmp_path, spawn, ct_files):
    """Silent connections, more than the idle workers, hold up nobody: the
    pool grows and a new association is served at once."""
    srv = spawn("fastscp", _out(tmp_path, "out"))
    stalled = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(6)]
    try:
        started = time.monotonic()
        assert echo(srv.port).returncode == 0
        assert run_storescu(srv.port, ct_files).returncode == 0
        # within a fraction of the ACSE timeout (30 s) the silent ones hold
        assert time.monotonic() - started < 15
        assert len(children(srv.proc.pid)) >= 7, "each stalled connection has its worker"
    finally:
        for s in stalled:
            s.close()
    assert len(final_files(tmp_path / "out")) == 3


def test_pool_replaces_a_worker_that_dies(tmp_path, spawn):
    srv = spawn("fastscp", _out(tmp_path, "out"))
    assert wait_for(lambda: len(children(srv.proc.pid)) >= 1, timeout=10)
    victim = children(srv.proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: victim not in children(srv.proc.pid) and children(srv.proc.pid),
                    timeout=10), "the dead worker was neither reaped nor replaced"
    assert echo(srv.port).returncode == 0


def test_sigterm_ends_the_workers(tmp_path, spawn):
    srv = spawn("fastscp", _out(tmp_path, "out"))
    assert echo(srv.port).returncode == 0
    workers = children(srv.proc.pid)
    assert workers
    srv.stop()
    assert srv.proc.returncode == 0
    assert wait_for(lambda: not any(os.path.exists("/proc/%d" % w) for w in workers), timeout=10)


def test_workers_leave_when_the_parent_is_killed(tmp_path, spawn):
    """A parent killed outright (no clean-up) leaves no worker holding the port."""
    srv = spawn("fastscp", _out(tmp_path, "out"))
    assert wait_for(lambda: len(children(srv.proc.pid)) >= 1, timeout=10)
    workers = children(srv.proc.pid)
    srv.proc.kill()
    srv.proc.wait()
    try:
        assert wait_for(lambda: not any(os.path.exists("/proc/%d" % w) for w in workers), timeout=10)
    finally:
        for w in workers:           # a worker left behind would hold the test's pipes open
            try:
                os.kill(w, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.parametrize("options", [("--single-process",), ("-ss", "st"), ("-tn",)])
def test_one_process_when_asked_or_when_state_is_shared(tmp_path, spawn, options):
    srv = spawn("fastscp", _out(tmp_path, "out"), *options)
    assert echo(srv.port).returncode == 0
    assert children(srv.proc.pid) == []


def test_process_model_is_validated():
    with pytest.raises(ConfigError, match="process_model"):
        ServerConfig(process_model="threads").validate()
    with pytest.raises(ConfigError, match="--exec-on-eostudy not allowed with --fork"):
        ServerConfig(process_model="fork", sort_mode="timestamp", exec_on_eostudy="true").validate()
    with pytest.raises(ConfigError, match="--rename-on-eostudy not allowed with --fork"):
        ServerConfig(process_model="fork", sort_mode="timestamp", rename_on_eostudy=True).validate()
    ServerConfig(process_model="fork", sort_mode="timestamp").validate()
