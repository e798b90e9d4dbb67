"""Compact tag -> VR tables for the stream writer.

The writer only needs the VR of an element when the transfer syntax does not
carry it (implicit VR little endian, and the implicit-VR content of an
explicit-VR ``UN`` element of undefined length).  The tables come from
pydicom's dictionaries, turned into the file the package carries at build
time (:mod:`fastscp.dictdata`: how, and the rules for ambiguous VRs), and
are handed to the compiled writer as flat arrays:

* ``TAGS``: ``array('I')`` of tags, ascending, searched by bisection;
* ``CODES``: ``bytes``, one VR code per entry of ``TAGS`` (an index into
  ``VRS``);
* ``REPEATERS``: tuple of ``(mask, value, code)`` for the repeating-group
  entries (``60xx0010`` ...), most specific mask first: a tag matches when
  ``tag & mask == value``;
* private tags (from ``pydicom._private_dict``; storescp uses its own private
  dictionary the same way): ``PRIVATE_CREATORS`` maps a creator (bytes, as
  written in the dictionary) to an id >= 1; ``PRIVATE_KEYS``
  (``array('Q')``, ascending) / ``PRIVATE_CODES`` give the VR code of
  ``private_key(id, group, elem)`` (key forms: :mod:`fastscp.dictdata`).

Lookup rules applied by the writer on top of the tables: element ``0000`` of
any group is a group length (``UL``); in an odd (private) group elements
``0010``-``00FF`` are private creators (``LO``) and every other element is
``UN``.

``DCMDICTPATH`` (read once, here, at import): the files it names extend and
override pydicom's entries (:mod:`fastscp.dictpath`, imported only then);
``DICTPATH_PROBLEMS`` keeps one message per unreadable file or bad line,
which the command line logs as warnings once logging is set up
(``log_dictpath_problems``).
"""
from __future__ import annotations

import logging
import os
from bisect import bisect_left
from typing import Optional

from fastscp import dictdata
from fastscp.dictdata import MAX_REPEATERS, VR_CODE, VRS, Frozen, Loaded, private_key
from fastscp.log import DATA_LOGGER

__all__ = ["VRS", "VR_CODE", "TAGS", "CODES", "REPEATERS", "PRIVATE_CREATORS", "PRIVATE_KEYS",
           "PRIVATE_CODES", "private_key", "lookup_vr", "lookup_private_vr", "DICTPATH_FILES",
           "DICTPATH_PROBLEMS", "MAX_REPEATERS", "log_dictpath_problems"]

log = logging.getLogger(DATA_LOGGER)

#: pydicom's dictionaries, as generated at build time
_BASE = dictdata.load()


def _base_frozen() -> Frozen:
    """pydicom's tables alone, as the writer takes them."""
    return (_BASE.tags, _BASE.codes, tuple(dictdata.by_specificity(_BASE.repeaters)),
            dictdata.creator_ids(_BASE), _BASE.private_keys, _BASE.private_codes)


def _build(dictpath: Optional[str]) -> Loaded:
    """The tables from pydicom's dictionaries and the files named in ``dictpath``;
    returns them with the files read and the problems met."""
    if not dictpath:
        return _base_frozen() + ((), ())
    from fastscp import dictpath as merging
    return merging.build(_BASE, dictpath)


def _load(dictpath: Optional[str]) -> Loaded:
    """``_build``, falling back to pydicom's dictionary alone if merging the
    files fails unexpectedly: a dictionary file must never stop the server."""
    try:
        return _build(dictpath)
    except Exception as exc:  # a bug, or MemoryError on an absurd file
        from fastscp.dictfile import paths_from_env
        return _base_frozen() + (tuple(paths_from_env(dictpath)), (
            "cannot use the files (%s: %s); pydicom's dictionary alone is used"
            % (type(exc).__name__, exc),))


(TAGS, CODES, REPEATERS, PRIVATE_CREATORS, PRIVATE_KEYS, PRIVATE_CODES,
 DICTPATH_FILES, DICTPATH_PROBLEMS) = _load(os.environ.get("DCMDICTPATH"))


def log_dictpath_problems() -> None:
    """Log what was wrong with the DCMDICTPATH files, one warning each."""
    for problem in DICTPATH_PROBLEMS:
        log.warning("DCMDICTPATH: %s", problem)


def lookup_vr(tag: int) -> str:
    """The VR the writer assumes for ``tag`` in implicit VR (for tests/tools)."""
    group, elem = tag >> 16, tag & 0xFFFF
    if elem == 0:
        return "UL"
    if group & 1:
        return "LO" if 0x10 <= elem <= 0xFF else "UN"
    i = bisect_left(TAGS, tag)
    if i < len(TAGS) and TAGS[i] == tag:
        return VRS[CODES[i]]
    for mask, value, code in REPEATERS[:MAX_REPEATERS]:
        if tag & mask == value:
            return VRS[code]
    return "UN"


def lookup_private_vr(creator: bytes, tag: int) -> str:
    """The VR the writer gives private data element ``tag`` (element ``xxee``,
    ``xx`` >= 0x10) of a block reserved by ``creator`` (as compared: trailing
    spaces removed)."""
    cid = PRIVATE_CREATORS.get(creator, 0)
    if not cid:
        return "UN"
    group, elem = tag >> 16, tag & 0xFFFF
    for key in (private_key(cid, group, elem), private_key(cid, group, 0x100 | (elem & 0xFF)),
                private_key(cid, group & 0xFF00, 0x100 | (elem & 0xFF))):
        i = bisect_left(PRIVATE_KEYS, key)
        if i < len(PRIVATE_KEYS) and PRIVATE_KEYS[i] == key:
            return VRS[PRIVATE_CODES[i]]
    return "UN"
