"""--proxy-protocol: connections from a load balancer's address begin with
a PROXY protocol header whose sender stands for the peer (fastscp.balancer),
in every way fastscp serves connections: the embedded Server, the worker
pool, --single-process, --fork and --inetd.  The peers are hand-written
sockets bound to loopback addresses (127.0.0.x) sending v1 or v2 headers."""
from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from conftest import ECHOSCU, DCMTK_ENV, wait_for
from dicomnet import VERIFICATION, associate_from, associate_rq, release_rq

from fastscp import ServerConfig, access, cli
from fastscp.errors import ConfigError
from fastscp.proxyheader import V2_SIGNATURE

ECHO_RQ = associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])])


def v1(source: str, port: int = 40000) -> bytes:
    family = "TCP4" if ipaddress.ip_address(source).version == 4 else "TCP6"
    other = "127.0.0.1" if family == "TCP4" else "::1"
    return ("PROXY %s %s %s %d 104\r\n" % (family, source, other, port)).encode()


def v2(source: Optional[str], port: int = 40000) -> bytes:
    """A v2 PROXY header for TCP from `source`; None: a LOCAL one (health check)."""
    if source is None:
        return V2_SIGNATURE + b"\x20\x00\x00\x00"
    src = ipaddress.ip_address(source)
    dst = ipaddress.ip_address("127.0.0.1" if src.version == 4 else "::1")
    block = src.packed + dst.packed + struct.pack(">HH", port, 104)
    block += b"\x04\x00\x05dicom"       # a TLV (PP2_TYPE_NOOP), skipped
    return (V2_SIGNATURE + bytes([0x21, 0x11 if src.version == 4 else 0x21])
            + struct.pack(">H", len(block)) + block)


def closed_without_answer(port: int, first: bytes, source: str = "127.0.0.1") -> bool:
    """`first` sent (then nothing): the server closes without sending a byte."""
    with socket.socket() as s:
        s.bind((source, 0))
        s.settimeout(20)
        s.connect(("127.0.0.1", port))
        s.sendall(first)
        try:
            return s.recv(65536) == b""
        except ConnectionResetError:
            return True


# -- configuration ------------------------------------------------------------------

def test_option_sets_the_balancers():
    cmd = cli.opts.parse(["--proxy-protocol", "127.0.0.1, 10.0.0.0/8,2001:db8::5", "104"])
    st = cli.opts.check_rest(cmd, "warn")
    config = cli.build_config(st, cmd)
    assert config.proxy_protocol == ("127.0.0.1", "10.0.0.0/8", "2001:db8::5")
    assert ServerConfig().proxy_protocol == ()          # off by default


@pytest.mark.parametrize("value", ["bogus", "127.0.0.1,", "10.0.0.0/33", "balancer.example.org", ""])
def test_a_bad_address_is_refused_by_cli_and_library(value, tmp_path):
    from test_cli import run_ours
    rc, _, err = run_ours(["--proxy-protocol", value, "-od", str(tmp_path), "11112"])
    bad = [item.strip() for item in value.split(",") if not _is_network(item.strip())][0]
    message = "Invalid value for option --proxy-protocol (%s)" % bad
    assert rc == 1 and "error: " + message in err
    items = tuple(item.strip() for item in value.split(","))
    with pytest.raises(ConfigError, match=r"^%s$" % message.replace("(", r"\(").replace(")", r"\)")):
        ServerConfig(proxy_protocol=items).validate()


def _is_network(text):
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


def test_a_string_is_no_address_tuple():
    with pytest.raises(ConfigError, match="proxy_protocol must be a tuple"):
        ServerConfig(proxy_protocol="127.0.0.1").validate()   # type: ignore[arg-type]


# -- the embedded server ------------------------------------------------------------

@pytest.fixture
def proxied(make_server):
    """An embedded server with 127.0.0.1 as its balancer: (server, accepted AssociationInfos)."""
    def start(balancers=("127.0.0.1",), **config):
        infos = []
        srv = make_server(proxy_protocol=balancers, host_lookup=False,
                          hooks={"on_association_accepted": infos.append}, **config)
        return srv, infos
    return start


