"""What storescp looks at in an X.509 certificate, read from its DER bytes:
the signature's algorithm and hash, the public key's kind and size, and the
names, serial number and validity that ``-d`` prints.

A server process reads the peer's certificate at every TLS connection that
presents one; with this reader it does so without `cryptography`, whose
extension alone made each worker process 10 MB larger (README, "DICOM over
TLS").  Only what is needed is decoded; anything malformed is ValueError.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

#: signature algorithms: dotted OID -> the hash's name as `cryptography` names it
#: (None: the algorithm has no separate hash, or it is given elsewhere)
SIGNATURE_HASHES = {
    "1.2.840.113549.1.1.2": "md2", "1.2.840.113549.1.1.3": "md4",
    "1.2.840.113549.1.1.4": "md5", "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.14": "sha224", "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.113549.1.1.15": "sha512_224", "1.2.840.113549.1.1.16": "sha512_256",
    "1.2.840.113549.1.1.10": None,                                  # RSASSA-PSS
    "1.2.840.10045.4.1": "sha1", "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    "1.2.840.10040.4.3": "sha1", "2.16.840.1.101.3.4.3.1": "sha224",
    "2.16.840.1.101.3.4.3.2": "sha256", "2.16.840.1.101.3.4.3.3": "sha384",
    "2.16.840.1.101.3.4.3.4": "sha512",
    "2.16.840.1.101.3.4.3.5": "sha3-224", "2.16.840.1.101.3.4.3.6": "sha3-256",
    "2.16.840.1.101.3.4.3.7": "sha3-384", "2.16.840.1.101.3.4.3.8": "sha3-512",
    "2.16.840.1.101.3.4.3.9": "sha3-224", "2.16.840.1.101.3.4.3.10": "sha3-256",
    "2.16.840.1.101.3.4.3.11": "sha3-384", "2.16.840.1.101.3.4.3.12": "sha3-512",
    "2.16.840.1.101.3.4.3.13": "sha3-224", "2.16.840.1.101.3.4.3.14": "sha3-256",
    "2.16.840.1.101.3.4.3.15": "sha3-384", "2.16.840.1.101.3.4.3.16": "sha3-512",
    "1.3.101.112": None, "1.3.101.113": None,                       # EdDSA
}

_RSA_KEYS = ("1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10")
_EC_KEY = "1.2.840.10045.2.1"
_DSA_KEY = "1.2.840.10040.4.1"
#: named curves -> a key's size in bits as OpenSSL gives it (the bits of the
#: group's order: sect283k1's is 281)
CURVE_BITS = {
    "1.2.840.10045.3.1.1": 192, "1.3.132.0.33": 224, "1.2.840.10045.3.1.7": 256,
    "1.3.132.0.34": 384, "1.3.132.0.35": 521, "1.3.132.0.10": 256,
    "1.3.132.0.1": 163, "1.3.132.0.15": 163, "1.3.132.0.26": 232, "1.3.132.0.27": 233,
    "1.3.132.0.16": 281, "1.3.132.0.17": 282, "1.3.132.0.36": 407, "1.3.132.0.37": 409,
    "1.3.132.0.38": 570, "1.3.132.0.39": 570,
    "1.3.36.3.3.2.8.1.1.3": 192, "1.3.36.3.3.2.8.1.1.5": 224, "1.3.36.3.3.2.8.1.1.7": 256,
    "1.3.36.3.3.2.8.1.1.9": 320, "1.3.36.3.3.2.8.1.1.11": 384, "1.3.36.3.3.2.8.1.1.13": 512,
}

#: a time: (year, month, day, hour, minute, second), UTC
Time = Tuple[int, int, int, int, int, int]

_SEQUENCE, _SET, _INTEGER, _BIT_STRING, _OID = 0x30, 0x31, 0x02, 0x03, 0x06
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_TEXT_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x12: "ascii", 0x1A: "ascii",
                0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


class CertInfo(NamedTuple):
    signature_oid: str
    #: the signature's hash (`cryptography`'s names: "sha256", "md5"), None if it has none
    signature_hash: Optional[str]
    #: "RSA", "ECDSA", "DSA" or "unknown" (EdDSA and others), and the size in bits (0 if unknown)
    key_kind: str
    key_bits: int
    serial: int
    #: (dotted OID, text) of each attribute, in order
    subject: Tuple[Tuple[str, str], ...]
    issuer: Tuple[Tuple[str, str], ...]
    not_before: Time
    not_after: Time


def read_certificate(der: bytes) -> CertInfo:
    """The fields of the DER certificate `der`; ValueError if it is not one."""
    cert, end = _element(der, 0, _SEQUENCE)
    if end != len(der):
        raise ValueError("bytes after the certificate")
    fields = _children(der, cert)
    if len(fields) < 3:
        raise ValueError("a certificate has three parts")
    tbs = _children(der, _expect(fields[0], _SEQUENCE))
    signature_oid = _algorithm(der, _expect(fields[1], _SEQUENCE))[0]
    if tbs and tbs[0][0] == 0xA0:       # [0] version
        tbs = tbs[1:]
    if len(tbs) < 6:
        raise ValueError("too few fields in the certificate")
    serial = int.from_bytes(_value(der, _expect(tbs[0], _INTEGER)), "big", signed=True)
    validity = _children(der, _expect(tbs[3], _SEQUENCE))
    if len(validity) != 2:
        raise ValueError("validity has two times")
    kind, bits = _public_key(der, _expect(tbs[5], _SEQUENCE))
    return CertInfo(signature_oid, SIGNATURE_HASHES.get(signature_oid), kind, bits, serial,
                    _name(der, tbs[4]), _name(der, tbs[2]),
                    _time(der, validity[0]), _time(der, validity[1]))


#: an element: (tag, start of its value, end of its value)
_Element = Tuple[int, int, int]


def _element(data: bytes, pos: int, tag: Optional[int] = None,
             end: Optional[int] = None) -> Tuple[_Element, int]:
    """The element at `pos` (of `tag` if given), within `data[:end]`, and
    where the next one starts."""
    end = len(data) if end is None else end
    if pos + 2 > end:
        raise ValueError("truncated")
    found, length = data[pos], data[pos + 1]
    if found & 0x1F == 0x1F:
        raise ValueError("multi-byte tags are not used in certificates")
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > end:
            raise ValueError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("truncated")
    element = (found, pos, pos + length)
    return (element if tag is None else _expect(element, tag)), pos + length


def _children(data: bytes, element: _Element) -> List[_Element]:
    items, pos = [], element[1]
    while pos < element[2]:
        item, pos = _element(data, pos, end=element[2])
        items.append(item)
    return items


def _expect(element: _Element, tag: int) -> _Element:
    if element[0] != tag:
        raise ValueError("tag %#x where %#x was expected" % (element[0], tag))
    return element


def _value(data: bytes, element: _Element) -> bytes:
    return data[element[1]:element[2]]


def _oid(raw: bytes) -> str:
    if not raw or raw[-1] & 0x80:
        raise ValueError("bad object identifier")
    arcs, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


def _algorithm(data: bytes, element: _Element) -> Tuple[str, Optional[_Element]]:
    """An AlgorithmIdentifier: its OID and its parameters' element, if any."""
    parts = _children(data, element)
    if not parts:
        raise ValueError("empty algorithm identifier")
    return _oid(_value(data, _expect(parts[0], _OID))), parts[1] if len(parts) > 1 else None


