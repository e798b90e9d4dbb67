"""Fuzz target: fastscp.certinfo (the X.509 reader for a TLS peer's certificate).

Input: the bytes a peer presents as its certificate (DER).  Oracles:

* only ValueError escapes (the server refuses the connection on it; any
  other exception would escape the handshake);
* what it returns is well formed: a dotted OID, a known key kind with a
  size of 0 .. 65536 bits (0 only where the size is unknown), names of
  (dotted OID, text) pairs, times with month 1..12 and day 1..31.
"""
from __future__ import annotations

import os
import re
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzutil  # noqa: E402
from fuzzutil import check  # noqa: E402

with atheris.instrument_imports(include=["fastscp"]):
    from fastscp.certinfo import read_certificate

_DOTTED = re.compile(r"^[0-2](\.[0-9]+)+$")


def TestOneInput(data: bytes) -> None:
    try:
        info = read_certificate(data)
    except ValueError:
        return
    check(bool(_DOTTED.match(info.signature_oid)), "signature OID %r" % info.signature_oid)
    check(info.key_kind in ("RSA", "ECDSA", "DSA", "unknown"), "key kind %r" % info.key_kind)
    check(0 <= info.key_bits <= 65536 * 8, "key bits %d" % info.key_bits)
    check(info.key_kind != "unknown" or info.key_bits == 0, "bits of an unknown key")
    for name in (info.subject, info.issuer):
        for oid, text in name:
            check(bool(_DOTTED.match(oid)) and isinstance(text, str), "attribute %r" % ((oid, text),))
    for when in (info.not_before, info.not_after):
        check(len(when) == 6 and 1 <= when[1] <= 12 and 1 <= when[2] <= 31, "time %r" % (when,))


if __name__ == "__main__":
    fuzzutil.instrument_module(globals())
    fuzzutil.main(TestOneInput)
