"""Fuzz target: fastscp._openssl.RecordReader (TLS records read in C on
CPython's `ssl` objects), on a real TLS 1.3 connection over a socket pair.

Input layout:

  byte 0    mode: even = the rest is sent as application data by the TLS
            client, odd = the rest is written raw into the socket after the
            handshake (forged or broken records)
  byte 1    the reader's buffer size, 1..256 bytes (small buffers stop
            reads in the middle of records)
  byte 2    chunking seed (fuzzutil.chunks): how the bytes are sent
  bytes 3.. the bytes

Every input gets a fresh connection (a handshake; keys and certificate are
made once, with the openssl command line).  Oracles:

* `read_into` returns 0..len(buffer) and a state of FULL, WANT_READ,
  WANT_WRITE or CLOSED; FULL exactly when it filled the buffer;
* application data comes out exactly as sent, whatever the pieces and the
  buffer size;
* raw bytes never come out as plaintext (they are not records under the
  connection's keys);
* the client's end of file ends every input CLOSED, and a reader that
  said CLOSED says it again.
"""
from __future__ import annotations

import _ssl
import os
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzutil  # noqa: E402
from fuzzutil import check  # noqa: E402

with atheris.instrument_imports(include=["fastscp"]):
    from fastscp import _openssl

STATES = (_openssl.FULL, _openssl.WANT_READ, _openssl.WANT_WRITE, _openssl.CLOSED)


def _contexts():
    d = tempfile.mkdtemp(prefix="fastscp-fuzz-tls-")
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=fuzz"], check=True, capture_output=True)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    server.num_tickets = 0          # nothing for the client to read after the handshake
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    return server, client


SERVER_CTX, CLIENT_CTX = _contexts()
check(_openssl.bind(_ssl.__file__), "OpenSSL's functions not found through _ssl")


def connect():
    """(server SSLSocket, non-blocking, handshake done; client SSLSocket)."""
    a, b = socket.socketpair()
    server = SERVER_CTX.wrap_socket(a, server_side=True, do_handshake_on_connect=False)
    result = {}

    def client_side() -> None:
        result["client"] = CLIENT_CTX.wrap_socket(b)

    t = threading.Thread(target=client_side)
    t.start()
    server.do_handshake()
    t.join(10)
    check("client" in result, "the handshake did not complete")
    server.setblocking(False)
    return server, result["client"]


def read_all(reader, server, size: int):
    """(plaintext, final state): read until CLOSED, or until nothing more
    arrives for 5 s."""
    buf, out = bytearray(size), bytearray()
    while True:
        n = reader.read_into(memoryview(buf))
        state = reader.state
        check(0 <= n <= size, "read %d into %d bytes" % (n, size))
        check(state in STATES, "state %r" % state)
        check((state == _openssl.FULL) == (n == size), "state %d after %d of %d" % (state, n, size))
        out += buf[:n]
        if state == _openssl.CLOSED:
            check(reader.read_into(memoryview(buf)) == 0 and reader.state == _openssl.CLOSED,
                  "a closed reader read again")
            return bytes(out), state
        if state != _openssl.FULL and not select.select([server], [], [], 5)[0]:
            return bytes(out), state            # the sender's end of file never came


def TestOneInput(data: bytes) -> None:
    if len(data) < 3:
        return
    raw, size, seed, payload = data[0] & 1, 1 + data[1], data[2] & 15, data[3:]
    server, client = connect()
    try:
        reader = _openssl.RecordReader(server._sslobj, server._sslobj.context, server.fileno())

        def send() -> None:
            try:
                for piece in fuzzutil.chunks(payload, seed):
                    if raw:
                        os.write(client.fileno(), piece)    # beside TLS, on its socket
                    elif piece:
                        client.sendall(piece)
            except OSError:
                pass                    # the reader gave up: its oracle reports it
            finally:
                client.close()          # end of file, no close_notify

        sender = threading.Thread(target=send)
        sender.start()
        try:
            got, state = read_all(reader, server, size)
        finally:
            server.shutdown(socket.SHUT_RDWR)       # unblocks a sender left waiting
            sender.join(10)
        check(state == _openssl.CLOSED, "state %d at the end of the connection" % state)
        if raw:
            check(got == b"", "raw bytes read as plaintext: %r" % got[:32])
        else:
            check(got == payload, "read %d bytes, sent %d" % (len(got), len(payload)))
    finally:
        server.close()


if __name__ == "__main__":
    fuzzutil.instrument_module(globals())
    fuzzutil.main(TestOneInput)
