"""fastscp._openssl: TLS records read in C on CPython's own `ssl` objects,
over a real TLS connection (a socket pair, OpenSSL on both ends)."""
from __future__ import annotations

import _ssl
import contextlib
import fcntl
import os
import select
import socket
import ssl
import struct
import termios
import threading
import time

import pytest

from conftest import wait_for
from tlscerts import Certificates

from fastscp import _openssl

BOUND = _openssl.bind(_ssl.__file__)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("certs"))


def _client_context(certs: Certificates) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca)
    return ctx


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext):
    """(server end, client end, whether both completed) of a TLS handshake
    over a socket pair, the client in a thread; both ends blocking."""
    a, b = socket.socketpair()
    server = server_ctx.wrap_socket(a, server_side=True, do_handshake_on_connect=False)
    client = client_ctx.wrap_socket(b, server_hostname="localhost", do_handshake_on_connect=False)
    done = {}

    def client_side() -> None:
        try:
            client.do_handshake()
            done["client"] = True
        except (ssl.SSLError, OSError):
            done["client"] = False

    t = threading.Thread(target=client_side)
    t.start()
    try:
        server.do_handshake()
        done["server"] = True
    except (ssl.SSLError, OSError):
        done["server"] = False
    t.join(10)
    return server, client, done.get("server") is True and done.get("client") is True


class Pair:
    """A TLS connection over a socket pair: `client` blocking, the server
    end non-blocking as fastscp's TLSConnection keeps it."""

    def __init__(self, certs: Certificates) -> None:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(certs.server, certs.server_key)
        self.context = server_ctx
        self.server, self.client, ok = handshake(server_ctx, _client_context(certs))
        assert ok
        self.server.setblocking(False)
        self.native = self.server._sslobj

    def reader(self) -> _openssl.RecordReader:
        return _openssl.RecordReader(self.native, self.native.context, self.server.fileno())

    def close(self) -> None:
        self.client.close()
        self.server.close()


@pytest.fixture
def pair(certs):
    p = Pair(certs)
    yield p
    p.close()


def _send_records(pair: Pair, chunks) -> None:
    for chunk in chunks:
        pair.client.sendall(chunk)          # one TLS record each (<= 16 KiB)


def _wait_bytes(pair: Pair, total: int) -> None:
    """Until the records of `total` plaintext bytes sit in the server's
    socket (their ciphertext is longer)."""
    assert wait_for(lambda: _pending_ciphertext(pair) >= total, timeout=10)


