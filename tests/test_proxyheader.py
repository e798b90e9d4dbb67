"""fastscp.proxyheader: the PROXY protocol v1/v2 parser, without sockets."""
import ipaddress
import socket
import struct

import pytest

from fastscp.proxyheader import (
    V1_MAX, V2_SIGNATURE, HeaderParser, ProxyHeader, ProxyHeaderError, parse,
)

#: the first bytes of an association after the header (an A-ASSOCIATE-RQ's)
AFTER = b"\x01\x00\x00\x00\x00\xcd"


def v2(command=1, family=0x11, block=b"", version=2, length=None):
    """A version 2 header: command 1 = PROXY, 0 = LOCAL; family/transport byte."""
    return (V2_SIGNATURE + bytes([version << 4 | command, family])
            + struct.pack(">H", len(block) if length is None else length) + block)


def inet(src, dst, sport, dport):
    packed = [ipaddress.ip_address(a).packed for a in (src, dst)]
    return packed[0] + packed[1] + struct.pack(">HH", sport, dport)


def tlv(kind, value):
    return bytes([kind]) + struct.pack(">H", len(value)) + value


def feed_all(data, piece=None):
    """Feed `data` as a socket would deliver it (in pieces of `piece` bytes,
    bytes not taken are offered again); (header, bytes taken)."""
    parser = HeaderParser()
    taken = 0
    arrived = len(data) if piece is None else 0
    while parser.header is None:
        if piece is not None:
            arrived = min(len(data), arrived + piece)
        window = data[taken:min(arrived, taken + parser.wanted())]
        assert parser.wanted() > 0
        if not window:
            raise ProxyHeaderError("incomplete")
        taken += parser.feed(window)
    assert parser.received == taken
    return parser.header, taken


# -- version 1 ------------------------------------------------------------------

def test_v1_tcp4():
    line = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\r\n"
    header, taken = feed_all(line + AFTER)
    assert header == ProxyHeader(1, ("192.0.2.7", 40000), ("198.51.100.1", 104), len(line), "TCP4")
    assert taken == len(line)                   # the association's bytes are left


def test_v1_tcp6():
    line = b"PROXY TCP6 2001:db8::7 2001:DB8:0:0:0:0:0:1 65535 0\r\n"
    header = parse(line + AFTER)
    assert header.source == ("2001:db8::7", 65535)
    assert header.destination == ("2001:db8::1", 0)
    assert header.kind == "TCP6" and header.length == len(line)


def test_v1_tcp6_ipv4_mapped_is_shown_as_ipv4():
    header = parse(b"PROXY TCP6 ::ffff:192.0.2.9 ::1 1 2\r\n")
    assert header.source == ("192.0.2.9", 1)


@pytest.mark.parametrize("line", [
    b"PROXY UNKNOWN\r\n",
    b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",     # 107 bytes, the longest
    b"PROXY UNKNOWN anything at all\r\n",
])
def test_v1_unknown_keeps_the_connection_address(line):
    header, taken = feed_all(line + AFTER)
    assert header.source is None and header.destination is None and header.kind == "UNKNOWN"
    assert taken == len(line) <= V1_MAX


