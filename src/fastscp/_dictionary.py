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

``DCMDICTPATH`` (read once, here, at import): the files it names (DCMTK's
format, :mod:`fastscp.dictfile`; ``os.pathsep``-separated, empty parts
skipped) extend and override pydicom's public entries, in the order DCMTK
applies its own files; if they define any private tag, their private entries
replace pydicom's private dictionary (DCMTK knows exactly the private tags of
its files: with ``DCMDICTPATH`` naming DCMTK's ``dicom.dic`` and
``private.dic``, implicit VR objects are written exactly as storescp writes
them).  DCMTK's lookup order is kept: a tag listed on its own
(``TAGS``) is found before any range (``REPEATERS``), so a range never
changes such a tag, whichever file it comes from; among entries of one kind a
later line (later file) replaces an earlier one, and where ranges nest the
narrower one wins.  Private entries: ``(gggg,"C",eeee)`` before
``(gggg,"C",ee)`` before ranges of groups or elements.  DCMTK's internal VRs
map as storescp writes them (``xs`` -> US; ``lt``, ``px`` -> OW; ``up`` ->
UL; ``na`` and unknown -> UN; ``ox`` -> OB, but OW where pydicom has the tag
as ``OB or OW`` -- pixel, overlay, waveform data ... -- whose per-tag rules
the writer applies).  Unusable entries are skipped: public entries of
odd groups (the writer resolves private elements only through their
creator; a warning unless the entry states the built-in rule), other group
lengths than UL (warning), private entries of even groups or with elements
``0100``-``0FFF`` (they never match, in DCMTK either).  Unreadable files and
bad lines: the rest is used; ``DICTPATH_PROBLEMS`` keeps one message each,
which the command line logs as warnings once logging is set up
(``log_dictpath_problems``).
"""
from __future__ import annotations

import logging
import os
from array import array
from bisect import bisect_left
from typing import Dict, Iterable, List, Optional, Tuple

from pydicom.datadict import DicomDictionary, RepeatersDictionary  # type: ignore[attr-defined]

from fastscp import dictfile
from fastscp.log import DATA_LOGGER

__all__ = ["VRS", "VR_CODE", "TAGS", "CODES", "REPEATERS", "PRIVATE_CREATORS", "PRIVATE_KEYS",
           "PRIVATE_CODES", "private_key", "lookup_vr", "lookup_private_vr", "DICTPATH_FILES",
           "DICTPATH_PROBLEMS", "MAX_REPEATERS", "log_dictpath_problems"]

log = logging.getLogger(DATA_LOGGER)

#: repeater masks: (mask, value, VR code)
_Repeaters = Tuple[Tuple[int, int, int], ...]
#: what _Tables.freeze() gives: TAGS, CODES, REPEATERS, PRIVATE_CREATORS,
#: PRIVATE_KEYS, PRIVATE_CODES
_Frozen = Tuple["array[int]", bytes, _Repeaters, Dict[bytes, int], "array[int]", bytes]
#: _Frozen, then DICTPATH_FILES and DICTPATH_PROBLEMS
_Loaded = Tuple["array[int]", bytes, _Repeaters, Dict[bytes, int], "array[int]", bytes,
                Tuple[str, ...], Tuple[str, ...]]

#: VR codes; the index is the code.  0 is UN (unknown).
VRS: Tuple[str, ...] = (
    "UN", "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
    "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS",
    "ST", "SV", "TM", "UC", "UI", "UL", "UR", "US", "UT", "UV",
)
VR_CODE: Dict[str, int] = {vr: i for i, vr in enumerate(VRS)}

#: the writer keeps at most this many repeater masks (its C table)
MAX_REPEATERS = 256
#: a private range entry may expand to at most this many keys
_MAX_PRIVATE_KEYS_PER_ENTRY = 1 << 16

Repeater = Tuple[int, int, int]  # (mask, value, code)


def _resolve(vr: str) -> int:
    vr = vr.strip()
    if "OW" in vr.split(" or "):
        return VR_CODE["OW"]
    if vr == "OB_OW":
        return VR_CODE["OW"]
    first = vr.split(" or ")[0].strip()
    return VR_CODE.get(first, 0)


def private_key(creator_id: int, group: int, elem: int) -> int:
    return (creator_id << 32) | (group << 16) | elem


# -- pydicom's dictionaries ------------------------------------------------------

def _pydicom_public() -> Tuple[Dict[int, int], List[Repeater]]:
    tags = {int(tag): _resolve(entry[0]) for tag, entry in DicomDictionary.items()}
    reps = []
    for key, entry in RepeatersDictionary.items():
        key = key.upper()
        mask = int("".join("0" if ch == "X" else "F" for ch in key), 16)
        value = int(key.replace("X", "0"), 16)
        reps.append((mask, value, _resolve(entry[0])))
    return tags, reps


def _pydicom_private() -> Tuple[Dict[bytes, int], Dict[int, int]]:
    try:
        from pydicom._private_dict import private_dictionaries
    except ImportError:  # pragma: no cover - very old/new pydicom
        return {}, {}
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
    return creators, entries


# -- DCMDICTPATH entries ---------------------------------------------------------

def _numbers(lo: int, hi: int, parity: str) -> range:
    """The numbers lo..hi that a dictionary range of this parity covers."""
    if parity == dictfile.PARITY_ANY:
        return range(lo, hi + 1)
    first = lo + ((lo & 1) != (parity == dictfile.PARITY_ODD))
    return range(first, hi + 1, 2)


def _blocks(lo: int, hi: int, parity: str) -> List[Tuple[int, int]]:
    """(mask, value) pairs over 16 bits matching exactly ``_numbers(lo, hi, parity)``."""
    if parity == dictfile.PARITY_ANY:
        bits, low_mask, low_value, a, b = 16, 0, 0, lo, hi
    else:
        # numbers 2k+p: decompose the k range, then put the fixed low bit back
        p = 1 if parity == dictfile.PARITY_ODD else 0
        bits, low_mask, low_value = 15, 1, p
        a, b = (lo - p + 1) // 2, (hi - p) // 2
    out = []
    full = (1 << bits) - 1
    while a <= b:
        size = a & -a if a else 1 << bits
        while a + size - 1 > b:
            size >>= 1
        mask = full & ~(size - 1)
        if low_mask:
            out.append(((mask << 1) | 1, (a << 1) | low_value))
        else:
            out.append((mask, a))
        a += size
    return out


class _Tables:
    """The mutable form of the tables while entries are merged."""

    def __init__(self) -> None:
        self.tags, self.reps = _pydicom_public()
        self.creators, self.private = _pydicom_private()
        self.problems: List[str] = []

    def creator_id(self, name: bytes) -> int:
        return self.creators.setdefault(name, len(self.creators) + 1)

    def merge(self, entries: Iterable[dictfile.Entry]) -> None:
        """Merge the entries of all files, in DCMDICTPATH and line order."""
        single: List[dictfile.Entry] = []
        ranged: List[dictfile.Entry] = []
        entries = list(entries)
        if any(e.creator is not None for e in entries):
            # files that know private tags replace pydicom's private dictionary,
            # as they replace DCMTK's private.dic: with DCMTK's own files the
            # private VRs are exactly storescp's
            self.creators, self.private = {}, {}
        for e in entries:
            (ranged if e.is_range else single).append(e)
        # ranges first, wider before narrower: a later or narrower range
        # replaces what it covers, and entries of single tags (applied last)
        # win over ranges as in DCMTK's lookup
        ranged.sort(key=lambda e: -(len(_numbers(e.group, e.group_hi, e.group_parity))
                                    * len(_numbers(e.element, e.element_hi, e.element_parity))))
        # pydicom's own VRs, for the "OB or OW" rule in _public
        self.base_tags = dict(self.tags)
        self.base_reps = sorted(self.reps, key=lambda r: -bin(r[0]).count("1"))
        for e in ranged + single:
            code = VR_CODE[dictfile.fastscp_vr(e.vr)]
            if e.creator is None:
                self._public(e, code)
            else:
                self._private(e, code)

    def _public(self, e: dictfile.Entry, code: int) -> None:
        groups = _numbers(e.group, e.group_hi, e.group_parity)
        elements = _numbers(e.element, e.element_hi, e.element_parity)
        if not any(not g & 1 for g in groups[:2]):  # no even group in the range
            # odd groups: only creator entries are looked up there
            builtin = ((elements and elements[0] == 0 and elements[-1] == 0 and code == VR_CODE["UL"])
                       or (elements and elements[0] >= 0x10 and elements[-1] <= 0xFF
                           and code == VR_CODE["LO"]))
            if groups and not builtin:
                self.problems.append("%s: private group without a private creator: fastscp looks "
                                     "up private elements by their creator only (entry ignored)"
                                     % e.source)
            return
        if not elements:
            return  # an empty range (hi < lo): matches nothing, in DCMTK either
        first_even = groups[0] + (groups[0] & 1)
        if e.vr == "ox" and self._base_code((first_even << 16) | elements[0]) == VR_CODE["OW"]:
            # pixel, overlay, waveform, curve data ...: pydicom's "OB or OW"
            # (OW), which the writer resolves per tag as storescp does;
            # other ox elements are OB (dictfile)
            code = VR_CODE["OW"]
        if not e.is_range:
            if e.element == 0:
                if code != VR_CODE["UL"]:
                    self.problems.append("%s: a group length is always UL (entry ignored)" % e.source)
                return
            self.tags[(e.group << 16) | e.element] = code
            return
        new = [((gm << 16) | em, (gv << 16) | ev)
               for gm, gv in _blocks(e.group, e.group_hi, e.group_parity if e.group_parity
                                     != dictfile.PARITY_ANY else dictfile.PARITY_EVEN)
               for em, ev in _blocks(e.element, e.element_hi, e.element_parity)]
        index = {(m, v): i for i, (m, v, _) in enumerate(self.reps)}
        added = sum(1 for mv in new if mv not in index)
        if len(self.reps) + added > MAX_REPEATERS:
            self.problems.append("%s: more than %d ranges in all (entry ignored)"
                                 % (e.source, MAX_REPEATERS))
            return
        for mask, value in new:
            i = index.get((mask, value))
            if i is None:
                self.reps.append((mask, value, code))
            else:
                self.reps[i] = (mask, value, code)

    def _private(self, e: dictfile.Entry, code: int) -> None:
        groups = [g for g in _numbers(e.group, e.group_hi, e.group_parity) if g & 1]
        elements = _numbers(e.element, e.element_hi, e.element_parity)
        flexible = [x for x in elements if x <= 0xFF]     # (gggg,"C",ee): any block
        exact = [x for x in elements if x >= 0x1000]      # (gggg,"C",eeee)
        if not groups or not (flexible or exact):
            return  # never matches (DCMTK: the same)
        if len(groups) * (len(flexible) + len(exact)) > _MAX_PRIVATE_KEYS_PER_ENTRY:
            # whole 256-group blocks need one key per element (below); check the rest
            partial = [g for g in groups if not self._whole_block(g >> 8, e)]
            if len(partial) * len(flexible) + len(groups) * len(exact) > _MAX_PRIVATE_KEYS_PER_ENTRY:
                self.problems.append("%s: range too large (entry ignored)" % e.source)
                return
        assert e.creator is not None     # private entries have a creator
        cid = self.creator_id(e.creator)
        private = self.private
        for g in groups:
            for x in exact:
                private[private_key(cid, g, x)] = code
        if not flexible:
            return
        done_blocks = set()
        for g in groups:
            block = g >> 8
            if block in done_blocks:
                continue
            if e.is_range and self._whole_block(block, e):
                # the writer's (gg00, ee) key covers every odd group of the
                # block; keys of single groups there would still come first
                done_blocks.add(block)
                for x in flexible:
                    private[private_key(cid, block << 8, 0x100 | x)] = code
                    for odd in range((block << 8) | 1, (block << 8) | 0x100, 2):
                        k = private_key(cid, odd, 0x100 | x)
                        if k in private:
                            private[k] = code
                continue
            for x in flexible:
                private[private_key(cid, g, 0x100 | x)] = code

    def _base_code(self, tag: int) -> int:
        """The code pydicom's dictionary alone gives a public tag."""
        code = self.base_tags.get(tag)
        if code is not None:
            return code
        for mask, value, code in self.base_reps:
            if tag & mask == value:
                return code
        return 0

    @staticmethod
    def _whole_block(block: int, e: dictfile.Entry) -> bool:
        """Does the entry cover every odd group gg01..ggFF of block gg?"""
        return (e.group_parity != dictfile.PARITY_EVEN and e.group <= (block << 8) | 1
                and (block << 8) | 0xFF <= e.group_hi)

    def freeze(self) -> _Frozen:
        tags = sorted(self.tags)
        # most specific masks first: the writer takes the first that matches
        reps = sorted(self.reps, key=lambda r: -bin(r[0]).count("1"))
        keys = sorted(self.private)
        return (array("I", tags), bytes(self.tags[t] for t in tags), tuple(reps),
                self.creators, array("Q", keys), bytes(self.private[k] for k in keys))


def _build(dictpath: Optional[str]) -> _Loaded:
    """The tables from pydicom's dictionaries and the files named in ``dictpath``;
    returns them with the files read and the problems met."""
    tables = _Tables()
    files = dictfile.paths_from_env(dictpath)
    entries: List[dictfile.Entry] = []
    for path in files:
        found, problems = dictfile.read_file(path)
        entries.extend(found)
        tables.problems.extend(problems)
    if entries:
        # all files at once: a single tag of an earlier file still beats a range of a later one
        tables.merge(entries)
    return tables.freeze() + (tuple(files), tuple(tables.problems))


def _load(dictpath: Optional[str]) -> _Loaded:
    """``_build``, falling back to pydicom's dictionary alone if merging the
    files fails unexpectedly: a dictionary file must never stop the server."""
    try:
        return _build(dictpath)
    except Exception as exc:  # a bug, or MemoryError on an absurd file
        return _build(None)[:6] + (tuple(dictfile.paths_from_env(dictpath)), (
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