@pytest.mark.parametrize("header", [v1, v2], ids=["v1", "v2"])
def test_sender_in_header_is_the_peer(proxied, header):
    srv, infos = proxied()
    assert associate_from("127.0.0.1", srv.port, header("192.0.2.7", 40001)) == 2
    assert associate_from("127.0.0.1", srv.port, header("2001:db8::7", 40002)) == 2
    assert [(i.peer_address, i.peer_port) for i in infos] == [("192.0.2.7", 40001),
                                                              ("2001:db8::7", 40002)]


def test_header_and_request_in_separate_segments(proxied):
    srv, infos = proxied()
    with socket.socket() as s:
        s.settimeout(20)
        s.connect(("127.0.0.1", srv.port))
        header = v1("192.0.2.9")
        s.sendall(header[:10])
        time.sleep(0.05)        # let the server see a partial header (it must wait for the rest)
        s.sendall(header[10:])
        s.sendall(ECHO_RQ)
        assert s.recv(1) == b"\x02"
    assert wait_for(lambda: [i.peer_address for i in infos] == ["192.0.2.9"])


@pytest.mark.parametrize("header", [v2(None), b"PROXY UNKNOWN\r\n"], ids=["v2-LOCAL", "v1-UNKNOWN"])
def test_local_and_unknown_keep_the_balancers_address(proxied, header):
    srv, infos = proxied()
    assert associate_from("127.0.0.1", srv.port, header) == 2
    assert [i.peer_address for i in infos] == ["127.0.0.1"]


def test_other_peers_are_served_as_usual(proxied):
    srv, infos = proxied(balancers=("127.0.0.1",))
    assert associate_from("127.0.0.2", srv.port) == 2
    assert [i.peer_address for i in infos] == ["127.0.0.2"]
    # ... and one that sends a header is not a balancer: the header is no PDU
    assert associate_from("127.0.0.2", srv.port, v1("192.0.2.7")) != 2


def test_networks_name_balancers(proxied):
    srv, infos = proxied(balancers=("127.0.0.0/29",))
    assert associate_from("127.0.0.5", srv.port, v2("192.0.2.1")) == 2
    assert associate_from("127.0.0.9", srv.port) == 2
    assert [i.peer_address for i in infos] == ["192.0.2.1", "127.0.0.9"]


@pytest.mark.parametrize("first,reason", [
    (ECHO_RQ, "no PROXY protocol signature"),
    (b"PROXY TCP4 192.0.2.07 127.0.0.1 1 2\r\n" + ECHO_RQ, "bad IPv4 address"),
    (V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\x00" * 4 + ECHO_RQ, "too few"),
])
def test_balancer_without_valid_header_is_refused(proxied, caplog, first, reason):
    srv, infos = proxied()
    with caplog.at_level(logging.DEBUG, logger="fastscp"):
        assert closed_without_answer(srv.port, first)
        assert wait_for(lambda: any(reason in r.getMessage() for r in caplog.records))
    refusal = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refusal[0].levelno == logging.ERROR
    assert refusal[0].getMessage().startswith(
        "PROXY protocol header from load balancer 127.0.0.1 refused: ")
    assert infos == []
    assert associate_from("127.0.0.1", srv.port, v1("192.0.2.7")) == 2       # the server goes on


def test_truncated_header_and_timeout_are_logged(proxied, caplog):
    srv, infos = proxied(acse_timeout=1)
    with caplog.at_level(logging.DEBUG, logger="fastscp"):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
            s.sendall(b"PROXY TCP4 192.0")
            start = time.monotonic()
            assert s.recv(1) == b""         # closed by the server at the deadline
            assert 0.5 < time.monotonic() - start < 10
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
            s.sendall(v2("192.0.2.7")[:20])
        assert wait_for(lambda: len([r for r in caplog.records if r.levelno >= logging.ERROR]) >= 2)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "no complete header within 1 seconds (16 bytes received)" in errors[0]
    assert "connection closed after 20 bytes of the header" in errors[1]
    assert infos == []


def test_health_check_close_is_quiet(proxied, caplog):
    """A balancer's TCP check (connect and close, with or without a LOCAL
    header) logs nothing above debug level."""
    srv, _ = proxied()
    with caplog.at_level(logging.DEBUG, logger="fastscp"):
        for first in (b"", v2(None)):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
                s.sendall(first)
        assert wait_for(lambda: len([r for r in caplog.records
                                     if "closed before" in r.getMessage()]) == 2)
        assert associate_from("127.0.0.1", srv.port, v2(None)) == 2
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG
            and "Association" not in r.getMessage()] == []
    assert all(r.levelno <= logging.INFO for r in caplog.records)


