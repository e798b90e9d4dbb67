"""Reader of DCMTK's data dictionary files (``dicom.dic``, ``private.dic``, the
files named in ``DCMDICTPATH``).

One entry per line, fields separated by single tabs::

    (0010,0010)                 PN  PatientName         1     DICOM
    (6000-60FF,3000)            ox  OverlayData         1     DICOM
    (0009,"FASTSCP TEST",01)    IS  SomeNumber          1     PrivateTag
    (0029,"SIEMENS CSA",1008)   CS  AtAFixedElement     1     PrivateTag

The rules are DCMTK 3.6.7's as measured with Debian's ``dcmdump`` (not taken
from its manual, which is vaguer):

* The line loses its trailing white space; a blank line or one whose first
  non-blank character is ``#`` is a comment.  The rest is split at every tab
  (so a leading tab or two tabs in a row make an empty field): 3 to 5 fields
  (tag, VR, name, VM, version), otherwise "too few" / "too many fields".
* Tag ``(group,element)`` or ``(group,"creator",element)``; white space
  outside the creator is ignored.  A number is read like C's ``%x`` (an
  optional ``0x``, hex digits, anything after them ignored, 16 bits kept).
  ``lo-hi`` is a range of even numbers, ``lo-o-hi`` odd ones, ``lo-u-hi``
  all, ``lo-e-hi`` even (any other letter: error).  An empty creator means a
  public tag.  A private element below 0x100 is the ``ee`` of ``xxee`` in
  any block of the creator; otherwise it is the element itself.
* VR: the first two characters of the field.  DCMTK's names are known,
  including its internal ones (``xs``, ``ox``, ``lt``, ``px``, ``up``,
  ``na``...); an unknown name of two capitals (``QQ``) is an error, any
  other unknown name (``??``, ``ui``) gives an unknown VR.
* VM: ``1``, ``1-3``, ``1-n``, ``2-2n``, ``n`` (as C's ``sscanf``
  accepts them); anything else is an error.  Name and version are free text.

A bad line is skipped with a message naming the file and line (DCMTK: an
``E:`` line, then it goes on, as fastscp does).  Which entry wins when
several match a tag is decided by :mod:`fastscp._dictionary`.
"""
from __future__ import annotations

import os
import re
from typing import List, NamedTuple, Optional, Sequence, Tuple

__all__ = ["Entry", "parse_lines", "read_file", "paths_from_env", "fastscp_vr", "PARITY_ANY",
           "PARITY_EVEN", "PARITY_ODD"]

#: range restrictions (which numbers of ``lo``..``hi`` a range covers)
PARITY_ANY, PARITY_EVEN, PARITY_ODD = "any", "even", "odd"
_RESTRICTORS = {"u": PARITY_ANY, "e": PARITY_EVEN, "o": PARITY_ODD}

#: VR names DCMTK 3.6.7 knows (first two characters of the field, case-sensitive)
_STANDARD_VRS = frozenset(
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
    "UR US UT UV".split())
#: DCMTK's internal names, as storescp writes elements read with them in
#: implicit VR (measured, odd lengths and +te): xs ("US or SS") US, lt ("US or
#: SS or OW", LUT data) OW, px (pixel data) OW, up (an offset) UL, ox ("OB or
#: OW") OB -- NUL-padded, written as OB -- except where _dictionary keeps OW
#: for the pixel/overlay/waveform data pydicom lists as OB or OW.  na and pi
#: (items) and the other internal names: UN (DCMTK cannot even parse an
#: ordinary element with them).
_INTERNAL_VRS = {"xs": "US", "lt": "OW", "ox": "OB", "px": "OW", "up": "UL", "na": "UN", "pi": "UN",
                 "ps": "UN"}

_HEX = r"(?:0[xX])?([0-9a-fA-F]+)(?![0-9a-fA-F])"
_PART = re.compile(_HEX + r"(?:-(.)-" + _HEX + r"|-" + _HEX + r")?", re.S)
_PRIVATE_TAG = re.compile(r'([^"]*),[ \t\v\f\r]*"([^"]*)"[ \t\v\f\r]*,([^"]*)', re.S)
_SIMPLE_TAG = re.compile(r"\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\)")
_INT = r"[+-]?[0-9]+(?![0-9])"  # greedy like %d: never gives digits back
#: C's isspace(): Python's str methods would also strip latin-1's NBSP and NEL
_CWS = " \t\n\r\v\f"
_WS = re.compile("[" + _CWS + "]+")


class Entry(NamedTuple):
    """One dictionary line.  Ranges are inclusive; ``*_parity`` says which
    numbers of the range count (a single number: ``PARITY_ANY``)."""

    group: int
    group_hi: int
    group_parity: str
    element: int
    element_hi: int
    element_parity: str
    creator: Optional[bytes]  # private creator (latin-1 bytes) or None
    vr: str                   # the VR name as DCMTK reads it: "UI", "xs", "??"...
    source: str               # "file, line N" (for messages)

    @property
    def is_range(self) -> bool:
        return self.group != self.group_hi or self.element != self.element_hi


class ParseError(ValueError):
    pass