def _pending_ciphertext(pair: Pair) -> int:
    return struct.unpack("i", fcntl.ioctl(pair.server.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def test_bound_through_the_loaded_ssl_module():
    assert BOUND
    assert _openssl.bind(None)              # the first answer stands


def test_reads_every_record_that_arrived_in_one_call(pair):
    chunks = [bytes([i]) * (1000 + i) for i in range(5)]
    _send_records(pair, chunks)
    _wait_bytes(pair, sum(map(len, chunks)))
    buf = bytearray(65536)
    n = pair.reader().read_into(memoryview(buf))
    assert n == sum(map(len, chunks))
    assert bytes(buf[:n]) == b"".join(chunks)


def test_state_says_why_a_read_stopped(pair):
    reader = pair.reader()
    buf = bytearray(3000)
    assert reader.read_into(memoryview(buf)) == 0
    assert reader.state == _openssl.WANT_READ            # nothing arrived
    payload = os.urandom(5000)
    _send_records(pair, [payload])
    _wait_bytes(pair, len(payload))
    assert reader.read_into(memoryview(buf)) == 3000
    assert reader.state == _openssl.FULL                 # the rest stays in OpenSSL
    assert bytes(buf) == payload[:3000]
    assert reader.read_into(memoryview(buf)) == 2000
    assert reader.state == _openssl.WANT_READ
    assert bytes(buf[:2000]) == payload[3000:]
    assert reader.read_into(memoryview(bytearray(0))) == 0
    assert reader.state == _openssl.FULL


def test_large_transfer_across_many_records_is_byte_exact(pair):
    payload = os.urandom(3 * 1024 * 1024 + 7)
    sender = threading.Thread(target=pair.client.sendall, args=(payload,))
    sender.start()
    reader, buf, got = pair.reader(), bytearray(256 * 1024), bytearray()
    deadline = time.monotonic() + 30
    while len(got) < len(payload) and time.monotonic() < deadline:
        n = reader.read_into(memoryview(buf))
        got += buf[:n]
        if reader.state == _openssl.WANT_READ and len(got) < len(payload):
            assert select.select([pair.server], [], [], 10)[0]
    sender.join(10)
    assert bytes(got) == payload


@pytest.mark.parametrize("how", ["close_notify", "end_of_file"])
def test_end_of_the_connection_is_closed(pair, how):
    reader = pair.reader()
    _send_records(pair, [b"last"])
    if how == "close_notify":
        pair.client.settimeout(0.2)         # sent at once; the server never answers it
        with contextlib.suppress(OSError):
            pair.client.unwrap()
    else:
        pair.client.shutdown(socket.SHUT_WR)
    buf = bytearray(100)
    got = bytearray()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        n = reader.read_into(memoryview(buf))
        got += buf[:n]
        if reader.state == _openssl.CLOSED:
            break
        select.select([pair.server], [], [], 1)
    assert reader.state == _openssl.CLOSED and bytes(got) == b"last"


def test_refuses_objects_it_cannot_verify(pair):
    fd = pair.server.fileno()
    with pytest.raises(LookupError):                     # not its context
        _openssl.RecordReader(pair.native, ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), fd)
    with pytest.raises(LookupError):                     # not its socket
        _openssl.RecordReader(pair.native, pair.native.context, pair.client.fileno())
    with pytest.raises(LookupError):                     # too small to be an _ssl socket
        _openssl.RecordReader(b"", pair.native.context, fd)
    with pytest.raises(LookupError):                     # another type
        _openssl.RecordReader(pair.context, pair.native.context, fd)

    class Lookalike:                                     # the context where the layout has it
        __slots__ = ("weak", "pointer", "context")

    fake = Lookalike()
    fake.weak, fake.pointer, fake.context = None, None, pair.native.context
    with pytest.raises(LookupError):
        _openssl.RecordReader(fake, pair.native.context, fd)


# ---------------------------------------------------------------------------
# context settings Python's ssl cannot make
# ---------------------------------------------------------------------------

def _tls13_suites(ctx: ssl.SSLContext):
    return [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"]


def test_tls13_ciphersuites_set_in_order():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    assert "TLS_AES_128_CCM_SHA256" not in _tls13_suites(ctx)          # not by default
    _openssl.set_tls13_ciphersuites(ctx, "TLS_AES_128_CCM_8_SHA256:TLS_AES_256_GCM_SHA384")
    assert _tls13_suites(ctx) == ["TLS_AES_128_CCM_8_SHA256", "TLS_AES_256_GCM_SHA384"]
    with pytest.raises(ValueError):
        _openssl.set_tls13_ciphersuites(ctx, "NOT_A_SUITE")


def test_groups_set_unknown_names_left_out(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server, certs.server_key)
    assert _openssl.set_groups(ctx, ["P-384", "no-such-group", "P-521"]) == ("P-384", "P-521")
    with pytest.raises(ValueError):
        _openssl.set_groups(ctx, ["no-such-group"])
    # what the server then accepts: a client with P-384 and not with P-256 only
    for client_groups, accepted in (("secp384r1", True), ("prime256v1", False)):
        client_ctx = _client_context(certs)
        client_ctx.set_ecdh_curve(client_groups)
        server, client, ok = handshake(ctx, client_ctx)
        server.close()
        client.close()
        assert ok is accepted, client_groups


def test_context_settings_refuse_what_they_cannot_verify():
    with pytest.raises(LookupError):
        _openssl.set_groups(object(), ["P-256"])
    with pytest.raises(LookupError):
        _openssl.set_tls13_ciphersuites(b"x" * 64, "TLS_AES_256_GCM_SHA384")