def test_v1_longest_line_is_107_bytes():
    line = (b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
            b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n")
    assert len(line) == V1_MAX == 107
    with pytest.raises(ProxyHeaderError, match="107"):
        parse(line[:-2] + b"0\r\n")             # one byte more


def test_v1_without_crlf_within_107_bytes():
    with pytest.raises(ProxyHeaderError, match="no CRLF within 107"):
        parse(b"PROXY UNKNOWN " + b"x" * 200)
    parser = HeaderParser()
    assert parser.feed(b"PROXY UNKNOWN " + b"x" * 92) == 106     # one short: still waiting
    assert parser.header is None and parser.wanted() == 1
    with pytest.raises(ProxyHeaderError):
        parser.feed(b"x")


@pytest.mark.parametrize("line,reason", [
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\n", "LF without CR"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\rX\n", "CR without LF"),
    # a CR after the lone LF is the association's (the fuzzer's first finding)
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\n0\r06", "LF without CR"),
    (b"PROXY TCP5 192.0.2.7 198.51.100.1 40000 104\r\n", "unknown protocol"),
    (b"PROXY tcp4 192.0.2.7 198.51.100.1 40000 104\r\n", "unknown protocol"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40000\r\n", "fields"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104 7\r\n", "fields"),
    (b"PROXY TCP4  192.0.2.7 198.51.100.1 40000 104\r\n", "fields"),      # two spaces
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104 \r\n", "fields"),
    (b"PROXY TCP4 192.0.2.07 198.51.100.1 40000 104\r\n", "bad IPv4"),   # leading zero
    (b"PROXY TCP4 192.0.2 198.51.100.1 40000 104\r\n", "bad IPv4"),
    (b"PROXY TCP4 2001:db8::1 198.51.100.1 40000 104\r\n", "bad IPv4"),  # family mismatch
    (b"PROXY TCP6 192.0.2.7 ::1 40000 104\r\n", "bad IPv6"),
    (b"PROXY TCP6 fe80::1%eth0 ::1 40000 104\r\n", "bad IPv6"),          # no zones
    (b"PROXY TCP6 2001:db8::1::2 ::1 40000 104\r\n", "bad IPv6"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 040000 104\r\n", "bad port"),   # leading zero
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 104\r\n", "bad port"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 -1 104\r\n", "bad port"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 +104\r\n", "bad port"),
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 4\xd9\xa20 104\r\n", "bad port"),  # non-ASCII digit
    (b"PROXY TCP4 192.0.2.\xff 198.51.100.1 40000 104\r\n", "bad IPv4"),
    (b"PROXY \r\n", "unknown protocol"),
])
def test_v1_malformed(line, reason):
    with pytest.raises(ProxyHeaderError, match=reason):
        parse(line)


def test_v1_zero_ports_and_addresses_are_valid():
    assert parse(b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n").source == ("0.0.0.0", 0)


# -- version 2 ------------------------------------------------------------------

def test_v2_proxy_tcp4():
    data = v2(block=inet("192.0.2.7", "198.51.100.1", 40000, 104))
    header, taken = feed_all(data + AFTER)
    assert header == ProxyHeader(2, ("192.0.2.7", 40000), ("198.51.100.1", 104), 28, "PROXY TCP4")
    assert taken == 28


def test_v2_proxy_tcp6():
    data = v2(family=0x21, block=inet("2001:db8::7", "2001:db8::1", 1, 65535))
    header = parse(data)
    assert header.source == ("2001:db8::7", 1) and header.destination == ("2001:db8::1", 65535)
    assert header.kind == "PROXY TCP6" and header.length == 16 + 36


def test_v2_ipv4_mapped_source_is_shown_as_ipv4():
    assert parse(v2(family=0x21, block=inet("::ffff:192.0.2.8", "::1", 5, 6))).source == ("192.0.2.8", 5)


def test_v2_tlvs_are_skipped():
    block = (inet("192.0.2.7", "198.51.100.1", 40000, 104)
             + tlv(0x01, b"dicom") + tlv(0x04, b"") + tlv(0xEE, b"\x00" * 300))
    data = v2(block=block)
    header, taken = feed_all(data + AFTER, piece=7)
    assert header.source == ("192.0.2.7", 40000)
    assert taken == header.length == len(data)


def test_v2_local_keeps_the_connection_address():
    # a health check: LOCAL, UNSPEC, no address (and one with bytes to skip anyway)
    for data in (v2(command=0, family=0x00), v2(command=0, family=0x11, block=b"\x00" * 12)):
        header, taken = feed_all(data + AFTER)
        assert header.source is None and header.kind == "LOCAL"
        assert taken == len(data)


@pytest.mark.parametrize("family,block,kind", [
    (0x00, b"", "PROXY UNSPEC"),
    (0x00, b"ignored", "PROXY UNSPEC"),
    (0x31, b"/run/a".ljust(108, b"\x00") + b"/run/b".ljust(108, b"\x00"), "PROXY UNIX"),
    (0x32, b"\x00" * 216, "PROXY UNIX"),
    (0x10, b"\x00" * 12, "PROXY UNSPEC"),       # IPv4, transport unspecified
])
def test_v2_without_usable_address_falls_back(family, block, kind):
    header = parse(v2(family=family, block=block))
    assert header.source is None and header.kind == kind


def test_v2_udp_is_reported_as_such():
    assert parse(v2(family=0x12, block=inet("192.0.2.7", "192.0.2.8", 1, 2))).kind == "PROXY UDP4"


@pytest.mark.parametrize("data,reason", [
    (v2(version=1, block=b"\x00" * 12), "version 1"),
    (v2(version=3, block=b"\x00" * 12), "version 3"),
    (v2(command=2, block=b"\x00" * 12), "unknown command"),
    (v2(command=0xF), "unknown command"),
    (v2(family=0x41, block=b"\x00" * 12), "family"),
    (v2(family=0x13, block=b"\x00" * 12), "family"),
    (v2(family=0x11, block=b"\x00" * 11), "too few"),        # length field below the block
    (v2(family=0x21, block=b"\x00" * 12), "too few"),
    (v2(family=0x31, block=b"\x00" * 215), "too few"),
])
def test_v2_malformed(data, reason):
    with pytest.raises(ProxyHeaderError, match=reason):
        parse(data + b"\x00" * 300)
    # refused as soon as the fixed 16 bytes are there
    with pytest.raises(ProxyHeaderError, match=reason):
        HeaderParser().feed(data[:16])


@pytest.mark.parametrize("first,quoted", [
    (b"\x01\x00\x00\x00\x00\xcd", b"\x01"),     # an A-ASSOCIATE-RQ: no header at all
    (b"GET / HTTP/1.0\r\n", b"G"),
    (b"PROXY\t", b"PROXY\t"),
    (b"proxy ", b"p"),
    (b"\x16\x03\x01", b"\x16"),                   # a TLS ClientHello
    (b"\r\n\r\n\x00\r\nQUIX\n", b"\r\n\r\n\x00\r\nQUIX"),   # a signature off by one byte
    (b"\r\n\r\n\x01", b"\r\n\r\n\x01"),
])
def test_bad_signatures_are_refused_at_the_first_wrong_byte(first, quoted):
    message = "no PROXY protocol signature (first bytes %r)" % quoted
    with pytest.raises(ProxyHeaderError) as whole:
        HeaderParser().feed(first + b"\x00" * 20)
    assert str(whole.value) == message
    # the same refusal, however the bytes arrive
    parser = HeaderParser()
    with pytest.raises(ProxyHeaderError) as bytewise:
        for i in range(len(first)):
            parser.feed(first[i:i + 1])
    assert str(bytewise.value) == message


@pytest.mark.parametrize("data", [
    b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\r\n",
    b"PROXY UNKNOWN\r\n",
    v2(block=inet("192.0.2.7", "198.51.100.1", 40000, 104) + tlv(1, b"x")),
    v2(command=0, family=0),
])
def test_every_truncation_is_incomplete_never_an_error(data):
    for n in range(len(data)):
        parser = HeaderParser()
        assert parser.feed(data[:n]) == n
        assert parser.header is None and parser.wanted() > 0
        with pytest.raises(ProxyHeaderError, match="incomplete"):
            parse(data[:n])
    assert parse(data).length == len(data)


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 16, 17, 64])
def test_pieces_give_the_same_header(piece):
    for data in (b"PROXY TCP6 2001:db8::7 ::1 1 2\r\n",
                 v2(family=0x21, block=inet("2001:db8::7", "::1", 1, 2) + tlv(0x20, b"\x01" * 40))):
        assert feed_all(data + AFTER, piece) == feed_all(data + AFTER)


