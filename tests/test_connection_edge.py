"""Limits at the connection edge: connections that never make an association
cost no thread, requests and PDUs have deadlines however slowly their bytes
trickle in, at most --max-associations connections are served at once, and
running out of descriptors or threads never stops the server."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time

import pytest

import dicomnet as dn
import fastscp.server
from conftest import InProcessServer, free_port, is_listening, wait_for

ECHO_CONTEXT = [(1, dn.VERIFICATION, [dn.ILE])]


def echo_ok(port, timeout=10.0):
    peer = dn.RawPeer(port, timeout=timeout)
    try:
        reply = peer.associate(ECHO_CONTEXT)
        if reply is None or reply[0] != 2:
            return False
        peer.send(dn.pdata(1, dn.echo_rq(), True))
        rsp = peer.read_pdu(timeout)
        peer.send(dn.release_rq())
        return rsp is not None and rsp[0] == 4
    finally:
        peer.close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """An in-process server that counts the association threads it starts."""
    started = []
    real = fastscp.server.Server._serve_connection

    def counting(self, conn, addr, *args):
        started.append((addr, threading.current_thread()))
        return real(self, conn, addr, *args)
    monkeypatch.setattr(fastscp.server.Server, "_serve_connection", counting)
    servers = []

    def make(**config):
        out = tmp_path / ("out%d" % len(servers))
        out.mkdir()
        srv = InProcessServer(out, host_lookup=False, **config)
        srv.started = started
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        srv.stop()


def test_connect_and_close_costs_no_thread_and_no_log_line(served, caplog):
    srv = served()
    caplog.set_level(logging.INFO, logger="fastscp")
    for _ in range(500):
        socket.create_connection(("127.0.0.1", srv.port)).close()
    assert echo_ok(srv.port)
    assert len(srv.started) == 1            # the echo's
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not [r for r in caplog.records if "closed before" in r.getMessage()]


def test_idle_connections_hold_no_thread_and_end_at_the_deadline(served):
    srv = served(acse_timeout=1.0)
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(100)]
    try:
        assert echo_ok(srv.port)
        assert len(srv.started) == 1
        start = time.monotonic()
        for conn in idle:
            conn.settimeout(10)
            assert conn.recv(1) == b""          # closed by the server
        assert time.monotonic() - start < 5
    finally:
        for conn in idle:
            conn.close()


def _trickle(sock, data, interval, stop_after):
    """Send data a byte at a time; True if the server closed the connection first."""
    sock.settimeout(interval)
    deadline = time.monotonic() + stop_after
    for i in range(len(data)):
        if time.monotonic() > deadline:
            return False
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return True
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return True
        if not chunk or chunk[:1] == b"\x07":
            return True
    return False


def test_trickling_request_is_cut_at_the_deadline(served, caplog):
    srv = served(acse_timeout=1.0)
    caplog.set_level(logging.ERROR, logger="fastscp")
    sock = socket.create_connection(("127.0.0.1", srv.port))
    start = time.monotonic()
    try:
        # one byte every 0.2 s: each read is within any per-read timeout
        assert _trickle(sock, dn.associate_rq(ECHO_CONTEXT), 0.2, stop_after=15)
    finally:
        sock.close()
    assert time.monotonic() - start < 4
    assert wait_for(lambda: any("no complete association request" in r.getMessage() for r in caplog.records))


def test_trickling_pdu_is_cut_at_the_deadline(served, caplog):
    srv = served(pdu_timeout=1.0)
    caplog.set_level(logging.ERROR, logger="fastscp")
    peer = dn.RawPeer(srv.port)
    try:
        assert peer.associate(ECHO_CONTEXT)[0] == 2
        start = time.monotonic()
        assert _trickle(peer.sock, dn.pdata(1, dn.echo_rq(), True), 0.2, stop_after=15)
        assert time.monotonic() - start < 4
    finally:
        peer.close()
    assert wait_for(lambda: any("PDU not complete within" in r.getMessage() for r in caplog.records))


def test_a_fast_big_object_is_not_cut(served):
    """The PDU deadline restarts with every PDU: a long transfer goes through."""
    srv = served(pdu_timeout=1.0)
    peer = dn.RawPeer(srv.port)
    try:
        assert peer.associate([(1, dn.CT_IMAGE, [dn.ELE])])[0] == 2
        uid = "1.2.826.0.1.3680043.8.498.99"
        data = (b"\x08\x00\x16\x00UI\x1a\x00" + dn.CT_IMAGE.encode() + b"\0"
                + b"\x08\x00\x18\x00UI" + len(dn.uid(uid)).to_bytes(2, "little") + dn.uid(uid)
                + b"\xe0\x7f\x10\x00OB\0\0" + (40 << 20).to_bytes(4, "little"))
        peer.send(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, uid), True))
        chunk = b"\0" * 16000
        pdvs = [dn.pdata(1, data, False, last=False)]
        pdvs += [dn.pdata(1, chunk, False, last=False)] * ((40 << 20) // len(chunk))
        pdvs.append(dn.pdata(1, b"\0" * ((40 << 20) % len(chunk)), False, last=True))
        start = time.monotonic()
        for i in range(0, len(pdvs), 64):               # ~1 MB at a time, for several seconds if slow
            peer.send(b"".join(pdvs[i:i + 64]))
        rsp = peer.read_pdu(60)
        assert rsp is not None and rsp[0] == 4, rsp
        assert dn.parse_command(rsp[1][6:])[0x0900] == b"\0\0"
        print("40 MB in %.2f s" % (time.monotonic() - start))
    finally:
        peer.close()


def test_max_associations(served):
    srv = served(max_associations=2)
    first, second = dn.RawPeer(srv.port), dn.RawPeer(srv.port)
    third = None
    try:
        assert first.associate(ECHO_CONTEXT)[0] == 2
        assert second.associate(ECHO_CONTEXT)[0] == 2
        third = dn.RawPeer(srv.port)            # the kernel completes the handshake ...
        third.send(dn.associate_rq(ECHO_CONTEXT))
        with pytest.raises(TimeoutError):       # ... but fastscp does not take it yet
            third.read_pdu(timeout=1.0)
        first.send(dn.release_rq())
        assert first.read_pdu()[0] == 6
        first.close()                           # the connection ends: a slot is free
        reply = third.read_pdu(timeout=10)
        assert reply is not None and reply[0] == 2
    finally:
        for peer in (first, second, third):
            if peer is not None:
                peer.close()


def test_thread_start_failure_costs_one_connection(served, monkeypatch, caplog):
    srv = served()
    real = threading.Thread.start
    failures = []

    def start(self):
        if self.name.startswith("fastscp-assoc") and not failures:
            failures.append(self.name)
            raise RuntimeError("can't start new thread")
        return real(self)
    monkeypatch.setattr(threading.Thread, "start", start)
    caplog.set_level(logging.ERROR, logger="fastscp")
    assert not echo_ok(srv.port)
    assert failures and echo_ok(srv.port)
    assert any("cannot serve connection" in r.getMessage() for r in caplog.records)


def test_out_of_descriptors(tmp_path):
    """EMFILE: the accept loop pauses with one log line now and then, never
    spins, and serves again once descriptors are free (--single-process: the
    one process holds every connection; a worker of the pool holds one)."""
    port = free_port()
    out = tmp_path / "out"
    out.mkdir()
    code = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48)); "
            "sys.argv = ['fastscp'] + sys.argv[1:]; runpy.run_module('fastscp', run_name='__main__')")
    log_path = tmp_path / "stderr"
    with open(log_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", code, "--single-process", "-ta", "3", "-dhl", "-od",
                                 str(out), str(port)],
                                stderr=err)
    try:
        assert wait_for(lambda: is_listening(port), timeout=20)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
        assert wait_for(lambda: "cannot accept connection" in log_path.read_text(), timeout=10)
        time.sleep(2)       # an observation window: the failure goes on, the log must not grow
        text = log_path.read_text()
        assert text.count("cannot accept connection") <= 2, "the log is flooded"
        for conn in idle:
            conn.close()
        assert wait_for(lambda: echo_ok(port, timeout=5), timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_association_threads_are_reused(served):
    srv = served()
    workers = srv.server._workers
    for _ in range(20):
        assert echo_ok(srv.port)
        # the thread goes back to the pool just after the peer saw the close
        assert wait_for(lambda: workers._idle >= 1, timeout=10)
    assert len(srv.started) == 20
    threads = {thread for _, thread in srv.started}
    assert len(threads) == 1, threads      # sequential associations: one thread, reused
