"""The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
2), parsed without any I/O.

A TCP load balancer that relays a connection puts this header in front of
the relayed bytes so that the server learns who the sender really is:

* version 1, one line of text, at most 107 bytes with its CRLF:
  ``PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\\r\\n`` (or ``TCP6``, or
  ``UNKNOWN`` followed by anything up to the CRLF);
* version 2, binary: a 12-byte signature, a version/command byte (PROXY,
  or LOCAL for the balancer's own connections such as health checks), an
  address family/transport byte, a 16-bit length, then that many bytes:
  the addresses and ports, and type-length-value extensions (skipped).

`HeaderParser.feed` takes the connection's first bytes as they arrive and
says how many of them belong to the header, so that a caller can take
exactly those from the socket and leave the association's first bytes where
they are (a TLS handshake may follow).  Anything that is not a well-formed
header raises `ProxyHeaderError` as soon as it can be told.
"""
from __future__ import annotations

import ipaddress
import re
import struct
from typing import Optional, Tuple

from fastscp.record import Record

#: the start of a version 1 header
V1_PREFIX = b"PROXY "
#: the longest version 1 header, CRLF included ("PROXY UNKNOWN" with two
#: full IPv6 addresses and ports)
V1_MAX = 107
#: the version 2 signature, and the fixed part of its header
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16
_V2_FIXED = struct.Struct(">12sBBH")

#: version 2 commands (low nibble of the 13th byte; the high one is 2)
V2_LOCAL, V2_PROXY = 0x0, 0x1
#: version 2 address families (high nibble of the 14th byte)
AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX = 0x0, 0x1, 0x2, 0x3
#: version 2 transports (low nibble of the 14th byte)
T_UNSPEC, T_STREAM, T_DGRAM = 0x0, 0x1, 0x2
#: bytes of the address block each family needs at least
_ADDRESS_BLOCK = {AF_INET: 12, AF_INET6: 36, AF_UNIX: 216}

#: a version 1 port: decimal, no leading zero
_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")


class ProxyHeaderError(ValueError):
    """The bytes are not a well-formed PROXY protocol header."""


Address = Tuple[str, int]


class ProxyHeader(Record, frozen=True):
    """A parsed header."""

    #: 1 (text) or 2 (binary)
    version: int
    #: the sender's (address, port); None when the header carries none the
    #: server can use (v2 LOCAL, v1 UNKNOWN, v2 UNSPEC or AF_UNIX): the
    #: connection's own peer address stands
    source: Optional[Address]
    #: the address and port the sender connected to (None as for `source`)
    destination: Optional[Address]
    #: bytes of the header, signature to last extension byte (or CRLF)
    length: int
    #: what the header announced, for log lines: "TCP4", "TCP6", "UNKNOWN"
    #: (v1), "PROXY TCP4"... "LOCAL" (v2)
    kind: str


class HeaderParser:
    """Collects the header from the connection's first bytes.

    >>> parser = HeaderParser()
    >>> parser.feed(b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\\r\\n\\x01\\x00")
    45
    >>> parser.header.source
    ('192.0.2.7', 40000)
    """

    def __init__(self) -> None:
        self._data = b""
        #: the header, once complete
        self.header: Optional[ProxyHeader] = None

    @property
    def received(self) -> int:
        """Bytes of the header taken so far."""
        return len(self._data)

    def wanted(self) -> int:
        """The most bytes the header may still need: a read (peek) of this
        many bytes always reaches its end or the next decision."""
        data = self._data
        if self.header is not None:
            return 0
        if data.startswith(V2_SIGNATURE[:len(data)]) and data:
            if len(data) < V2_FIXED:
                return V2_FIXED - len(data)
            return V2_FIXED + _v2_fixed(data)[2] - len(data)
        # v1, or not known yet (a v2 header takes only its own bytes of these)
        return V1_MAX - len(data)

    def feed(self, data: bytes) -> int:
        """Take the next bytes of the connection; returns how many of them
        belong to the header (the rest belongs to the association and was
        not taken).  Sets `header` once it is complete; raises
        ProxyHeaderError for bytes that cannot start or continue one."""
        if self.header is not None or not data:
            return 0
        before = len(self._data)
        seen = self._data + data
        if seen.startswith(V2_SIGNATURE[:len(seen)]):
            taken = _feed_v2(seen)
        elif seen.startswith(V1_PREFIX[:len(seen)]):
            taken = _feed_v1(seen)
        else:
            raise ProxyHeaderError("no PROXY protocol signature (first bytes %r)"
                                   % seen[:_first_difference(seen) + 1])
        self._data = seen[:taken]
        self.header = _complete(self._data)
        return taken - before


def parse(data: bytes) -> ProxyHeader:
    """The header at the start of `data` (bytes after it are ignored);
    ProxyHeaderError if it is malformed or incomplete."""
    parser = HeaderParser()
    parser.feed(data)
    if parser.header is None:
        raise ProxyHeaderError("incomplete PROXY protocol header (%d bytes)" % parser.received)
    return parser.header


def _first_difference(seen: bytes) -> int:
    """Where `seen` leaves the signature it starts like (the same however
    the bytes arrived, so the refusal reads the same)."""
    signature = V1_PREFIX if seen[:1] == V1_PREFIX[:1] else V2_SIGNATURE
    return next(i for i, (a, b) in enumerate(zip(seen, signature)) if a != b)


