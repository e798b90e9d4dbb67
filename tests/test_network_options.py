"""storescp's network options in fastscp: -ts -ta -td, -aet, -dhl, --refuse,
--reject, --ignore, --sleep-*, --abort-*, -up.

Timeouts are measured against raw-socket peers that go silent at each stage
(small values, in-process servers); the test options are observed from the
client side and, where the observable behaviour should match, compared with
Debian's /usr/bin/storescp run with the same options.
"""
import socket
import struct
import subprocess
import threading
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file

from conftest import (DCMTK_ENV, ECHOSCU, all_files, files_being_written, final_files, run_storescu,
                      wait_for)
import dicomnet as dn

from fastscp import ServerConfig, cli, options
from fastscp.association import Association
from fastscp.service import StoreService

CT_SMALL = get_testdata_file("CT_small.dcm")
MR_SMALL = get_testdata_file("MR_small.dcm")
CT_CLASS = dn.CT_IMAGE


def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element with a short length."""
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def small_dataset(instance: bytes = b"1.2.3.4", sop_class: bytes = CT_CLASS.encode() + b"\0") -> bytes:
    return (element(0x0008, 0x0016, b"UI", sop_class) + element(0x0008, 0x0018, b"UI", instance)
            + element(0x0010, 0x0010, b"PN", b"Doe^John"))


def store_command(sop_instance_raw: bytes, msg_id: int = 1) -> bytes:
    return dn.command_set([(0x0002, dn.uid(CT_CLASS)), (0x0100, dn.us(0x01)), (0x0110, dn.us(msg_id)),
                           (0x0700, dn.us(0)), (0x0800, dn.us(0)), (0x1000, sop_instance_raw)])


def store_pdus(dataset: bytes, pieces: int = 1, instance_raw: bytes = b"1.2.3.4", msg_id: int = 1) -> bytes:
    """C-STORE-RQ command plus the data set split into `pieces` data PDVs (one PDU each)."""
    out = dn.pdata(1, store_command(instance_raw, msg_id), True)
    size = -(-len(dataset) // pieces)
    size += size % 2
    chunks = [dataset[i:i + size] for i in range(0, len(dataset), size)]
    for i, chunk in enumerate(chunks):
        out += dn.pdata(1, chunk, False, last=i == len(chunks) - 1)
    return out


def response(peer: dn.RawPeer, timeout: float = 10.0) -> dict:
    p = peer.read_pdu(timeout=timeout)
    assert p is not None and p[0] == 4, p
    return dn.parse_command(p[1][6:])


def status_of(cmd: dict) -> int:
    return struct.unpack("<H", cmd[0x0900])[0]


def ct_peer(port: int) -> dn.RawPeer:
    peer = dn.RawPeer(port)
    t, _ = peer.associate([(1, CT_CLASS, [dn.ELE])])
    assert t == 2
    return peer


def release(peer: dn.RawPeer) -> None:
    peer.send(dn.release_rq())
    p = peer.read_pdu()
    assert p is not None and p[0] == 6
    peer.close()


# ---------------------------------------------------------------------------
# timeouts: a silent peer at each stage
# ---------------------------------------------------------------------------

def test_acse_timeout_half_rq(make_server):
    """-ta bounds the wait for the A-ASSOCIATE-RQ also when part of it came."""
    srv = make_server(acse_timeout=0.5)
    peer = dn.RawPeer(srv.port)
    peer.send(dn.associate_rq([(1, dn.VERIFICATION, [dn.ILE])])[:40])
    start = time.monotonic()
    assert peer.closed_by_peer(timeout=10)
    assert 0.3 < time.monotonic() - start < 5
    peer.close()


def test_socket_timeout_between_commands(make_server):
    srv = make_server(socket_timeout=0.5)
    peer = ct_peer(srv.port)
    peer.send(store_pdus(small_dataset()))
    assert status_of(response(peer)) == 0
    start = time.monotonic()
    p = peer.read_pdu(timeout=10)
    assert p is not None and p[0] == 7                      # A-ABORT, then close
    assert peer.closed_by_peer(timeout=10)
    assert 0.3 < time.monotonic() - start < 5
    peer.close()


def test_socket_timeout_none_keeps_idle_association(make_server):
    """-ts 0: no limit; the association is still usable after being idle."""
    srv = make_server(socket_timeout=None, dimse_timeout=0.2)
    peer = ct_peer(srv.port)
    assert not peer.closed_by_peer(timeout=1.0)      # -td does not bound command waits
    peer.send(store_pdus(small_dataset()))
    assert status_of(response(peer)) == 0
    release(peer)


@pytest.mark.parametrize("config", [dict(dimse_timeout=0.5, socket_timeout=30.0),
                                    dict(socket_timeout=0.5)],
                         ids=["dimse-timeout", "socket-timeout"])
def test_timeout_in_the_middle_of_a_data_set(make_server, caplog, config):
    """-td (or -ts without -td) while data set PDVs are awaited: A-ABORT, no
    file left (storescp leaves the association in limbo instead)."""
    srv = make_server(**config)
    peer = ct_peer(srv.port)
    data = small_dataset()
    peer.send(dn.pdata(1, store_command(b"1.2.3.4"), True) + dn.pdata(1, data[:20], False, last=False))
    assert wait_for(lambda: len(files_being_written(srv.directory)) == 1)  # the temporary file
    start = time.monotonic()
    p = peer.read_pdu(timeout=10)
    assert p is not None and p[0] == 7 and p[1][2:4] == b"\0\0"    # A-ABORT source 0 reason 0
    assert 0.3 < time.monotonic() - start < 5
    assert peer.closed_by_peer(timeout=10)
    assert wait_for(lambda: all_files(srv.directory) == [] and not files_being_written(srv.directory))
    assert "Store SCP Failed: DIMSE No data available" in caplog.text
    peer.close()


def test_dimse_timeout_only_bounds_silence(make_server):
    """Data set PDVs that keep coming, each within -td, are fine."""
    srv = make_server(dimse_timeout=0.6)
    peer = ct_peer(srv.port)
    data = small_dataset()
    peer.send(dn.pdata(1, store_command(b"1.2.3.4"), True))
    for piece in (data[:20], data[20:40]):
        time.sleep(0.3)
        peer.send(dn.pdata(1, piece, False, last=False))
    time.sleep(0.3)
    peer.send(dn.pdata(1, data[40:], False, last=True))
    assert status_of(response(peer)) == 0
    release(peer)


def test_peer_half_closes_mid_data_set(make_server):
    srv = make_server()
    peer = ct_peer(srv.port)
    peer.send(dn.pdata(1, store_command(b"1.2.3.4"), True) + dn.pdata(1, small_dataset()[:20], False, last=False))
    assert wait_for(lambda: len(files_being_written(srv.directory)) == 1)  # the temporary file
    peer.sock.shutdown(socket.SHUT_WR)
    assert peer.closed_by_peer(timeout=10)
    assert wait_for(lambda: all_files(srv.directory) == [] and not files_being_written(srv.directory))
    peer.close()


def test_acse_timeout_after_release(make_server):
    """After A-RELEASE-RP the server waits at most -ta for the peer to close."""
    srv = make_server(acse_timeout=0.5)
    peer = ct_peer(srv.port)
    peer.send(dn.release_rq())
    assert peer.read_pdu()[0] == 6
    start = time.monotonic()
    assert peer.closed_by_peer(timeout=10)
    assert time.monotonic() - start < 5
    peer.close()


def test_acse_timeout_after_abort(make_server):
    """After fastscp sent A-ABORT it waits at most -ta for the peer to close."""
    srv = make_server(acse_timeout=0.5, socket_timeout=None)
    peer = ct_peer(srv.port)
    peer.send(dn.pdu(0x09, b"\0\0"))                   # not a PDU type: A-ABORT
    p = peer.read_pdu(timeout=10)
    assert p is not None and p[0] == 7
    start = time.monotonic()
    assert peer.closed_by_peer(timeout=10)
    assert time.monotonic() - start < 5
    peer.close()


@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
def test_cli_acse_timeout(spawn, tmp_path, kind):
    proc = spawn(kind, tmp_path, "-ta", "1")
    peer = dn.RawPeer(proc.port)
    start = time.monotonic()
    assert peer.closed_by_peer(timeout=15)
    assert 0.7 < time.monotonic() - start < 8
    peer.close()
    _, err = proc.stop()
    assert "E: Receiving Association failed:" in err and "network read timeout" in err


@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
def test_cli_socket_timeout_idle_association(spawn, tmp_path, kind):
    proc = spawn(kind, tmp_path, "-ts", "1")
    peer = ct_peer(proc.port)
    start = time.monotonic()
    assert peer.closed_by_peer(timeout=15)           # storescp closes silently, fastscp after A-ABORT
    assert 0.7 < time.monotonic() - start < 8
    peer.close()


def test_cli_dimse_timeout_mid_data_set(spawn, tmp_path):
    proc = spawn("fastscp", tmp_path, "-td", "1", "-ts", "30")
    peer = ct_peer(proc.port)
    peer.send(dn.pdata(1, store_command(b"1.2.3.4"), True) + dn.pdata(1, small_dataset()[:20], False, last=False))
    start = time.monotonic()
    p = peer.read_pdu(timeout=15)
    assert p is not None and p[0] == 7
    assert 0.7 < time.monotonic() - start < 8
    peer.close()
    assert wait_for(lambda: all_files(tmp_path) == [])
    _, err = proc.stop()
    assert "E: Store SCP Failed: DIMSE No data available" in err


# ---------------------------------------------------------------------------
# --refuse, --reject, -aet
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
def test_refuse(spawn, tmp_path, kind):
    proc = spawn(kind, tmp_path, "-v", "--refuse")
    peer = dn.RawPeer(proc.port)
    t, body = peer.associate([(1, dn.VERIFICATION, [dn.ILE])])
    assert (t, body[1:4]) == (3, b"\x01\x01\x01")          # RJ result 1, source 1, reason 1
    peer.close()
    r = subprocess.run([ECHOSCU, "127.0.0.1", str(proc.port)], env=DCMTK_ENV, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "Association Rejected" in r.stdout + r.stderr
    _, err = proc.stop()
    # storescp also "refuses" the fixture's connect-and-close probe (spec §2.1)
    assert err.count("I: Refusing Association (forced via command line)") == (2 if kind == "fastscp" else 3)


@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
def test_reject_without_implementation_class_uid(spawn, tmp_path, kind):
    proc = spawn(kind, tmp_path, "-v", "--reject")
    for impl_uid, expected in (("1.2.3.4", 2), (None, 3), ("", 3)):
        peer = dn.RawPeer(proc.port)
        t, body = peer.associate([(1, dn.VERIFICATION, [dn.ILE])], impl_uid=impl_uid)
        assert t == expected, impl_uid
        if t == 3:
            assert body[1:4] == b"\x01\x01\x01"
        else:
            peer.send(dn.release_rq())
            assert peer.read_pdu()[0] == 6
        peer.close()
    _, err = proc.stop()
    assert err.count("I: Association Rejected: No Implementation Class UID provided") == 2


def test_without_reject_no_implementation_uid_is_accepted(make_server):
    srv = make_server()
    peer = dn.RawPeer(srv.port)
    t, _ = peer.associate([(1, dn.VERIFICATION, [dn.ILE])], impl_uid=None)
    assert t == 2
    release(peer)


def test_called_ae_never_checked(make_server):
    """-aet names us, but like storescp the called AE title is not checked
    and the A-ASSOCIATE-AC echoes the one the peer called."""
    srv = make_server(ae_title="MYSCP")
    peer = dn.RawPeer(srv.port)
    t, body = peer.associate([(1, dn.VERIFICATION, [dn.ILE])], called=b"ANYTHING")
    assert t == 2 and body[4:20] == b"ANYTHING".ljust(16)
    release(peer)


# ---------------------------------------------------------------------------
# -dhl: the peer's host name
# ---------------------------------------------------------------------------

def _expected_local_name() -> str:
    try:
        return socket.gethostbyaddr("127.0.0.1")[0].split(".")[0]
    except OSError:
        return "127.0.0.1"


@pytest.mark.parametrize("lookup", [True, False])
def test_peer_host_name(make_server, lookup):
    srv = make_server(host_lookup=lookup)
    r = run_storescu(srv.port, [CT_SMALL])
    assert r.returncode == 0, r.stderr
    (obj,) = srv.stored
    assert obj.association.peer_host_name == (_expected_local_name() if lookup else "127.0.0.1")
    assert obj.association.peer_address == "127.0.0.1"


def test_slow_resolver_does_not_stall(make_server, monkeypatch):
    import fastscp.hostnames as server_mod
    release_lookup = threading.Event()

    def slow(address):
        release_lookup.wait(20)
        return "slowname.example"
    monkeypatch.setattr(server_mod, "reverse_lookup", slow)
    srv = make_server()
    try:
        start = time.monotonic()
        r = run_storescu(srv.port, [CT_SMALL, MR_SMALL])
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - start < 2 * server_mod.HOST_LOOKUP_WAIT + 3
        assert [o.association.peer_host_name for o in srv.stored] == ["127.0.0.1"] * 2
    finally:
        release_lookup.set()


@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
@pytest.mark.parametrize("dhl", [False, True], ids=["lookup", "dhl"])
def test_cli_host_name_in_debug_log(spawn, tmp_path, kind, dhl):
    proc = spawn(kind, tmp_path, "-d", *(["-dhl"] if dhl else []))
    r = subprocess.run([ECHOSCU, "127.0.0.1", str(proc.port)], env=DCMTK_ENV, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    _, err = proc.stop()
    name = "127.0.0.1" if dhl else _expected_local_name()
    assert "D: Association Received: %s\n" % name in err


# ---------------------------------------------------------------------------
# --ignore
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
def test_ignore_receives_and_stores_nothing(spawn, tmp_path, kind):
    proc = spawn(kind, tmp_path, "-v", "--ignore")
    r = run_storescu(proc.port, [CT_SMALL, MR_SMALL], ["-v"])
    assert r.returncode == 0, r.stderr
    assert (r.stdout + r.stderr).count("Received Store Response (Success)") == 2
    assert all_files(tmp_path) == []
    _, err = proc.stop()
    assert err.count("I: Received Store Request") == 2
    assert "storing DICOM file" not in err


def test_ignore_skips_sop_check_but_still_parses(make_server):
    srv = make_server(ignore=True)
    peer = ct_peer(srv.port)
    # data set of another instance: storescp answers 0 with --ignore (no check)
    peer.send(store_pdus(small_dataset(instance=b"9.9.9.9\0"), msg_id=1))
    assert status_of(response(peer)) == 0
    # a data set cut inside a value cannot be parsed: failure, nothing stored
    broken = small_dataset()[:-3]
    broken += b"\0" * (len(broken) % 2)
    peer.send(store_pdus(broken, msg_id=2))
    assert status_of(response(peer)) == 0xC000
    release(peer)
    assert all_files(srv.directory) == [] and srv.stored == []


# ---------------------------------------------------------------------------
# --abort-after, --abort-during
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
@pytest.mark.parametrize("option", ["--abort-after", "--abort-during"])
def test_abort_options(spawn, tmp_path, kind, option):
    proc = spawn(kind, tmp_path, "-v", option)
    r = run_storescu(proc.port, [CT_SMALL], ["-v"])
    assert r.returncode != 0
    assert "Peer Aborted Association" in r.stdout + r.stderr
    assert wait_for(lambda: all_files(tmp_path) == [])
    _, err = proc.stop()
    assert "I: ABORT initiated (due to command line options)" in err
    assert "storing DICOM file" not in err


@pytest.mark.parametrize("option", ["abort_after", "abort_during"])
def test_abort_options_raw(make_server, option):
    srv = make_server(**{option: True})
    peer = ct_peer(srv.port)
    peer.send(store_pdus(small_dataset(), pieces=3))
    p = peer.read_pdu(timeout=10)
    assert p is not None and p[0] == 7 and p[1][2:4] == b"\0\0"
    assert wait_for(lambda: all_files(srv.directory) == [] and not files_being_written(srv.directory))
    assert srv.stored == []
    peer.close()


def test_abort_during_before_the_data_set_ends(make_server):
    """--abort-during acts on the first data PDV, not at the end."""
    srv = make_server(abort_during=True)
    peer = ct_peer(srv.port)
    data = small_dataset()
    peer.send(dn.pdata(1, store_command(b"1.2.3.4"), True) + dn.pdata(1, data[:20], False, last=False))
    p = peer.read_pdu(timeout=10)
    assert p is not None and p[0] == 7
    peer.close()
    assert wait_for(lambda: all_files(srv.directory) == [] and not files_being_written(srv.directory))


def test_echo_unaffected_by_abort_options(make_server):
    srv = make_server(abort_after=True, abort_during=True)
    r = subprocess.run([ECHOSCU, "127.0.0.1", str(srv.port)], env=DCMTK_ENV, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------
# --sleep-during, --sleep-after
# ---------------------------------------------------------------------------

def test_sleep_during_at_every_progress_step(make_server):
    """start + one per data PDV + end: 3 PDVs -> 5 pauses."""
    srv = make_server(sleep_during=0.2)
    peer = ct_peer(srv.port)
    start = time.monotonic()
    peer.send(store_pdus(small_dataset(), pieces=3))
    assert status_of(response(peer, timeout=20)) == 0
    elapsed = time.monotonic() - start
    assert 0.95 < elapsed < 5, elapsed
    release(peer)
    assert len(final_files(srv.directory)) == 1


def test_sleep_after_delays_the_next_command_not_the_response(make_server):
    srv = make_server(sleep_after=0.8)
    peer = ct_peer(srv.port)
    start = time.monotonic()
    peer.send(store_pdus(small_dataset()))
    assert status_of(response(peer)) == 0
    assert time.monotonic() - start < 0.6              # the response is not delayed
    peer.send(dn.pdata(1, dn.echo_rq(2), True))
    p = peer.read_pdu(timeout=10)
    assert p is not None and p[0] == 4
    assert time.monotonic() - start > 0.75             # the next command waited
    release(peer)


def test_sleep_blocks_only_its_association(make_server):
    srv = make_server(sleep_during=0.8)              # start, 1 PDV, end: 2.4 s
    sleeper = ct_peer(srv.port)
    begin = time.monotonic()
    sleeper.send(store_pdus(small_dataset()))
    r = subprocess.run([ECHOSCU, "127.0.0.1", str(srv.port)], env=DCMTK_ENV, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - begin < 1.6
    assert status_of(response(sleeper, timeout=20)) == 0
    assert time.monotonic() - begin > 2.3
    release(sleeper)


@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
def test_cli_sleep_after(spawn, tmp_path, kind):
    proc = spawn(kind, tmp_path, "--sleep-after", "1")
    start = time.monotonic()
    r = run_storescu(proc.port, [CT_SMALL, MR_SMALL])
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start > 1.9        # after each of the two stores
    assert len(final_files(tmp_path)) == 2


def test_shutdown_ends_a_sleep(tmp_path):
    from conftest import InProcessServer
    out = tmp_path / "o"
    out.mkdir()
    srv = InProcessServer(out, sleep_during=60.0)
    peer = ct_peer(srv.port)
    peer.send(store_pdus(small_dataset()))
    time.sleep(0.2)
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 10
    peer.close()


def test_sans_io_pause_and_resume(tmp_path):
    config = ServerConfig(output_directory=str(tmp_path), sleep_during=1.5, sleep_after=2.5)
    assoc = Association(config, StoreService(config), "127.0.0.1", 1)
    assoc.receive(dn.associate_rq([(1, CT_CLASS, [dn.ELE])]))
    assert assoc.data_to_send()[0] == 2 and assoc.pause is None
    assoc.receive(store_pdus(small_dataset(), pieces=2))
    steps = []
    while assoc.pause is not None:
        pause = assoc.pause
        assoc.resume()
        steps.append((pause, [t for t, _ in dn.parse_pdus(assoc.data_to_send())]))
    # start, the 2 PDVs of one batch, end (then the response), after
    assert steps == [(1.5, []), (3.0, []), (1.5, [4]), (2.5, [])]
    assert len(final_files(tmp_path)) == 1


# ---------------------------------------------------------------------------
# -up and UIDs with white space
# ---------------------------------------------------------------------------

UID_CASES = [(b"1.2.3.4 ", b"1.2.3.4 ", "1.2.3.4"), (b"1.2 .5", b"1.2.5\0", "1.2.5"),
             (b"1.2.6\0", b"1.2.6 ", "1.2.6")]


@pytest.mark.parametrize("kind", ["fastscp", "dcmtk"])
@pytest.mark.parametrize("up", [False, True], ids=["default", "up"])
def test_uid_white_space(spawn, tmp_path, kind, up):
    """White space in the command's and the data set's UIDs is removed
    (dcmdata does it; -up changes nothing): file named after the clean UID,
    status 0, the clean UID echoed."""
    proc = spawn(kind, tmp_path, *(["-up"] if up else []))
    peer = ct_peer(proc.port)
    for i, (cmd_uid, ds_uid, clean) in enumerate(UID_CASES):
        peer.send(store_pdus(small_dataset(instance=ds_uid), instance_raw=cmd_uid, msg_id=i + 1))
        rsp = response(peer)
        assert status_of(rsp) == 0
        assert rsp[0x1000].rstrip(b"\0") == clean.encode()
    release(peer)
    assert sorted(p.name for p in final_files(tmp_path)) == sorted("CT." + c for _, _, c in UID_CASES)
    ds = pydicom.dcmread(tmp_path / "CT.1.2.3.4")
    assert ds.SOPInstanceUID == "1.2.3.4" and ds.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4"


# ---------------------------------------------------------------------------
# command line: values into ServerConfig, combinations
# ---------------------------------------------------------------------------

def _config(argv):
    cmd, st = options.evaluate(argv + ["11112"])
    return cli.build_config(st, cmd)


def test_config_mapping():
    c = _config([])
    assert (c.socket_timeout, c.acse_timeout, c.dimse_timeout) == (60.0, 30.0, None)
    assert c.host_lookup and not (c.refuse or c.ignore or c.abort_after or c.abort_during)
    assert _config(["-ts", "0"]).socket_timeout is None
    assert _config(["-ts", "-1"]).socket_timeout is None
    assert _config(["-ts", "7"]).socket_timeout == 7.0
    c = _config(["-ta", "3", "-td", "4", "-dhl", "--refuse", "--reject", "--ignore", "--sleep-after", "2",
                 "--sleep-during", "5", "--abort-after", "--abort-during", "-up"])
    assert (c.acse_timeout, c.dimse_timeout, c.sleep_after, c.sleep_during) == (3.0, 4.0, 2.0, 5.0)
    assert not c.host_lookup
    assert c.refuse and c.reject_without_implementation_uid and c.ignore
    assert c.abort_after and c.abort_during and c.uid_padding


@pytest.mark.parametrize("argv, message", [
    (["-ts", "-2"], "Invalid value for option --socket-timeout (underflow: -2)"),
    (["-ta", "0"], "Invalid value for option --acse-timeout (underflow: 0)"),
    (["-td", "0"], "Invalid value for option --dimse-timeout (underflow: 0)"),
    (["--sleep-after", "-1"], "Invalid value for option --sleep-after (-1)"),
    (["--sleep-during", "x"], "Invalid value for option --sleep-during (x)"),
])
def test_refused_values_like_storescp(argv, message, tmp_path):
    for prog in ("/usr/bin/storescp", None):
        if prog:
            r = subprocess.run([prog, *argv, "11112"], capture_output=True, text=True, timeout=20,
                               env=DCMTK_ENV, cwd=tmp_path)
            rc, err = r.returncode, r.stderr
        else:
            r = subprocess.run([__import__("sys").executable, "-m", "fastscp", *argv, "11112"],
                               capture_output=True, text=True, timeout=60)
            rc, err = r.returncode, r.stderr
        assert rc == 1 and ("error: " + message) in err.splitlines(), (prog, err)


def test_ignore_needs_no_writeable_directory(monkeypatch, tmp_path, capsys):
    """storescp skips its "not writeable" start-up check with --ignore."""
    import os
    import sys
    import types
    started = []
    fake = types.ModuleType("fastscp.processes")
    fake.serve = started.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastscp.processes", fake)
    real_access = os.access
    monkeypatch.setattr(cli.os, "access",
                        lambda path, mode: False if mode == os.W_OK else real_access(path, mode))
    logger = __import__("logging").getLogger("fastscp")
    state = (list(logger.handlers), logger.level, logger.propagate)
    try:
        assert cli.main(["-od", str(tmp_path), "11112"]) == 1
        assert "F: specified output directory is not writeable" in capsys.readouterr().err
        assert started == []
        assert cli.main(["--ignore", "-od", str(tmp_path), "11112"]) == 0
        assert len(started) == 1 and started[0].ignore
    finally:
        logger.handlers[:] = state[0]
        logger.setLevel(state[1])
        logger.propagate = state[2]


def _pynetdicom_ae():
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, Verification
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae


def test_pynetdicom_refused_and_rejected(make_server):
    for config in (dict(refuse=True), dict(reject_without_implementation_uid=True)):
        srv = make_server(**config)
        ae = _pynetdicom_ae()
        if "reject_without_implementation_uid" in config:
            assoc = ae.associate("127.0.0.1", srv.port)      # pynetdicom sends its class UID
            assert assoc.is_established
            assoc.release()
            continue
        assoc = ae.associate("127.0.0.1", srv.port)
        assert assoc.is_rejected
        rj = assoc.acceptor.primitive
        assert (rj.result, rj.result_source, rj.diagnostic) == (1, 1, 1)


@pytest.mark.parametrize("option", ["abort_after", "abort_during"])
def test_pynetdicom_sees_the_test_abort(make_server, option):
    srv = make_server(**{option: True})
    assoc = _pynetdicom_ae().associate("127.0.0.1", srv.port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    rsp = assoc.send_c_store(pydicom.dcmread(CT_SMALL))
    assert "Status" not in rsp                   # no response: aborted
    assert wait_for(lambda: assoc.is_aborted)
    assert wait_for(lambda: all_files(srv.directory) == [] and not files_being_written(srv.directory))


def test_pynetdicom_ignore(make_server):
    srv = make_server(ignore=True)
    assoc = _pynetdicom_ae().associate("127.0.0.1", srv.port)
    assert assoc.is_established
    assert assoc.send_c_store(pydicom.dcmread(CT_SMALL)).Status == 0
    assoc.release()
    assert all_files(srv.directory) == [] and srv.stored == []


def test_peer_that_stops_reading_is_dropped(make_server):
    """A peer that sends but never reads: once fastscp cannot send for -ts
    seconds it gives up the association (no thread is held forever)."""
    srv = make_server(socket_timeout=0.5)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", srv.port))
    peer = dn.RawPeer.__new__(dn.RawPeer)
    peer.sock, peer.buf = sock, b""
    t, _ = peer.associate([(1, dn.VERIFICATION, [dn.ILE])])
    assert t == 2
    echoes = dn.pdata(1, dn.echo_rq(1), True) * 500
    sock.settimeout(0.2)
    deadline = time.monotonic() + 30
    gone = False
    while time.monotonic() < deadline:
        try:
            sock.sendall(echoes)
        except socket.timeout:
            continue                   # the server is not reading (it is stuck sending)
        except OSError:
            gone = True                # reset: the server closed
            break
    assert gone
    assert wait_for(lambda: not srv.server._conns, timeout=10)
    sock.close()


def test_huge_timeouts(make_server):
    """-ta/-ts/-td take any C long: a huge value means "practically none"."""
    big = float(options.LONG_MAX)
    srv = make_server(acse_timeout=big, socket_timeout=big, dimse_timeout=big)
    peer = ct_peer(srv.port)
    peer.send(store_pdus(small_dataset()))
    assert status_of(response(peer)) == 0
    release(peer)
