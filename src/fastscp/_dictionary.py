"""Compact tag -> VR tables for the stream writer (built once at import).

The writer only needs the VR of an element when the transfer syntax does not
carry it (implicit VR little endian, and the implicit-VR content of an
explicit-VR ``UN`` element of undefined length).  The tables are derived from
``pydicom.datadict`` and handed to the compiled writer as flat arrays:

* ``TAGS``: ``array('I')`` of tags, ascending, searched by bisection;
* ``CODES``: ``bytes``, one VR code per entry of ``TAGS`` (an index into
  ``VRS``);
* ``REPEATERS``: tuple of ``(mask, value, code)`` for the repeating-group
  entries (``60xx0010`` ...): a tag matches when ``tag & mask == value``;
* private tags (from ``pydicom._private_dict``; storescp uses its own private
  dictionary the same way): ``PRIVATE_CREATORS`` maps a creator (bytes, as
  written in the dictionary) to an id >= 1; ``PRIVATE_KEYS``
  (``array('Q')``, ascending) / ``PRIVATE_CODES`` give the VR code of
  ``private_key(id, group, elem)``.  The dictionary's ``ggggxxee`` entries
  are keyed with ``elem = 0x0100 | ee``, ``ggxxxxee`` entries with
  ``group = gg00`` and ``elem = 0x0100 | ee``, exact ``ggggeeee`` entries
  with the element itself.

Rules for the VRs that the dictionary leaves ambiguous:

* ``'US or SS'``: ``US`` (odd lengths are NUL-padded like every binary VR);
* any alternative list containing ``OW`` (``'OB or OW'``, ``'US or OW'``,
  ``'US or SS or OW'``): ``OW`` -- PS3.5 A.1 makes implicit VR pixel, overlay
  and LUT data OW, and storescp treats them as OW (odd length not padded);
* ``NONE`` (item tags) and anything unknown: ``UN``.

Lookup rules applied by the writer on top of the tables: element ``0000`` of
any group is a group length (``UL``); in an odd (private) group elements
``0010``-``00FF`` are private creators (``LO``) and every other element is
``UN``.
"""
from __future__ import annotations

from array import array
from typing import Dict, List, Tuple

from pydicom.datadict import DicomDictionary, RepeatersDictionary

__all__ = ["VRS", "VR_CODE", "TAGS", "CODES", "REPEATERS", "PRIVATE_CREATORS", "PRIVATE_KEYS",
           "PRIVATE_CODES", "private_key", "lookup_vr"]

#: VR codes; the index is the code.  0 is UN (unknown).
VRS: Tuple[str, ...] = (
    "UN", "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
    "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS",
    "ST", "SV", "TM", "UC", "UI", "UL", "UR", "US", "UT", "UV",
)
VR_CODE: Dict[str, int] = {vr: i for i, vr in enumerate(VRS)}


def _resolve(vr: str) -> int:
    vr = vr.strip()
    if "OW" in vr.split(" or "):
        return VR_CODE["OW"]
    if vr == "OB_OW":
        return VR_CODE["OW"]
    first = vr.split(" or ")[0].strip()
    return VR_CODE.get(first, 0)


def _build() -> Tuple[array, bytes, Tuple[Tuple[int, int, int], ...]]:
    pairs: List[Tuple[int, int]] = sorted(
        (int(tag), _resolve(entry[0])) for tag, entry in DicomDictionary.items()
    )
    tags = array("I", [t for t, _ in pairs])
    codes = bytes(c for _, c in pairs)
    reps = []
    for key, entry in RepeatersDictionary.items():
        key = key.upper()
        mask = int("".join("0" if ch == "X" else "F" for ch in key), 16)
        value = int(key.replace("X", "0"), 16)
        reps.append((mask, value, _resolve(entry[0])))
    # most specific masks first
    reps.sort(key=lambda r: -bin(r[0]).count("1"))
    return tags, codes, tuple(reps)


TAGS, CODES, REPEATERS = _build()


def private_key(creator_id: int, group: int, elem: int) -> int:
    return (creator_id << 32) | (group << 16) | elem


def _build_private() -> Tuple[Dict[bytes, int], array, bytes]:
    try:
        from pydicom._private_dict import private_dictionaries
    except ImportError:  # pragma: no cover - very old/new pydicom
        return {}, array("Q"), b""
    creators: Dict[bytes, int] = {}
    entries: Dict[int, int] = {}
    for creator, table in private_dictionaries.items():
        name = creator.encode("latin1", "replace")
        cid = creators.setdefault(name, len(creators) + 1)
        for key, entry in table.items():
            key = key.upper()
            try:
                if key[4:6] == "XX" and "X" not in key[:4] + key[6:]:
                    k = private_key(cid, int(key[:4], 16), 0x100 | int(key[6:], 16))
                elif key[2:6] == "XXXX" and "X" not in key[:2] + key[6:]:
                    k = private_key(cid, int(key[:2], 16) << 8, 0x100 | int(key[6:], 16))
                elif "X" not in key:
                    k = private_key(cid, int(key[:4], 16), int(key[4:], 16))
                else:
                    continue
            except ValueError:
                continue
            entries.setdefault(k, _resolve(entry[0]))
    keys = sorted(entries)
    return creators, array("Q", keys), bytes(entries[k] for k in keys)


PRIVATE_CREATORS, PRIVATE_KEYS, PRIVATE_CODES = _build_private()


def lookup_vr(tag: int) -> str:
    """The VR the writer assumes for ``tag`` in implicit VR (for tests/tools)."""
    group, elem = tag >> 16, tag & 0xFFFF
    if elem == 0:
        return "UL"
    if group & 1:
        return "LO" if 0x10 <= elem <= 0xFF else "UN"
    from bisect import bisect_left

    i = bisect_left(TAGS, tag)
    if i < len(TAGS) and TAGS[i] == tag:
        return VRS[CODES[i]]
    for mask, value, code in REPEATERS:
        if tag & mask == value:
            return VRS[code]
    return "UN"
