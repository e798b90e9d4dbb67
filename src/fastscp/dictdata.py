"""pydicom's data dictionary as the writer needs it, in a data file made at build time.

Importing pydicom and turning its dictionaries into the writer's tables took
most of fastscp's start-up (about 0.2 s of 0.3 s), which inetd pays for every
association.  So ``setup.py`` runs :func:`generate` once, at build time, and
the installed package carries the result, ``_dictionary_tables.bin``, which
:func:`load` reads in well under a millisecond without importing pydicom.

This module is loaded by ``setup.py`` from its path, before fastscp is
built: it imports nothing of fastscp, and pydicom only inside
:func:`from_pydicom`.

What the tables hold (their use: :mod:`fastscp._dictionary`):

* public tags -> VR code, and the repeating-group entries (``60xx0010`` ...)
  as ``(mask, value, code)``: a tag matches when ``tag & mask == value``;
* private tags (``pydicom._private_dict``): creators (bytes, as written in
  the dictionary) numbered from 1 in pydicom's order, and
  ``private_key(id, group, elem)`` -> VR code.  ``ggggxxee`` entries are
  keyed with ``elem = 0x0100 | ee``, ``ggxxxxee`` entries with
  ``group = gg00`` and ``elem = 0x0100 | ee``, exact ``ggggeeee`` entries with
  the element itself.

VRs that the dictionary leaves ambiguous: ``'US or SS'`` is ``US``; any
list containing ``OW`` (``'OB or OW'``, ``'US or OW'`` ...) is ``OW`` (PS3.5
A.1: implicit VR pixel, overlay and LUT data are OW, as storescp treats
them); ``NONE`` (item tags) and anything unknown are ``UN``.

The file (all integers little endian): the magic line, a header of five
uint32 (counts of public tags, repeaters, creators, private keys; length of
the pydicom version), the pydicom version (ASCII), then the tags (uint32,
ascending) and their codes (one byte each), the repeaters (mask, value as
uint32, then the codes), the creators (uint16 length + bytes each), the
private keys (uint64, ascending) and their codes.
"""
from __future__ import annotations

import os
import struct
import sys
from array import array
from typing import Dict, Iterable, List, NamedTuple, Tuple

#: VR codes; the index is the code.  0 is UN (unknown).
VRS: Tuple[str, ...] = (
    "UN", "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
    "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS",
    "ST", "SV", "TM", "UC", "UI", "UL", "UR", "US", "UT", "UV",
)
VR_CODE: Dict[str, int] = {vr: i for i, vr in enumerate(VRS)}

#: the data file's name, next to this module
FILE_NAME = "_dictionary_tables.bin"
_MAGIC = b"fastscp dictionary tables 1\n"
_HEADER = struct.Struct("<5I")
_LENGTH = struct.Struct("<H")

#: a repeating-group entry: (mask, value, VR code)
Repeater = Tuple[int, int, int]
#: the writer keeps at most this many repeater masks (its C table)
MAX_REPEATERS = 256
#: the tables as the writer takes them (fastscp._dictionary): TAGS, CODES,
#: REPEATERS, PRIVATE_CREATORS, PRIVATE_KEYS, PRIVATE_CODES
Frozen = Tuple["array[int]", bytes, Tuple[Repeater, ...], Dict[bytes, int], "array[int]", bytes]
#: Frozen, then the DCMDICTPATH files read and the problems met
Loaded = Tuple["array[int]", bytes, Tuple[Repeater, ...], Dict[bytes, int], "array[int]", bytes,
               Tuple[str, ...], Tuple[str, ...]]


class Tables(NamedTuple):
    """The dictionary as the writer reads it: sorted arrays and codes."""

    tags: "array[int]"                  # uint32, ascending
    codes: bytes                        # the VR code of each tag
    repeaters: Tuple[Repeater, ...]     # pydicom's order
    creators: Tuple[bytes, ...]         # creator id i + 1 is creators[i]
    private_keys: "array[int]"          # uint64 private_key(), ascending
    private_codes: bytes
    pydicom_version: str


def by_specificity(reps: Iterable[Repeater]) -> List[Repeater]:
    """Most specific masks first: the writer takes the first that matches."""
    return sorted(reps, key=lambda r: -bin(r[0]).count("1"))


def creator_ids(tables: Tables) -> Dict[bytes, int]:
    """Private creator -> its id in the private keys."""
    return {name: i for i, name in enumerate(tables.creators, 1)}


def resolve_vr(vr: str) -> int:
    """The code of a dictionary VR, ambiguous ones resolved as described above."""
    vr = vr.strip()
    if "OW" in vr.split(" or ") or vr == "OB_OW":
        return VR_CODE["OW"]
    first = vr.split(" or ")[0].strip()
    return VR_CODE.get(first, 0)


def private_key(creator_id: int, group: int, elem: int) -> int:
    return (creator_id << 32) | (group << 16) | elem