def test_header_comes_before_tls(proxied, tmp_path):
    """With TLS the header is read first, then the handshake on the bytes after it."""
    import ssl

    from tlscerts import Certificates
    certs = Certificates(tmp_path / "certs")
    srv, infos = proxied(tls_key_cert=(certs.server_key, certs.server), tls_peer_cert="ignore")
    context = ssl.create_default_context(cafile=certs.ca)
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as raw:
        raw.sendall(v2("198.51.100.4"))
        with context.wrap_socket(raw) as s:
            s.sendall(ECHO_RQ)
            assert s.recv(1) == b"\x02"
    assert wait_for(lambda: [i.peer_address for i in infos] == ["198.51.100.4"])


# -- the command line's process models --------------------------------------------

#: a process model, its options; the --inetd one is run by `inetd_once`
MODELS = {"pool": [], "single": ["--single-process"], "fork": ["--fork"]}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_process_models_honour_the_header(spawn, tmp_path, model):
    out = tmp_path / "out"
    out.mkdir()
    srv = spawn("fastscp", out, *MODELS[model], "-d", "-dhl", "--proxy-protocol", "127.0.0.1")
    assert associate_from("127.0.0.1", srv.port, v1("192.0.2.7")) == 2
    assert associate_from("127.0.0.1", srv.port, v2("2001:db8::9")) == 2
    assert associate_from("127.0.0.3", srv.port) == 2            # no balancer
    assert closed_without_answer(srv.port, ECHO_RQ)                         # balancer, no header
    _, err = srv.stop()
    received = [line for line in err.splitlines() if line.startswith("D: Association Received: ")]
    assert received == ["D: Association Received: 192.0.2.7", "D: Association Received: 2001:db8::9",
                        "D: Association Received: 127.0.0.3"], err
    assert ("E: PROXY protocol header from load balancer 127.0.0.1 refused: no PROXY protocol "
            "signature (first bytes %r); connection closed" % ECHO_RQ[:1]) in err


@pytest.mark.parametrize("model", sorted(MODELS))
def test_process_models_bound_the_header_by_acse_timeout(spawn, tmp_path, model):
    out = tmp_path / "out"
    out.mkdir()
    srv = spawn("fastscp", out, *MODELS[model], "-ta", "1", "--proxy-protocol", "127.0.0.1")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
        s.sendall(b"PROXY TCP4 192.0")
        start = time.monotonic()
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
        assert 0.5 < time.monotonic() - start < 10
    assert associate_from("127.0.0.1", srv.port, v1("192.0.2.7")) == 2     # still serving
    _, err = srv.stop()
    assert err.splitlines() == ["E: PROXY protocol header from load balancer 127.0.0.1 refused: "
                                "no complete header within 1 seconds (16 bytes received); "
                                "connection closed"]


LOG_CONFIG = """\
log4cplus.rootLogger = DEBUG, file
log4cplus.appender.file = log4cplus::FileAppender
log4cplus.appender.file.File = {path}
log4cplus.appender.file.layout = log4cplus::PatternLayout
log4cplus.appender.file.layout.ConversionPattern = %p: %m%n
"""


