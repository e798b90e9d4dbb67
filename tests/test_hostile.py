"""Hostile input over real sockets: each bad stream ends its association
(A-ABORT or close, with a log line); the server keeps serving."""
import random
import struct
import subprocess

import pytest

from conftest import DCMTK_ENV, ECHOSCU, all_files, wait_for
import dicomnet as dn

GOOD_RQ = dn.associate_rq([(1, dn.CT_IMAGE, [dn.ELE]), (3, dn.VERIFICATION, [dn.ILE])])


def echo_ok(port):
    r = subprocess.run([ECHOSCU, "127.0.0.1", str(port)], env=DCMTK_ENV, capture_output=True, timeout=30)
    return r.returncode == 0


def ends_with_abort_or_close(peer, accepted=False):
    """Read until the server closes: True if its only answer (after the
    A-ASSOCIATE-AC, when ``accepted``) was an A-ABORT or closing the
    connection, False if it sent any other PDU."""
    if accepted:
        p = peer.read_pdu(timeout=10)
        if p is None or p[0] != 2:
            return False
    while True:
        p = peer.read_pdu(timeout=10)
        if p is None:
            return True
        if p[0] != 7:
            return False


HOSTILE = {
    "http request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "zero pdu type": b"\x00" * 64,
    "huge associate length": b"\x01\x00\xff\xff\xff\xff" + b"\0" * 100,
    "truncated associate": GOOD_RQ[:6] + GOOD_RQ[6:40],
    "associate item overrun": GOOD_RQ[:74] + b"\x10\x00\xff\xff" + GOOD_RQ[78:],
    "pdata first": dn.pdata(1, dn.echo_rq(), True),
    "release first": dn.release_rq(),
    "oversized pdata": GOOD_RQ + dn.pdu(4, b"\0" * 20000),
    "pdv length zero": GOOD_RQ + dn.pdu(4, b"\0\0\0\0\x01\x03"),
    "pdv overrun": GOOD_RQ + dn.pdu(4, struct.pack(">I", 5000) + b"\x01\x03abcd"),
    "garbage command": GOOD_RQ + dn.pdata(1, b"\xff" * 30, True),
    "data before command": GOOD_RQ + dn.pdata(1, b"\x08\x00", False),
    "second associate": GOOD_RQ + GOOD_RQ,
    "unknown pdu after accept": GOOD_RQ + dn.pdu(9, b"abcd"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_stream_ends_association_server_survives(make_server, name, caplog):
    server = make_server(acse_timeout=2.0)   # a truncated RQ ends by ARTIM
    peer = dn.RawPeer(server.port)
    peer.send(HOSTILE[name])
    try:
        assert ends_with_abort_or_close(peer, accepted=HOSTILE[name].startswith(GOOD_RQ))
    finally:
        peer.close()
    assert echo_ok(server.port)
    assert any(r.levelname in ("ERROR", "WARNING") for r in caplog.records), "no log line"
    assert all_files(server.directory) == []


def test_mutated_streams_never_kill_the_server(make_server):
    server = make_server(acse_timeout=2.0)
    rng = random.Random(1234)
    valid = (GOOD_RQ + dn.pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3"), True)
             + dn.pdata(1, b"\x08\x00\x18\x00UI\x06\x001.2.3\0", False) + dn.release_rq())
    for _ in range(60):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data[:rng.randint(1, len(data))])
        peer = dn.RawPeer(server.port)
        try:
            peer.send(data)
            peer.sock.shutdown(1)        # half-close: the server sees EOF after the bytes
            assert peer.closed_by_peer(timeout=10)
        finally:
            peer.close()
    assert echo_ok(server.port)
    assert wait_for(lambda: not [p for p in all_files(server.directory) if p.name.startswith(".fastscp-")])