def _integer_bits(data: bytes, element: _Element) -> int:
    return int.from_bytes(_value(data, _expect(element, _INTEGER)), "big").bit_length()


def _public_key(data: bytes, element: _Element) -> Tuple[str, int]:
    parts = _children(data, element)
    if len(parts) != 2:
        raise ValueError("a public key has an algorithm and a key")
    oid, params = _algorithm(data, _expect(parts[0], _SEQUENCE))
    key = _value(data, _expect(parts[1], _BIT_STRING))
    if oid in _RSA_KEYS:
        if not key or key[0] != 0:
            raise ValueError("bad RSA key")
        rsa, _ = _element(key, 1, _SEQUENCE)
        numbers = _children(key, rsa)
        if not numbers:
            raise ValueError("bad RSA key")
        return "RSA", _integer_bits(key, numbers[0])
    if oid == _EC_KEY:
        curve = _oid(_value(data, params)) if params and params[0] == _OID else ""
        return "ECDSA", CURVE_BITS.get(curve, 0)
    if oid == _DSA_KEY:
        pqg = _children(data, params) if params and params[0] == _SEQUENCE else []
        return "DSA", _integer_bits(data, pqg[0]) if pqg else 0
    return "unknown", 0


def _name(data: bytes, element: _Element) -> Tuple[Tuple[str, str], ...]:
    attributes = []
    for rdn in _children(data, _expect(element, _SEQUENCE)):
        for pair in _children(data, _expect(rdn, _SET)):
            oid_element, value = _children(data, _expect(pair, _SEQUENCE))[:2]
            codec = _TEXT_CODECS.get(value[0], "latin-1")
            text = _value(data, value).decode(codec, errors="replace")
            attributes.append((_oid(_value(data, _expect(oid_element, _OID))), text))
    return tuple(attributes)


def _time(data: bytes, element: _Element) -> Time:
    text = _value(data, element).decode("ascii", errors="replace")
    if element[0] == _UTC_TIME and len(text) == 13 and text.endswith("Z"):
        text = ("19" if text[:2] >= "50" else "20") + text
    elif element[0] != _GENERALIZED_TIME or len(text) < 15 or not text.endswith("Z"):
        raise ValueError("bad time %r" % text)
    if not text[:14].isdigit():
        raise ValueError("bad time %r" % text)
    year, month, day, hour, minute, second = (int(text[:4]), int(text[4:6]), int(text[6:8]),
                                              int(text[8:10]), int(text[10:12]),
                                              int(text[12:14]))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError("bad time %r" % text)
    return year, month, day, hour, minute, second
