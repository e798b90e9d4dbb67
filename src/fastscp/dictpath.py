"""``DCMDICTPATH``: DCMTK's data dictionary files merged into the writer's tables.

The files named in ``DCMDICTPATH`` (DCMTK's format, :mod:`fastscp.dictfile`;
``os.pathsep``-separated, empty parts skipped) extend and override pydicom's
public entries, in the order DCMTK
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

Imported by :mod:`fastscp._dictionary` only when ``DCMDICTPATH`` is set
(its parser's regular expressions cost start-up time).
"""
from __future__ import annotations

from array import array
from typing import Iterable, List, Tuple

from fastscp import dictdata, dictfile
from fastscp.dictdata import MAX_REPEATERS, VR_CODE, private_key

#: a private range entry may expand to at most this many keys
_MAX_PRIVATE_KEYS_PER_ENTRY = 1 << 16

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

    def __init__(self, base: dictdata.Tables) -> None:
        self.tags, self.reps = dict(zip(base.tags, base.codes)), list(base.repeaters)
        self.creators = dictdata.creator_ids(base)
        self.private = dict(zip(base.private_keys, base.private_codes))
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
        self.base_reps = dictdata.by_specificity(self.reps)
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

    def freeze(self) -> dictdata.Frozen:
        tags = sorted(self.tags)
        keys = sorted(self.private)
        return (array("I", tags), bytes(self.tags[t] for t in tags),
                tuple(dictdata.by_specificity(self.reps)),
                self.creators, array("Q", keys), bytes(self.private[k] for k in keys))


def build(base: dictdata.Tables, dictpath: str) -> dictdata.Loaded:
    """``base`` with the entries of the files named in ``dictpath`` merged in."""
    files = dictfile.paths_from_env(dictpath)
    entries: List[dictfile.Entry] = []
    problems: List[str] = []
    for path in files:
        found, file_problems = dictfile.read_file(path)
        entries.extend(found)
        problems.extend(file_problems)
    tables = _Tables(base)
    tables.problems.extend(problems)
    if entries:
        # all files at once: a single tag of an earlier file still beats a range of a later one
        tables.merge(entries)
    return tables.freeze() + (tuple(files), tuple(tables.problems))
