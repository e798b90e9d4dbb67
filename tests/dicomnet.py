"""Test helpers: encode the PDUs an SCU sends, and talk to a server over a raw socket.

Written from PS3.8 for the tests; the server under test never uses this code.
"""
from __future__ import annotations

import socket
import struct
import time
from typing import Iterable, List, Optional, Sequence, Tuple

APP_CONTEXT = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ILE, ELE, EBE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"


def item(item_type: int, body: bytes) -> bytes:
    return bytes((item_type, 0)) + struct.pack(">H", len(body)) + body


def pdu(pdu_type: int, body: bytes) -> bytes:
    return bytes((pdu_type, 0)) + struct.pack(">I", len(body)) + body


def associate_rq(contexts: Sequence[Tuple[int, str, Sequence[str]]], *, called: bytes = b"FASTSCP",
                 calling: bytes = b"TESTSCU", max_length: Optional[int] = 16384,
                 impl_uid: Optional[str] = "1.2.3.4", version: int = 1,
                 app_context: str = APP_CONTEXT, extra_user: bytes = b"") -> bytes:
    body = struct.pack(">HH", version, 0) + called.ljust(16)[:16] + calling.ljust(16)[:16] + b"\0" * 32
    body += item(0x10, app_context.encode())
    for ctx_id, abstract, syntaxes in contexts:
        sub = item(0x30, abstract.encode()) + b"".join(item(0x40, ts.encode()) for ts in syntaxes)
        body += item(0x20, bytes((ctx_id, 0, 0, 0)) + sub)
    user = b""
    if max_length is not None:
        user += item(0x51, struct.pack(">I", max_length))
    if impl_uid is not None:
        user += item(0x52, impl_uid.encode())
    user += extra_user
    body += item(0x50, user)
    return pdu(0x01, body)


def release_rq() -> bytes:
    return pdu(0x05, b"\0\0\0\0")


def abort_pdu(source: int = 0, reason: int = 0) -> bytes:
    return pdu(0x07, bytes((0, 0, source, reason)))


def pdata(ctx: int, data: bytes, command: bool, last: bool = True) -> bytes:
    pdv = struct.pack(">I", len(data) + 2) + bytes((ctx, (1 if command else 0) | (2 if last else 0))) + data
    return pdu(0x04, pdv)


def command_set(elements: Iterable[Tuple[int, bytes]]) -> bytes:
    """Implicit VR LE group 0000 from (element, raw value) pairs."""
    body = b"".join(struct.pack("<HHI", 0, el, len(v)) + v for el, v in elements)
    return struct.pack("<HHI", 0, 0, 4) + struct.pack("<I", len(body)) + body


def uid(value: str) -> bytes:
    raw = value.encode()
    return raw + b"\0" if len(raw) % 2 else raw


def us(value: int) -> bytes:
    return struct.pack("<H", value)


def echo_rq(msg_id: int = 1) -> bytes:
    return command_set([(0x0002, uid(VERIFICATION)), (0x0100, us(0x30)), (0x0110, us(msg_id)),
                        (0x0800, us(0x0101))])


def store_rq(sop_class: str, sop_instance: str, msg_id: int = 1) -> bytes:
    return command_set([(0x0002, uid(sop_class)), (0x0100, us(0x01)), (0x0110, us(msg_id)),
                        (0x0700, us(0)), (0x0800, us(0)), (0x1000, uid(sop_instance))])


def parse_pdus(data: bytes) -> List[Tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 6 <= len(data):
        length = struct.unpack(">I", data[pos + 2:pos + 6])[0]
        out.append((data[pos], data[pos + 6:pos + 6 + length]))
        pos += 6 + length
    return out


def parse_ac_results(body: bytes) -> dict:
    """{context id: (result, transfer syntax)} of an A-ASSOCIATE-AC body."""
    pos, out = 68, {}
    while pos < len(body):
        t, length = body[pos], struct.unpack(">H", body[pos + 2:pos + 4])[0]
        if t == 0x21:
            ctx, result = body[pos + 4], body[pos + 6]
            sub = body[pos + 8:pos + 4 + length]
            ts = sub[4:4 + struct.unpack(">H", sub[2:4])[0]].decode().rstrip("\0")
            out[ctx] = (result, ts)
        pos += 4 + length
    return out


def parse_command(data: bytes) -> dict:
    out, pos = {}, 0
    while pos + 8 <= len(data):
        _, el, length = struct.unpack("<HHI", data[pos:pos + 8])
        out[el] = data[pos + 8:pos + 8 + length]
        pos += 8 + length
    return out


class RawPeer:
    """A blocking socket client that speaks bytes, with bounded waits."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0,
                 source: Optional[str] = None):
        """`source`: the local address to connect from (e.g. another loopback address)."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=None if source is None else (source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_pdu(self, timeout: float = 10.0) -> Optional[Tuple[int, bytes]]:
        """The next PDU, or None if the server closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 6:
                length = struct.unpack(">I", self.buf[2:6])[0]
                if len(self.buf) >= 6 + length:
                    p = (self.buf[0], self.buf[6:6 + length])
                    self.buf = self.buf[6 + length:]
                    return p
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete PDU within %.1f s" % timeout)
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk

    def closed_by_peer(self, timeout: float = 10.0) -> bool:
        """True once the server closed the connection (bounded wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not chunk:
                return True
        return False

    def associate(self, contexts, **kw) -> Tuple[int, bytes]:
        self.send(associate_rq(contexts, **kw))
        return self.read_pdu()

    def close(self) -> None:
        self.sock.close()


def associate_from(source: str, port: int, prefix: bytes = b"") -> Optional[int]:
    """Connect from loopback address `source`, send `prefix` (e.g. a PROXY
    protocol header) and a C-ECHO A-ASSOCIATE-RQ in one segment: the type
    of the first PDU answered (then released), or None if the server
    closed the connection without sending a byte."""
    with socket.socket() as s:
        s.bind((source, 0))
        s.settimeout(20)
        s.connect(("127.0.0.1", port))
        try:
            s.sendall(prefix + associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])]))
        except (BrokenPipeError, ConnectionResetError):
            return None
        data = b""
        while len(data) < 6 or len(data) < 6 + int.from_bytes(data[2:6], "big"):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                assert data == b"", "a partial PDU before the close: %r" % data
                return None
            data += chunk
        pdu_type = parse_pdus(data)[0][0]
        if pdu_type == 2:
            s.sendall(release_rq())
            s.recv(65536)
        return pdu_type
