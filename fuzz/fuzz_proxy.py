"""Fuzz target: fastscp.proxyheader (the PROXY protocol v1/v2 parser).

Input layout (so that the seed corpus in corpus/proxy/ stays meaningful):

  byte 0    chunking seed (fuzzutil.chunks): how the bytes arrive
  bytes 1.. the connection's first bytes (a header, what follows it)

The harness plays fastscp.balancer's part: bytes arrive in pieces, and for
each the reader peeks at most `wanted()` bytes, feeds them and takes only
the count `feed` returns (the rest stays "on the socket").  Oracles:

* only ProxyHeaderError escapes;
* every feed of bytes while the header is incomplete takes at least one
  (a reader never spins) and at most the bytes offered;
* a header is exactly the bytes taken: `length` = bytes taken =
  `received`; a v1 header is at most 107 bytes and ends in CRLF, a v2
  header is 16 + its length field; `parse` of those bytes alone gives the
  same header; addresses are IP addresses, ports 0..65535; no source
  without a destination;
* the outcome (header and bytes taken, or the error message) does not
  depend on how the bytes arrive: every input also runs fed whole;
* a stream that ends without a header or an error is a true prefix: `parse`
  calls it incomplete.
"""
from __future__ import annotations

import ipaddress
import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzutil  # noqa: E402
from fuzzutil import check  # noqa: E402

with atheris.instrument_imports(include=["fastscp"]):
    from fastscp.proxyheader import (
        V1_MAX, V1_PREFIX, V2_FIXED, V2_SIGNATURE, HeaderParser, ProxyHeaderError, parse,
    )


def run(stream: bytes, seed: int):
    """(header or None, bytes taken or None after an error, error message or None)."""
    parser = HeaderParser()
    buffered, taken = b"", 0
    try:
        for piece in fuzzutil.chunks(stream, seed):
            buffered += piece
            while parser.header is None and buffered:
                want = parser.wanted()
                check(want > 0, "wanted() = %d before the header is complete" % want)
                offered = buffered[:want]
                n = parser.feed(offered)
                check(0 < n <= len(offered), "feed took %d of %d bytes" % (n, len(offered)))
                buffered, taken = buffered[n:], taken + n
                check(parser.received == taken, "received %d, taken %d" % (parser.received, taken))
            if parser.header is not None:
                check(parser.wanted() == 0 and parser.feed(b"x") == 0, "a complete header wants more")
                break
    except ProxyHeaderError as exc:
        # bytes taken before the refusal depend on the pieces: not part of the outcome
        return None, None, str(exc)
    return parser.header, taken, None


def check_header(header, data: bytes) -> None:
    check(header.length == len(data), "length %d for %d bytes" % (header.length, len(data)))
    if header.version == 1:
        check(data.startswith(V1_PREFIX) and data.endswith(b"\r\n") and len(data) <= V1_MAX,
              "v1 header %r" % data)
    else:
        check(header.version == 2 and data.startswith(V2_SIGNATURE), "v2 header %r" % data[:16])
        check(len(data) == V2_FIXED + int.from_bytes(data[14:16], "big"), "v2 length")
    check((header.source is None) == (header.destination is None), "source without destination")
    for address in (header.source, header.destination):
        if address is not None:
            ipaddress.ip_address(address[0])
            check(0 <= address[1] <= 65535, "port %r" % (address[1],))
    check(parse(data) == header, "parse() of the header's bytes differs")


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    seed, stream = data[0] & 15, data[1:]
    got = run(stream, seed)
    header, taken, error = got
    if header is not None:
        check_header(header, stream[:taken])
    elif error is None:
        try:
            parse(stream)
        except ProxyHeaderError as exc:
            check("incomplete" in str(exc), "a prefix refused by parse(): %s" % exc)
        else:
            raise fuzzutil.Finding("parse() found a header the reader did not")
    if seed != 0:
        whole = run(stream, 0)
        check(got == whole, "outcome depends on the pieces: %r vs whole %r" % (got, whole))


if __name__ == "__main__":
    fuzzutil.instrument_module(globals())
    fuzzutil.main(TestOneInput)