def _feed_v1(seen: bytes) -> int:
    """How many bytes of `seen` (a prefix of a v1 header so far) are the header's."""
    end = seen.find(b"\n")
    # the line so far: bytes after its LF belong to the association
    cr = (seen if end == -1 else seen[:end + 1]).find(b"\r")
    if cr != -1 and (cr + 1 < len(seen) and seen[cr + 1] != 0x0A):
        raise ProxyHeaderError("version 1 header: CR without LF")
    if end != -1:
        if end == 0 or seen[end - 1] != 0x0D:
            raise ProxyHeaderError("version 1 header: LF without CR")
        if end + 1 > V1_MAX:
            raise ProxyHeaderError("version 1 header longer than %d bytes" % V1_MAX)
        return end + 1
    if len(seen) >= V1_MAX:
        raise ProxyHeaderError("version 1 header: no CRLF within %d bytes" % V1_MAX)
    return len(seen)


def _feed_v2(seen: bytes) -> int:
    """How many bytes of `seen` (a prefix of a v2 header so far) are the header's."""
    if len(seen) < V2_FIXED:
        return len(seen)
    ver_cmd, fam, length = _v2_fixed(seen)
    if ver_cmd >> 4 != 2:
        raise ProxyHeaderError("version 2 signature with version %d" % (ver_cmd >> 4))
    if ver_cmd & 0xF not in (V2_LOCAL, V2_PROXY):
        raise ProxyHeaderError("version 2 header: unknown command %d" % (ver_cmd & 0xF))
    family, transport = fam >> 4, fam & 0xF
    if family > AF_UNIX or transport > T_DGRAM:
        raise ProxyHeaderError("version 2 header: unknown address family/transport 0x%02x" % fam)
    if ver_cmd & 0xF == V2_PROXY and length < _ADDRESS_BLOCK.get(family, 0):
        raise ProxyHeaderError("version 2 header: %d address bytes are too few for family %d"
                               % (length, family))
    return min(len(seen), V2_FIXED + length)


def _complete(data: bytes) -> Optional[ProxyHeader]:
    """The header if `data` (the header's bytes so far) is all of it."""
    if data.startswith(V1_PREFIX) and data.endswith(b"\r\n"):
        return _parse_v1(data)
    if len(data) >= V2_FIXED and data.startswith(V2_SIGNATURE):
        if len(data) == V2_FIXED + _v2_fixed(data)[2]:
            return _parse_v2(data)
    return None


def _parse_v1(line: bytes) -> ProxyHeader:
    fields = line[len(V1_PREFIX):-2].split(b" ")
    protocol = fields[0]
    if protocol == b"UNKNOWN":
        # whatever follows up to the CRLF is to be ignored
        return ProxyHeader(1, None, None, len(line), "UNKNOWN")
    if protocol not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError("version 1 header: unknown protocol %r" % protocol[:16])
    if len(fields) != 5:
        raise ProxyHeaderError("version 1 header: %d fields after %s, not 4"
                               % (len(fields) - 1, protocol.decode()))
    family = ipaddress.IPv4Address if protocol == b"TCP4" else ipaddress.IPv6Address
    source = (_v1_address(fields[1], family), _v1_port(fields[3]))
    destination = (_v1_address(fields[2], family), _v1_port(fields[4]))
    return ProxyHeader(1, source, destination, len(line), protocol.decode())


def _v1_address(text: bytes, family: type) -> str:
    try:
        decoded = text.decode("ascii")
        if "%" in decoded:              # a scope (zone) is no part of the format
            raise ValueError(decoded)
        return _shown(family(decoded))
    except ValueError:
        raise ProxyHeaderError("version 1 header: bad %s address %r"
                               % ("IPv4" if family is ipaddress.IPv4Address else "IPv6",
                                  text[:48])) from None


def _v1_port(text: bytes) -> int:
    if _PORT.fullmatch(text) is None or int(text) > 65535:
        raise ProxyHeaderError("version 1 header: bad port %r" % text[:8])
    return int(text)


def _v2_fixed(data: bytes) -> Tuple[int, int, int]:
    """Version/command, family/transport and length of a v2 header's fixed part."""
    _signature, ver_cmd, fam, length = _V2_FIXED.unpack_from(data)
    return int(ver_cmd), int(fam), int(length)


def _parse_v2(data: bytes) -> ProxyHeader:
    ver_cmd, fam, _length = _v2_fixed(data)
    if ver_cmd & 0xF == V2_LOCAL:
        return ProxyHeader(2, None, None, len(data), "LOCAL")
    family, transport = fam >> 4, fam & 0xF
    if family in (AF_INET, AF_INET6) and transport != T_UNSPEC:
        size = 4 if family == AF_INET else 16
        block = data[V2_FIXED:V2_FIXED + 2 * size + 4]
        src = ipaddress.ip_address(block[:size])
        dst = ipaddress.ip_address(block[size:2 * size])
        src_port, dst_port = struct.unpack_from(">HH", block, 2 * size)
        name = ("TCP" if transport == T_STREAM else "UDP") + ("4" if family == AF_INET else "6")
        return ProxyHeader(2, (_shown(src), src_port), (_shown(dst), dst_port), len(data),
                           "PROXY " + name)
    # AF_UNSPEC, AF_UNIX (a path is no peer address) or an unspecified
    # transport: the spec lets the receiver fall back to the connection's own
    return ProxyHeader(2, None, None, len(data),
                       "PROXY " + {AF_UNSPEC: "UNSPEC", AF_UNIX: "UNIX"}.get(family, "UNSPEC"))


def _shown(address: "ipaddress.IPv4Address | ipaddress.IPv6Address") -> str:
    """An address as the server shows a peer: an IPv4-mapped IPv6 address
    (a balancer listening on IPv6) in dotted form, as the sender's own."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