def _number_part(text: str) -> Tuple[int, int, str]:
    """(lo, hi, parity) of one side of a tag, read like DCMTK's sscanf calls."""
    m = _PART.match(_WS.sub("", text))
    if not m:
        raise ParseError("bad Tag field")
    lo = int(m.group(1), 16) & 0xFFFF
    if m.group(3) is not None:
        parity = _RESTRICTORS.get(m.group(2).lower())
        if parity is None:
            raise ParseError("unknown range restrictor %r in Tag field" % m.group(2))
        return lo, int(m.group(3), 16) & 0xFFFF, parity
    if m.group(4) is not None:
        return lo, int(m.group(4), 16) & 0xFFFF, PARITY_EVEN  # DCMTK's default for ranges
    return lo, lo, PARITY_ANY


_Tag = Tuple[int, int, str, int, int, str, Optional[bytes]]


def _parse_tag(field: str) -> _Tag:
    m = _SIMPLE_TAG.fullmatch(field)
    if m:  # the common (gggg,eeee)
        g, e = int(m.group(1), 16), int(m.group(2), 16)
        return g, g, PARITY_ANY, e, e, PARITY_ANY, None
    field = field.strip(_CWS)
    if len(field) < 2 or field[0] != "(" or field[-1] != ")":
        raise ParseError("bad Tag field")
    inner = field[1:-1]
    creator: Optional[bytes] = None
    if '"' in inner:
        m = _PRIVATE_TAG.fullmatch(inner)
        if not m:
            raise ParseError("bad Tag field")
        group_text, name, element_text = m.groups()
        if name:  # DCMTK takes an empty creator for none (a public tag)
            creator = name.encode("latin-1")
    else:
        group_text, comma, element_text = inner.partition(",")
        if not comma:
            raise ParseError("bad Tag field")
    glo, ghi, gpar = _number_part(group_text)
    elo, ehi, epar = _number_part(element_text)
    return glo, ghi, gpar, elo, ehi, epar, creator


_VM_COMMON = re.compile(r"[0-9]+(?:-(?:[0-9]+n?|n))?")
#: DCMTK's sscanf patterns in its order: (pattern, the character read must be n)
_VM_PATTERNS = tuple((re.compile(p, re.S), n) for p, n in (
    (_INT + "-" + _INT + "(.)", True),    # 2-2n
    (_INT + "-" + _INT, False),           # 1-3
    (_INT + "-(.)", True),                # 1-n
    (_INT + "(.)", True),                 # 2n
    (_INT, False),                        # 1
))


def _check_vm(text: str) -> None:
    """Accept what DCMTK's chain of sscanf patterns accepts."""
    if _VM_COMMON.fullmatch(text):
        return
    s = _WS.sub("", text)
    for pattern, needs_n in _VM_PATTERNS:
        m = pattern.match(s)
        if m:
            if not needs_n or m.group(1) in ("n", "N"):
                return
            raise ParseError("bad VM field")
    if s[:1] not in ("n", "N"):
        raise ParseError("bad VM field")


def _read_vr(text: str) -> str:
    name = _WS.sub("", text)[:2]
    if name in _STANDARD_VRS or name in _INTERNAL_VRS:
        return name
    if len(name) == 2 and "A" <= name[0] <= "Z" and "A" <= name[1] <= "Z":
        raise ParseError("bad VR field")
    return "??"  # DCMTK: an unknown VR that it accepts


def fastscp_vr(dcmtk_vr: str) -> str:
    """The VR fastscp's writer uses for a VR name read from a dictionary file."""
    if dcmtk_vr in _STANDARD_VRS:
        return dcmtk_vr
    return _INTERNAL_VRS.get(dcmtk_vr, "UN")


def parse_lines(lines: Sequence[str], name: str = "<dictionary>") -> Tuple[List[Entry], List[str]]:
    """(entries, problems) of dictionary lines; ``name`` names the file in messages."""
    entries: List[Entry] = []
    problems: List[str] = []
    for number, line in enumerate(lines, 1):
        line = line.rstrip(_CWS)
        stripped = line.lstrip(_CWS)
        if not stripped or stripped.startswith("#"):
            continue
        fields = line.split("\t")
        source = "%s, line %d" % (name, number)
        if not 3 <= len(fields) <= 5:
            problems.append("%s: too %s fields (%d; tag, VR, name, VM and version separated by "
                            "single tabs expected) (entry ignored)"
                            % (source, "few" if len(fields) < 3 else "many", len(fields)))
            continue
        field = fields[0]
        try:
            tag = _parse_tag(field)
            field = fields[1]
            vr = _read_vr(field)
            if len(fields) > 3:
                field = fields[3]
                _check_vm(field)
        except ParseError as exc:
            # the offending field, as DCMTK shows it
            problems.append("%s: %s: %s (entry ignored)" % (source, exc, field.strip(_CWS)))
            continue
        entries.append(Entry(*tag, vr=vr, source=source))
    return entries, problems


def read_file(path: str) -> Tuple[List[Entry], List[str]]:
    """(entries, problems) of one dictionary file; an unreadable file is a problem."""
    try:
        with open(path, "rb") as fp:
            data = fp.read()
    except OSError as exc:
        return [], ["cannot read dictionary file %s: %s (file ignored)" % (path, exc.strerror or exc)]
    # latin-1 maps every byte, so creators compare byte for byte with received ones
    return parse_lines(data.decode("latin-1").split("\n"), path)


def paths_from_env(value: Optional[str]) -> List[str]:
    """The files named in a DCMDICTPATH value: separated by ``os.pathsep``
    (':' on POSIX, ';' on Windows, as DCMTK), empty components skipped."""
    if not value:
        return []
    return [p for p in value.split(os.pathsep) if p]