def _repeater(key: str, vr: str) -> Repeater:
    key = key.upper()
    mask = int("".join("0" if ch == "X" else "F" for ch in key), 16)
    return mask, int(key.replace("X", "0"), 16), resolve_vr(vr)


def _private_entry_key(cid: int, key: str) -> int:
    """The private_key() of a private dictionary key (``ggggxxee`` ...); -1 if unusable."""
    key = key.upper()
    try:
        if key[4:6] == "XX" and "X" not in key[:4] + key[6:]:
            return private_key(cid, int(key[:4], 16), 0x100 | int(key[6:], 16))
        if key[2:6] == "XXXX" and "X" not in key[:2] + key[6:]:
            return private_key(cid, int(key[:2], 16) << 8, 0x100 | int(key[6:], 16))
        if "X" not in key:
            return private_key(cid, int(key[:4], 16), int(key[4:], 16))
    except ValueError:
        pass
    return -1


def from_pydicom() -> Tables:
    """The tables of the installed pydicom's dictionaries."""
    import pydicom
    from pydicom.datadict import DicomDictionary, RepeatersDictionary  # type: ignore[attr-defined]
    try:
        from pydicom._private_dict import private_dictionaries
    except ImportError:  # pragma: no cover - very old/new pydicom
        private_dictionaries = {}
    public = {int(tag): resolve_vr(entry[0]) for tag, entry in DicomDictionary.items()}
    repeaters = tuple(_repeater(key, entry[0]) for key, entry in RepeatersDictionary.items())
    creators: Dict[bytes, int] = {}
    private: Dict[int, int] = {}
    for creator, table in private_dictionaries.items():
        cid = creators.setdefault(creator.encode("latin1", "replace"), len(creators) + 1)
        for key, entry in table.items():
            k = _private_entry_key(cid, key)
            if k >= 0:
                private.setdefault(k, resolve_vr(entry[0]))
    tags, keys = sorted(public), sorted(private)
    return Tables(array("I", tags), bytes(public[t] for t in tags), repeaters,
                  tuple(sorted(creators, key=creators.__getitem__)),
                  array("Q", keys), bytes(private[k] for k in keys),
                  str(getattr(pydicom, "__version__", "unknown")))


def _little_endian(values: "array[int]") -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def encode(tables: Tables) -> bytes:
    version = tables.pydicom_version.encode("ascii", "replace")
    parts = [_MAGIC, _HEADER.pack(len(tables.tags), len(tables.repeaters), len(tables.creators),
                                  len(tables.private_keys), len(version)), version,
             _little_endian(tables.tags), tables.codes,
             _little_endian(array("I", [r[0] for r in tables.repeaters])),
             _little_endian(array("I", [r[1] for r in tables.repeaters])),
             bytes(r[2] for r in tables.repeaters)]
    for name in tables.creators:
        parts += [_LENGTH.pack(len(name)), name]
    parts += [_little_endian(tables.private_keys), tables.private_codes]
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("dictionary tables truncated")
        chunk = self.data[self.pos:self.pos + n].tobytes()
        self.pos += n
        return chunk

    def numbers(self, typecode: str, count: int) -> "array[int]":
        values = array(typecode)
        values.frombytes(self.take(values.itemsize * count))
        if sys.byteorder == "big":
            values.byteswap()
        return values


def decode(data: bytes) -> Tables:
    """The tables in ``data`` (ValueError if it is no such file)."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a fastscp dictionary tables file")
    r = _Reader(data)
    r.take(len(_MAGIC))
    ntags, nreps, ncreators, nkeys, nversion = _HEADER.unpack(r.take(_HEADER.size))
    version = r.take(nversion).decode("ascii")
    tags, codes = r.numbers("I", ntags), r.take(ntags)
    masks, values, rep_codes = r.numbers("I", nreps), r.numbers("I", nreps), r.take(nreps)
    creators: List[bytes] = []
    for _ in range(ncreators):
        (length,) = _LENGTH.unpack(r.take(_LENGTH.size))
        creators.append(r.take(length))
    keys, private_codes = r.numbers("Q", nkeys), r.take(nkeys)
    if r.pos != len(data):
        raise ValueError("dictionary tables: %d bytes too many" % (len(data) - r.pos))
    return Tables(tags, codes, tuple(zip(masks, values, rep_codes)), tuple(creators), keys,
                  private_codes, version)


def generate(path: str) -> Tables:
    """Write the tables of the installed pydicom to ``path`` (the build step)."""
    tables = from_pydicom()
    with open(path, "wb") as fh:
        fh.write(encode(tables))
    return tables


def load() -> Tables:
    """The tables installed with fastscp."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), FILE_NAME)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ImportError("fastscp's dictionary tables %s are missing (%s); install fastscp "
                          "with pip so that they are generated" % (path, exc.strerror)) from None
    return decode(data)