def test_wanted_never_reaches_past_the_header():
    data = v2(block=inet("192.0.2.7", "198.51.100.1", 1, 2) + tlv(2, b"authority"))
    parser = HeaderParser()
    assert parser.wanted() == V1_MAX            # nothing seen: either version
    parser.feed(data[:3])
    assert parser.wanted() == 13                # the rest of v2's fixed part
    parser.feed(data[3:16])
    assert parser.wanted() == len(data) - 16    # exactly the rest, from the length field
    assert parser.feed(data[16:] + AFTER) == len(data) - 16
    assert parser.wanted() == 0 and parser.feed(AFTER) == 0


def test_v2_length_field_bounds_the_header():
    # the largest length the field can hold is read, and no byte more
    block = inet("192.0.2.7", "198.51.100.1", 1, 2)
    data = v2(block=block + b"\x00" * (65535 - len(block)))
    header, taken = feed_all(data + AFTER, piece=4096)
    assert taken == header.length == 16 + 65535


def test_real_stack_addresses_round_trip():
    for family, address in ((socket.AF_INET, "203.0.113.200"), (socket.AF_INET6, "2001:db8:1::ab")):
        packed = socket.inet_pton(family, address)
        block = packed + packed + struct.pack(">HH", 11112, 104)
        header = parse(v2(family=0x11 if family == socket.AF_INET else 0x21, block=block))
        assert header.source == (address, 11112)