def inetd_once(tmp_path: Path, first: bytes, source: str, *options: str):
    """A minimal inetd: accept one connection from `source` (which sends
    `first`), run fastscp --inetd on it; (answered PDU type, log text)."""
    log_file = tmp_path / "inetd.log"
    config = tmp_path / "log.cfg"
    config.write_text(LOG_CONFIG.format(path=log_file))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.socket() as client:
            client.bind((source, 0))
            client.settimeout(30)
            client.connect(("127.0.0.1", port))
            conn, _ = listener.accept()
            with conn:
                server = subprocess.Popen([sys.executable, "-m", "fastscp", "--inetd", "-lc",
                                           str(config), "-dhl", *options, "-od", str(out)],
                                          stdin=conn)
            client.sendall(first)
            try:
                answer = client.recv(1)
            except ConnectionResetError:        # closed with the request unread
                answer = b""
            if answer == b"\x02":
                client.sendall(release_rq())
                client.recv(65536)
    assert server.wait(timeout=30) == 0
    log = log_file.read_text()
    log_file.unlink()
    return (answer[0] if answer else None), log


def test_inetd_honours_the_header(tmp_path):
    balancer = ("--proxy-protocol", "127.0.0.1")
    answer, log = inetd_once(tmp_path, v1("192.0.2.7") + ECHO_RQ, "127.0.0.1", *balancer)
    assert answer == 2 and "DEBUG: Association Received: 192.0.2.7\n" in log
    answer, log = inetd_once(tmp_path, ECHO_RQ, "127.0.0.4", *balancer)
    assert answer == 2 and "DEBUG: Association Received: 127.0.0.4\n" in log
    answer, log = inetd_once(tmp_path, ECHO_RQ, "127.0.0.1", *balancer)
    assert answer is None and "ERROR: PROXY protocol header from load balancer 127.0.0.1 refused" in log


# -- +ac decides on the sender ----------------------------------------------------------

def test_access_control_checks_the_sender(tmp_path):
    from test_access_control import Tables, _namespaces_work
    if not access.available() or not _namespaces_work():
        pytest.skip("+ac needs libwrap, root and unshare --mount")
    # the balancer itself (127.0.0.1) is denied; of the senders only 192.0.2.7 is allowed
    tables = Tables(tmp_path, "storescp: 192.0.2.7\n", "storescp: ALL\n")
    out = tmp_path / "out"
    out.mkdir()
    for model in ([], ["--single-process"]):
        srv = tables.start("fastscp", out, *model, "+ac", "-dhl", "--proxy-protocol", "127.0.0.1")
        try:
            assert associate_from("127.0.0.1", srv.port, v2("192.0.2.7")) == 2
            assert closed_without_answer(srv.port, v2("192.0.2.8") + ECHO_RQ)
            srv.wait_denials(1)
        finally:
            srv.stop()
        assert srv.denials() == ["E: Receiving Association failed: 0006:0324 TCP wrapper: "
                                 "denied connection from unknown (192.0.2.8)"], (model, srv.stderr)


def test_echoscu_through_a_v1_relay(spawn, tmp_path):
    """A real DICOM client behind a relay written here (one connection,
    header first), as a balancer would do it."""
    out = tmp_path / "out"
    out.mkdir()
    srv = spawn("fastscp", out, "-d", "-dhl", "--proxy-protocol", "127.0.0.1")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        relay_port = listener.getsockname()[1]
        client = subprocess.Popen([ECHOSCU, "127.0.0.1", str(relay_port)], env=DCMTK_ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        listener.settimeout(30)
        down, (peer, peer_port) = listener.accept()
        with down, socket.create_connection(("127.0.0.1", srv.port), timeout=30) as up:
            up.sendall(("PROXY TCP4 %s 127.0.0.1 %d %d\r\n" % (peer, peer_port, relay_port)).encode())
            _relay(down, up)
        assert client.wait(timeout=30) == 0
    _, err = srv.stop()
    assert "D: Association Received: 127.0.0.1" in err
    assert "D: PROXY protocol v1 header (TCP4) from load balancer 127.0.0.1: peer 127.0.0.1 port %d" \
        % peer_port in err


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, b)
    sel.register(b, selectors.EVENT_READ, a)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for key, _ in sel.select(1):
            data = key.fileobj.recv(65536)
            if not data:
                return
            key.data.sendall(data)
