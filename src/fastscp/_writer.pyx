# cython: language_level=3, boundscheck=True, wraparound=True, cdivision=True, initializedcheck=False
# (bounds checks only affect Python-object indexing here; the hot path uses raw pointers)
"""Dataset stream writer: turns received data set fragments into a DICOM file.

The writer reproduces what DCMTK ``storescp`` (3.6.7, default options) writes,
element by element, while the bytes stream through, with memory that does not
depend on the object size (one 256 KiB output buffer, a fixed stack of open
sequences/items, small per-attribute pick buffers).  Lengths that are only
known later are patched in place (in the buffer, or with ``pwrite``).

Normalisation rules (found by differential tests against ``storescp``; the
input is the data set as received, the output what storescp writes):

File meta (group 0002, explicit VR LE, after 128 zero bytes and ``DICM``):
  (0002,0000) UL group length; (0002,0001) OB ``00 01``; (0002,0002) and
  (0002,0003) from the data set's (0008,0016)/(0008,0018) -- the first one
  of VR UI in stream order at any depth (storescp searches depth-first, so a
  nested one counts when the top level lacks it) -- normalised like every UI
  value (below); missing SOP Class -> ``1.2.276.0.7230010.3.1.0.1``; missing
  SOP Instance -> a newly generated ``2.25.<uuid>`` UID (storescp generates
  one under its own root, so it never matches); present but empty ->
  zero-length element; (0002,0010) the transfer syntax; (0002,0012),
  (0002,0013) from the constructor; (0002,0016) calling AE title, trailing
  spaces removed (omitted when empty).  UI values padded with NUL, SH/AE with
  space.  The output is held back (up to the 256 KiB buffer, or until a value
  chunk large enough to be written directly) until both UIDs were seen; if it
  must be flushed before, the command's UIDs stand in for the missing ones.
  Only a (0008,0016)/(0008,0018) of VR UI counts for the meta: received as
  ``UN`` (e.g. an explicit VR file written by a converter) or ``LO`` it is
  "missing".  The picked-out attributes and the ``*_anywhere`` flags accept
  any string VR (storescp's SOP consistency check does: an ``LO`` SOP Class
  gives status A900, a ``UN`` or ``OB`` one C000).
  ``bit_preserving`` (storescp ``+B``): meta from the command's UIDs, then the
  data set bytes exactly as received.

Data set:
  * Odd-length values get one NUL byte appended (every VR, text included;
    also odd encapsulated pixel data fragments) -- except ``OW`` (explicit,
    or from the dictionary in implicit VR, e.g. pixel/overlay/LUT data),
    which keeps its odd length.
  * Text VRs (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UR UT) of even
    length: trailing spaces removed (only 0x20; not NUL, not TAB; leading
    spaces kept); if the result is odd, one space is appended.  Because the
    NUL of the odd-length rule comes first, odd-length text keeps its spaces.
  * UI: every white-space character (space, TAB, LF, VT, FF, CR) removed
    anywhere in the value, then trailing NULs removed, then NUL-padded to even
    length.  Embedded NULs are kept.
  * Sequences and items are written with explicit (defined) lengths;
    item/sequence delimitation items are dropped (also a stray item delimiter
    inside a defined-length item).
  * Existing group length elements (gggg,0000) are recalculated at every
    nesting level (including groups 0000 and 0002 inside the data set); absent
    ones are not added.  The value is the byte count of the following
    elements of that group.  A group length element that is not ``UL`` of
    length 4 is rewritten as ``UL``: length < 4 -> length 4; otherwise the
    length is kept and only the first value replaced.
  * Data set trailing padding (FFFC,FFFC) is removed at every level.
  * An element whose tag repeats the previous tag of the same item is dropped
    (storescp keeps the first of duplicates).
  * Explicit VR ``UN`` of undefined length is read as a sequence whose content
    is implicit VR little endian, and written as ``SQ`` with explicit lengths,
    the content converted to explicit VR (VR as for implicit VR, below;
    ``US or SS`` -> US, any ``... or OW`` -> OW).
  * Undefined length ``OB``/``OW`` other than (7FE0,0010), or any other
    non-``SQ`` explicit VR with undefined length: storescp cannot parse it ->
    ``DatasetError``.
  * Encapsulated pixel data keeps its undefined length, VR always ``OB``
    (also when received as ``OW``), fragments as received (odd ones
    NUL-padded), sequence delimiter kept.
  * In implicit VR the VR comes from the data dictionary
    (``fastscp._dictionary``), for private tags from the private dictionary
    via the item's private creators (so e.g. a private IS ``"12  "`` becomes
    ``"12"``).  The creator is matched as storescp sees it: trailing spaces
    removed from an even-length value only, cut at the first NUL; unknown
    creators or elements: ``UN``; private creator elements: ``LO``.  An
    undefined length means a sequence ((7FE0,0010): encapsulated).
  * No trailing padding is added, nothing else changes.

Output options (storescp's, each checked by differential tests,
``tests/test_output_options.py``; all streamed, nothing buffered):
  * ``write_file_meta=False`` (``-F``): no preamble, no meta, only the data set.
  * ``undefined_lengths`` (``-e``): sequences and items get undefined lengths
    and delimitation items (group lengths count the delimiters).
  * ``group_length="create"`` (``+g``): a (gggg,0000) UL placeholder is written
    when a group starts, at every nesting level, and patched at the group's
    end; a received one of that group is used instead (a later duplicate is
    dropped).  ``"remove"`` (``-g``): every group length of the data set is
    dropped (the file meta keeps its own).
  * ``padding=(f, i)`` (``+p f i``): at the end of every item whose content is
    not a multiple of ``i`` bytes, and at the end of the data set when the
    whole file (preamble and meta included) is not a multiple of ``f``, a
    (FFFC,FFFC) OB element of NULs that makes it one (value length 0 when the
    header alone does).  An odd ``f`` or ``i``: no padding at all (dcmdata
    refuses odd padding and storescp then writes none).  0: no padding there.
  * ``convert_un`` (``+uc``): a defined-length explicit ``UN`` element gets
    its dictionary VR (private tags: by the item's private creators, tracked
    in explicit VR too) and is then normalised as that VR; one that is a
    sequence is parsed as implicit VR little endian content.  In big endian
    the UN value (little endian, as dcmdata reads it) is byte-swapped by the
    new VR's unit, as is the converted sequence content, whose tags and
    lengths are written big endian.
  * ``new_vrs=False`` (``-u``): UN UT UC UR OF OD OL OV SV UV are written as
    ``OB`` (value unchanged; in big endian the binary ones are swapped to
    little endian, since storescp writes its host-order value as bytes).
  * ``output_transfer_syntax`` (``+te``/``+tb``/``+ti``; ``+td`` is
    ``fastscp.deflate``, which feeds this writer explicit VR little endian):
    the data set is read in the received syntax and written in this one,
    element by element.  Implicit VR input gets its VRs from the dictionary
    (as above, and in explicit output the VR letters are visible: dcmdata's
    choices for ambiguous dictionary VRs are reproduced -- pixel padding,
    smallest/largest pixel values, LUT descriptors ... are SS when the same
    item's PixelRepresentation, read before, is 1, otherwise US; waveform
    data OB when WaveformBitsAllocated is 8, otherwise OW (OB without it);
    pixel and overlay data OW; curve, audio and other 'OB or OW' data OB;
    LUT data OW).  Binary values are byte-swapped by their VR's unit (US SS
    OW AT: 2; UL SL FL OF OL: 4; FD OD SV UV OV: 8) when the byte order
    changes; OB, UN and text are copied.  Encapsulated pixel data cannot be
    converted (storescp has no codecs here): ``OutputError``, which the
    server answers with 0xA700 and no file, as storescp does.
  * ``bit_preserving`` (``+B``) excludes all of these (the CLI refuses them,
    as storescp does, except ``-F``, ``-uc``/``+uc`` and ``-p``).

Imperfect data sets (storescp's reading of the last PDV, measured byte by
byte in tests/test_malformed.py): a data set that ends inside an element
header loses that header; one that ends before the value of its last element
begins keeps that element with an empty value; the open sequences and items
are closed with what they hold (``discarded``; the server answers 0xB006).  A
value cut short, or an item or sequence that ends at an element boundary
before its end, raises DatasetError (storescp aborts).  An unknown VR is read
with a 2-byte length and written as UN; an item delimiter in the data set
ends it (what follows is ignored); pixel data must be encapsulated exactly
when the received syntax is (top level; nested pixel data may be native),
else OutputError (native syntax) or DatasetError; a pixel sequence needs its
Basic Offset Table item.

Known deviations (bounded memory makes them impossible or they are rare):
  * storescp sorts elements into ascending tag order; an element received out
    of order is written where it was received (only consecutive duplicates
    are dropped).
  * In implicit VR storescp takes the VR of private tags from its private
    dictionary; here pydicom's private dictionary stands in for it (private
    creators are tracked per item), so entries the two dictionaries disagree
    on may differ -- unless ``DCMDICTPATH`` names DCMTK's dictionary files,
    whose private entries then replace pydicom's (``fastscp._dictionary``).
    Private tags of an unknown creator are ``UN``.
  * Explicit VR big endian with a ``UN`` element of undefined length raises
    DatasetError.
  * With ``+p`` the file padding differs from storescp's by the difference in
    file meta length (fastscp's implementation UID and version name are
    longer); the file is a multiple of ``f`` bytes all the same.
"""

cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t
from libc.string cimport memcpy, memset
from libc.stdlib cimport malloc, free
from libc.errno cimport errno, EINTR
from posix.unistd cimport write as c_write, pwrite as c_pwrite
from posix.types cimport off_t
from fastscp._sink cimport DatasetSink

import functools
import os
import struct

from fastscp.errors import DatasetError, OutputError
from fastscp import uids
from fastscp import _dictionary

__all__ = ["DatasetWriter", "WriteResult"]

# ---------------------------------------------------------------- constants
DEF OBUF_SIZE = 262144          # output buffer
DEF RESERVE = 4096              # room for the file meta in front of the buffer
DEF DIRECT_MIN = 65536          # values chunks this large bypass the buffer
DEF MAX_FRAMES = 130            # dataset + 64 levels of sequence/item
DEF PICK_CAP = 1024
DEF NPICK = 10         # 6 top-level attributes, first SOP class/instance UID at any depth, private creator, US value
DEF MAX_CREATORS = 256  # private creators remembered (implicit VR), all open items together
# the six top-level attributes (PICK_TAGS order), reported by finish()
DEF PICK_CHARSET = 0
DEF PICK_CLASS = 1
DEF PICK_INSTANCE = 2
DEF PICK_MODALITY = 3
DEF PICK_PATIENT = 4
DEF PICK_STUDY = 5
DEF PICK_CREATOR = 8
DEF PICK_US = 9         # PixelRepresentation / WaveformBitsAllocated of the current item

cdef enum:
    ST_HEADER = 0
    ST_VALUE = 1

cdef enum:
    K_DATASET = 0
    K_ITEM = 1
    K_SEQ = 2
    K_ENCAPS = 3

cdef enum:
    VM_RAW = 0      # copy (pad NUL if odd)
    VM_STR = 1      # text VR of even length: strip trailing spaces
    VM_UI = 2       # UI: remove white space, strip trailing NULs
    VM_SKIP = 3     # discard
    VM_SWAP = 4     # binary value whose byte order changes: reverse each unit of v_unit bytes

cdef enum:
    GL_RECALC = 0   # +g=: recalculate the group lengths that are present
    GL_CREATE = 1   # +g: a group length element in front of every group
    GL_REMOVE = 2   # -g: drop every group length element

cdef enum:
    C_BIN = 0
    C_STR = 1
    C_UI = 2
    C_SQ = 3

cdef uint32_t TAG_ITEM = 0xFFFEE000
cdef uint32_t TAG_ITEM_DELIM = 0xFFFEE00D
cdef uint32_t TAG_SEQ_DELIM = 0xFFFEE0DD
cdef uint32_t TAG_PIXEL = 0x7FE00010
cdef uint32_t TAG_PADDING = 0xFFFCFFFC
cdef uint32_t UNDEF = 0xFFFFFFFF
cdef int64_t NO_LIMIT = 0x7FFFFFFFFFFFFFFF

cdef uint32_t[NPICK] PICK_TAGS
PICK_TAGS[:] = [0x00080005, 0x00080016, 0x00080018, 0x00080060, 0x00100010, 0x0020000D, 0, 0, 0, 0]
cdef uint32_t TAG_PIXEL_REPRESENTATION = 0x00280103
cdef uint32_t TAG_WAVEFORM_BITS = 0x54001004

PRIVATE_SOP_CLASS = b"1.2.276.0.7230010.3.1.0.1"


# ---------------------------------------------------------------- VR tables
cdef int NVR = len(_dictionary.VRS)
cdef uint8_t[34] VR_CLASS
cdef uint8_t[34] VR_LONG
cdef uint8_t[34] VR_NEW             # written as OB with -u (storescp --disable-new-vr)
cdef uint8_t[34] VR_UNIT            # byte-swapping unit of binary VRs (0: bytes)
cdef char[34][2] VR_CHARS
cdef uint8_t[676] VR_FROM_CHARS     # (c0-'A')*26 + (c1-'A') -> code+1, 0 = invalid
cdef int VR_SQ = _dictionary.VR_CODE["SQ"]
cdef int VR_UN = _dictionary.VR_CODE["UN"]
cdef int VR_UL = _dictionary.VR_CODE["UL"]
cdef int VR_UI = _dictionary.VR_CODE["UI"]
cdef int VR_OB = _dictionary.VR_CODE["OB"]
cdef int VR_OW = _dictionary.VR_CODE["OW"]


def _init_vr_tables():
    cdef int i
    text = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
    longvr = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
    assert NVR <= 34
    for i in range(676):
        VR_FROM_CHARS[i] = 0
    for i, vr in enumerate(_dictionary.VRS):
        VR_CLASS[i] = C_SQ if vr == "SQ" else C_UI if vr == "UI" else C_STR if vr in text else C_BIN
        VR_LONG[i] = 1 if vr in longvr else 0
        VR_NEW[i] = 1 if vr in ("UN", "UT", "UC", "UR", "OF", "OD", "OL", "OV", "SV", "UV") else 0
        VR_UNIT[i] = (2 if vr in ("US", "SS", "OW", "AT") else 4 if vr in ("UL", "SL", "FL", "OF", "OL")
                      else 8 if vr in ("FD", "OD", "SV", "UV", "OV") else 0)
        VR_CHARS[i][0] = ord(vr[0])
        VR_CHARS[i][1] = ord(vr[1])
        VR_FROM_CHARS[(ord(vr[0]) - 65) * 26 + (ord(vr[1]) - 65)] = i + 1


_init_vr_tables()

# dictionary (implicit VR): sorted tags + codes, repeater masks
cdef uint32_t* D_TAGS = NULL
cdef uint8_t* D_CODES = NULL
cdef Py_ssize_t D_N = 0
cdef uint32_t[256] R_MASK
cdef uint32_t[256] R_VALUE
cdef uint8_t[256] R_CODE
cdef int R_N = 0


cdef uint8_t* _copy_codes(codes) except NULL:
    """A malloc'ed C copy of a VR code table (bytes) from _dictionary."""
    cdef Py_ssize_t i, n = len(codes)
    cdef uint8_t* out = <uint8_t*>malloc(max(n, 1))
    if out == NULL:
        raise MemoryError()
    for i in range(n):
        out[i] = codes[i]
    return out


def _init_dictionary():
    global D_TAGS, D_CODES, D_N, R_N
    cdef Py_ssize_t i, n = len(_dictionary.TAGS)
    D_TAGS = <uint32_t*>malloc(max(n, 1) * sizeof(uint32_t))
    if D_TAGS == NULL:
        raise MemoryError()
    tags = _dictionary.TAGS
    for i in range(n):
        D_TAGS[i] = tags[i]
    D_CODES = _copy_codes(_dictionary.CODES)
    D_N = n
    R_N = 0
    for mask, value, code in _dictionary.REPEATERS[:256]:
        R_MASK[R_N] = mask
        R_VALUE[R_N] = value
        R_CODE[R_N] = code
        R_N += 1


_init_dictionary()

# private dictionary: sorted keys (creator id << 32 | group << 16 | elem) + codes
cdef uint64_t* P_KEYS = NULL
cdef uint8_t* P_CODES = NULL
cdef Py_ssize_t P_N = 0
_PRIVATE_CREATORS = _dictionary.PRIVATE_CREATORS


def _init_private():
    global P_KEYS, P_CODES, P_N
    cdef Py_ssize_t i, n = len(_dictionary.PRIVATE_KEYS)
    P_KEYS = <uint64_t*>malloc(max(n, 1) * sizeof(uint64_t))
    if P_KEYS == NULL:
        raise MemoryError()
    keys = _dictionary.PRIVATE_KEYS
    for i in range(n):
        P_KEYS[i] = keys[i]
    P_CODES = _copy_codes(_dictionary.PRIVATE_CODES)
    P_N = n


_init_private()


cdef inline int private_find(uint64_t key) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = P_N, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if P_KEYS[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < P_N and P_KEYS[lo] == key:
        return P_CODES[lo]
    return -1


cdef inline int private_vr(uint32_t cid, uint32_t grp, uint32_t elem) noexcept nogil:
    cdef uint64_t base = (<uint64_t>cid) << 32
    cdef int code = private_find(base | (<uint64_t>grp << 16) | elem)
    if code < 0:
        code = private_find(base | (<uint64_t>grp << 16) | 0x100 | (elem & 0xFF))
    if code < 0:
        code = private_find(base | (<uint64_t>(grp & 0xFF00) << 16) | 0x100 | (elem & 0xFF))
    return VR_UN if code < 0 else code


cdef inline int dict_vr(uint32_t tag) noexcept nogil:
    cdef uint32_t grp = tag >> 16
    cdef uint32_t elem = tag & 0xFFFF
    cdef Py_ssize_t lo = 0, hi = D_N, mid
    cdef int i
    if elem == 0:
        return VR_UL
    if grp & 1:
        if 0x10 <= elem <= 0xFF:
            return 11  # LO (checked at import below)
        return VR_UN
    while lo < hi:
        mid = (lo + hi) >> 1
        if D_TAGS[mid] < tag:
            lo = mid + 1
        else:
            hi = mid
    if lo < D_N and D_TAGS[lo] == tag:
        return D_CODES[lo]
    for i in range(R_N):
        if (tag & R_MASK[i]) == R_VALUE[i]:
            return R_CODE[i]
    return VR_UN


assert _dictionary.VR_CODE["LO"] == 11

cdef int VR_US = _dictionary.VR_CODE["US"]
cdef int VR_SS = _dictionary.VR_CODE["SS"]


cdef inline bint pixel_value_tag(uint32_t tag) noexcept nogil:
    """Tags whose dictionary VR 'US or SS' follows the item's PixelRepresentation
    (as dcmdata resolves them; other 'US or SS' tags stay US)."""
    return (tag == 0x00189810 or tag == 0x00280106 or tag == 0x00280107 or tag == 0x00280108
            or tag == 0x00280109 or tag == 0x00280120 or tag == 0x00280121 or tag == 0x00283002
            or tag == 0x00409211 or tag == 0x00409216 or tag == 0x00603004 or tag == 0x00603006)


cdef inline bint waveform_tag(uint32_t tag) noexcept nogil:
    """Tags whose dictionary VR 'OB or OW' follows the item's WaveformBitsAllocated."""
    return tag == 0x54000110 or tag == 0x54000112 or tag == 0x5400100A or tag == 0x54001010


cdef inline int resolve_vr(Frame* f, uint32_t tag, int vr) noexcept nogil:
    """A dictionary VR as storescp (dcmdata) writes it for an element read
    without a VR.  The tables map 'US or SS' to US and every 'OB or OW' to OW;
    dcmdata makes pixel padding/smallest/largest values, LUT descriptors ... SS
    when the same item's PixelRepresentation (read before) is 1, waveform data
    OB when WaveformBitsAllocated is 8 (otherwise OW; OB when absent), and the
    other 'OB or OW' elements -- except pixel and overlay data -- OB."""
    cdef uint32_t grp
    if vr == VR_US:
        if f.pixel_rep == 1 and pixel_value_tag(tag):
            return VR_SS
        return vr
    if vr != VR_OW:
        return vr
    grp = tag >> 16
    if waveform_tag(tag):
        return VR_OW if f.wave_bits >= 0 and f.wave_bits != 8 else VR_OB
    if (tag == 0x00143050 or tag == 0x00143070 or ((grp & 0xFF00) == 0x5000 and ((tag & 0xFFFF) == 0x200C
            or (tag & 0xFFFF) == 0x3000)) or ((grp & 0xFF00) == 0x7F00 and grp != 0x7FE0 and (tag & 0xFFFF) == 0x0010)):
        return VR_OB
    return vr


def _vr_for_tag(tag):
    """The VR the writer uses for ``tag`` in implicit VR (for tests)."""
    return _dictionary.VRS[dict_vr(tag)]


# ---------------------------------------------------------------- helpers
cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>
    /* m bytes from p to o, each unit of u (2, 4 or 8) bytes reversed; m is a
       multiple of u.  memcpy loads/stores: no alignment assumed, and compilers
       turn the loops into vector byte shuffles. */
    static void fastscp_swap_units(uint8_t *o, const uint8_t *p, Py_ssize_t m, int u) {
        Py_ssize_t j;
        if (u == 2) {
            for (j = 0; j < m; j += 2) {
                uint16_t v; memcpy(&v, p + j, 2); v = __builtin_bswap16(v); memcpy(o + j, &v, 2);
            }
        } else if (u == 4) {
            for (j = 0; j < m; j += 4) {
                uint32_t v; memcpy(&v, p + j, 4); v = __builtin_bswap32(v); memcpy(o + j, &v, 4);
            }
        } else {
            for (j = 0; j < m; j += 8) {
                uint64_t v; memcpy(&v, p + j, 8); v = __builtin_bswap64(v); memcpy(o + j, &v, 8);
            }
        }
    }
    """
    void fastscp_swap_units(uint8_t* o, const uint8_t* p, Py_ssize_t m, int u) nogil

cdef inline uint16_t rd16(const uint8_t* p, bint be) noexcept nogil:
    if be:
        return (<uint16_t>p[0] << 8) | p[1]
    return (<uint16_t>p[1] << 8) | p[0]


cdef inline uint32_t rd32(const uint8_t* p, bint be) noexcept nogil:
    if be:
        return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline void wr16(uint8_t* p, uint32_t v, bint be) noexcept nogil:
    if be:
        p[0] = (v >> 8) & 0xFF
        p[1] = v & 0xFF
    else:
        p[0] = v & 0xFF
        p[1] = (v >> 8) & 0xFF


cdef inline void wr32(uint8_t* p, uint32_t v, bint be) noexcept nogil:
    if be:
        p[0] = (v >> 24) & 0xFF
        p[1] = (v >> 16) & 0xFF
        p[2] = (v >> 8) & 0xFF
        p[3] = v & 0xFF
    else:
        p[0] = v & 0xFF
        p[1] = (v >> 8) & 0xFF
        p[2] = (v >> 16) & 0xFF
        p[3] = (v >> 24) & 0xFF


cdef inline void put_tag(uint8_t* p, uint32_t tag, bint be) noexcept nogil:
    wr16(p, tag >> 16, be)
    wr16(p + 2, tag & 0xFFFF, be)


cdef inline bint is_c_space(uint8_t c) noexcept nogil:
    return c == 0x20 or (0x09 <= c <= 0x0D)


cdef int write_all(int fd, const uint8_t* p, Py_ssize_t n, int64_t off=-1) except -1:
    """Write n bytes at the file position (off < 0) or with pwrite at off,
    retrying short writes and EINTR, with the GIL released."""
    cdef Py_ssize_t r
    cdef int err = 0
    while n > 0:
        with nogil:
            if off < 0:
                r = c_write(fd, p, <size_t>n)
            else:
                r = c_pwrite(fd, p, <size_t>n, <off_t>off)
            if r < 0:
                err = errno
        if r < 0:
            if err == EINTR:
                continue
            raise OSError(err, os.strerror(err))
        if r == 0:
            raise OSError("write() returned 0")
        p += r
        n -= r
        if off >= 0:
            off += r
    return 0


def _pad(bytes v, bytes padchar):
    return v + padchar if len(v) % 2 else v


# the file meta is built once per object: its fixed parts are made once
_ELEMENT_HEADER = struct.Struct("<HH2sH")
_GROUP_LENGTH = struct.Struct("<HH2sHI")
_META_VERSION = _GROUP_LENGTH.pack(2, 1, b"OB", 0, 2) + b"\x00\x01"
_GROUP_LENGTH_HEADER = _ELEMENT_HEADER.pack(2, 0, b"UL", 4)


def _meta_element(int tag, str vr, bytes value):
    return _ELEMENT_HEADER.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


@functools.lru_cache(maxsize=256)
def _meta_tail(str transfer_syntax, str impl_uid, str impl_version, str calling_ae):
    """The meta elements after the SOP instance: the same for every object
    of a presentation context of an association."""
    body = [
        _meta_element(0x00020010, "UI", _pad(transfer_syntax.encode("ascii", "replace"), b"\0")),
        _meta_element(0x00020012, "UI", _pad(impl_uid.encode("ascii", "replace"), b"\0")),
    ]
    if impl_version:
        body.append(_meta_element(0x00020013, "SH", _pad(impl_version.encode("ascii", "replace"), b" ")))
    ae = calling_ae.rstrip(" ").encode("ascii", "replace")
    if ae:
        body.append(_meta_element(0x00020016, "AE", _pad(ae, b" ")))
    return b"".join(body)


cdef Py_ssize_t _meta_size(Py_ssize_t class_len, Py_ssize_t instance_len, Py_ssize_t tail_len) noexcept:
    """Bytes of the preamble and file meta for UIDs of these (unpadded) lengths."""
    return (132 + 12 + 14 + 8 + class_len + (class_len & 1) + 8 + instance_len + (instance_len & 1)
            + tail_len)


cdef void _put_meta(uint8_t* o, const uint8_t* sop_class, Py_ssize_t class_len,
                    const uint8_t* sop_instance, Py_ssize_t instance_len,
                    const uint8_t* tail, Py_ssize_t tail_len) noexcept:
    """Preamble, DICM and the file meta group at ``o`` (`_meta_size` bytes):
    (0002,0000) and (0002,0001), the SOP class and instance UIDs padded with
    a NUL, then ``tail`` (the elements after them, `_meta_tail`)."""
    cdef Py_ssize_t n = _meta_size(class_len, instance_len, tail_len)
    memset(o, 0, 128)
    memcpy(o + 128, b"DICM", 4)
    o += 132
    memcpy(o, <const uint8_t*><char*>_GROUP_LENGTH_HEADER, 8)
    wr32(o + 8, <uint32_t>(n - 132 - 12), False)
    o += 12
    memcpy(o, <const uint8_t*><char*>_META_VERSION, 14)
    o += 14
    o = _put_meta_ui(o, 0x0002, sop_class, class_len)
    o = _put_meta_ui(o, 0x0003, sop_instance, instance_len)
    memcpy(o, tail, tail_len)


cdef uint8_t* _put_meta_ui(uint8_t* o, uint32_t element, const uint8_t* value, Py_ssize_t n) noexcept:
    """A (0002,element) UI element padded with a NUL; returns the end."""
    cdef Py_ssize_t padded = n + (n & 1)
    wr16(o, 2, False)
    wr16(o + 2, element, False)
    o[4] = b"U"[0]
    o[5] = b"I"[0]
    wr16(o + 6, <uint32_t>padded, False)
    memcpy(o + 8, value, n)
    if n & 1:
        o[8 + n] = 0
    return o + 8 + padded


def _readable(str ts):
    """The stream writer can parse a data set in this transfer syntax."""
    try:
        _encoding(ts, False)
    except NotImplementedError:
        return False
    return True


#: (implicit VR, big endian) of the uncompressed syntaxes, from the table in `fastscp.uids`
_UNCOMPRESSED_ENCODING = {
    uid: (not uids.transfer_syntax(uid).explicit_vr, not uids.transfer_syntax(uid).little_endian)
    for uid in uids.UNCOMPRESSED_TRANSFER_SYNTAXES}


def _encoding(str ts, bint bit_preserving):
    """(implicit VR, big endian) of the data set encoding of a transfer syntax
    the stream writer reads or writes (the facts: `fastscp.uids`)."""
    encoding = _UNCOMPRESSED_ENCODING.get(ts)
    if encoding is not None:
        return encoding
    if ts == uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        if not bit_preserving:
            raise NotImplementedError(
                "deflated explicit VR little endian is handled by fastscp.deflate, not the stream writer")
        return False, False
    if uids.is_standard_transfer_syntax(ts) or bit_preserving:
        # every other syntax of the standard, known here or not, is read as
        # explicit VR little endian with encapsulated pixel data
        return False, False
    raise NotImplementedError(f"transfer syntax {ts!r} is not supported by the stream writer")


# ---------------------------------------------------------------- the result
@cython.final
cdef class WriteResult:
    """What a writer's ``finish()`` reports: the file written and the
    attributes picked out of its data set.

    One definition for both writers: `DatasetWriter.finish()` makes it,
    `fastscp.deflate.DeflatedWriter.finish()` returns it with the deflated
    file's size (`replace`).  Immutable; compared by value.  The picked-out
    values are those of the first element of each tag in stream order (see
    the module doc), None when the data set has none (always with bit
    preserving writing, which parses nothing out).
    """
    #: size of the file written (file meta included)
    cdef readonly int64_t bytes_written
    #: received data was dropped or emptied to store the rest (a data set cut
    #: inside an element, a repeated element): the status is 0xB006
    cdef readonly bint elements_discarded
    #: a (0008,0016) / (0008,0018) of a string VR was seen at any depth
    cdef readonly bint sop_class_uid_anywhere, sop_instance_uid_anywhere
    #: UIDs as written (white space removed, trailing NULs stripped); text
    #: without trailing NULs and spaces; the patient name as received
    cdef readonly str sop_class_uid, sop_instance_uid, study_instance_uid
    cdef readonly str modality, specific_character_set
    cdef readonly bytes patient_name

    def __init__(self, *, int64_t bytes_written, bint elements_discarded,
                 bint sop_class_uid_anywhere, bint sop_instance_uid_anywhere,
                 str sop_class_uid=None, str sop_instance_uid=None, str study_instance_uid=None,
                 str modality=None, str specific_character_set=None, bytes patient_name=None):
        self.bytes_written = bytes_written
        self.elements_discarded = elements_discarded
        self.sop_class_uid_anywhere = sop_class_uid_anywhere
        self.sop_instance_uid_anywhere = sop_instance_uid_anywhere
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid
        self.study_instance_uid = study_instance_uid
        self.modality = modality
        self.specific_character_set = specific_character_set
        self.patient_name = patient_name

    def as_dict(self):
        """The fields by name."""
        return {name: getattr(self, name) for name in RESULT_FIELDS}

    def replace(self, **changes):
        """A copy with the given fields changed."""
        fields = self.as_dict()
        fields.update(changes)
        return WriteResult(**fields)

    def __eq__(self, other):
        if type(other) is not WriteResult:
            return NotImplemented
        return self.as_dict() == (<WriteResult>other).as_dict()

    def __hash__(self):
        return hash(tuple(self.as_dict().values()))

    def __repr__(self):
        return "WriteResult(%s)" % ", ".join("%s=%r" % item for item in self.as_dict().items())


#: the fields of a WriteResult, in the order of its constructor
RESULT_FIELDS = ("bytes_written", "elements_discarded", "sop_class_uid_anywhere",
                 "sop_instance_uid_anywhere", "sop_class_uid", "sop_instance_uid",
                 "study_instance_uid", "modality", "specific_character_set", "patient_name")


# ---------------------------------------------------------------- the writer
ctypedef struct Frame:
    int kind
    bint undefined
    bint implicit          # content is parsed as implicit VR little endian
    bint suppressed        # inside a dropped element: nothing is written
    int64_t end            # input position where a defined-length container ends
    int64_t in_start       # input position of the first content byte
    int nitems             # items seen so far (encapsulated pixel data: BOT + fragments)
    int64_t limit          # input position nothing inside may pass
    int64_t len_pos        # output position of the length field to patch (-1: none)
    int64_t content_start  # output position of the first content byte
    uint32_t last_tag
    bint has_last          # an element was written in this item (last_tag is valid)
    int cr_start           # first private creator entry of this item
    int pixel_rep          # this item's PixelRepresentation (-1: none yet)
    int wave_bits          # this item's WaveformBitsAllocated (-1: none yet)
    bint gl_active
    uint32_t gl_group
    int64_t gl_pos         # output position of the group length value
    int64_t gl_start       # output position after the group length element


cdef class DatasetWriter(DatasetSink):
    """Streams one received data set into a DICOM file on ``fd``.

    See the module docstring for what is written.  ``fd`` must be a regular
    file opened for writing, positioned at 0; it is never closed here.
    """

    cdef int fd
    cdef bint in_implicit, in_be      # how the data set arrives
    cdef bint out_implicit, out_be    # how it is written
    cdef bint encaps_ok           # encapsulated pixel data can be written (output syntax = input syntax)
    cdef bint in_encapsulated     # the received syntax is an encapsulated (compressed) one
    cdef bint discarded           # received data was dropped or emptied (truncated data set ...)
    cdef bint ds_ended            # an item delimiter ended the data set: the rest is ignored
    cdef bint cut                 # ... because the data set was cut short (not a mere repetition)
    cdef bint fragment_empty      # the last pixel data item read had length 0
    cdef bint bitpres, write_meta
    cdef int gl_mode              # GL_RECALC / GL_CREATE / GL_REMOVE
    cdef bint undef_out           # sequences and items with undefined lengths (-e)
    cdef int64_t file_pad, item_pad   # +p f i (0: none)
    cdef bint convert_un          # +uc: defined-length UN gets its dictionary VR
    cdef bint old_vrs             # -u: VRs newer than 1993 written as OB
    cdef str transfer_syntax, calling_ae, impl_uid, impl_version
    cdef bytes meta_tail          # the file meta after the SOP instance UID (made once)
    cdef bytes cmd_class, cmd_instance
    # output
    cdef uint8_t* mem
    cdef uint8_t* obuf            # = mem + RESERVE
    cdef Py_ssize_t ofill
    cdef Py_ssize_t prefix        # meta bytes placed just before obuf, unwritten
    cdef int64_t obuf_ds_pos      # data set position of obuf[0]
    cdef int64_t meta_len
    cdef bint meta_resolved, meta_forced
    cdef bint suppress
    cdef int suppress_depth
    cdef uint8_t scratch[16]
    # input
    cdef int64_t in_pos
    cdef int state
    cdef uint8_t hbuf[16]
    cdef int hlen
    cdef Frame frames[MAX_FRAMES]
    cdef int depth
    # current value
    cdef int v_mode
    cdef int64_t v_rem, v_total, v_skip, v_pending, v_start, v_len_pos
    cdef int v_len_size
    cdef int v_unit, sw_n
    cdef uint8_t swbuf[8]
    cdef bint v_pad, v_padspace_even
    cdef int v_pick
    # picks
    cdef uint8_t picks[NPICK][PICK_CAP]
    cdef int pick_len[NPICK]
    cdef bint pick_seen[NPICK]
    cdef bint class_anywhere, instance_anywhere, class_nested, instance_nested, ui_class, ui_instance
    cdef bint failed, finished
    # +B: the bytes go to the file as received; a second writer parses them
    # into /dev/null so that an invalid data set still fails
    cdef DatasetWriter validator
    cdef int null_fd
    # private creators of the open items (implicit VR only)
    cdef uint16_t cr_group[MAX_CREATORS]
    cdef uint8_t cr_block[MAX_CREATORS]
    cdef int32_t cr_id[MAX_CREATORS]
    cdef int cr_top
    cdef uint16_t v_cr_group
    cdef uint8_t v_cr_block
    cdef bint v_src_be            # byte order of the current value as received
    cdef uint32_t v_us_tag        # the tag PICK_US collects

    def __cinit__(self):
        self.mem = NULL
        self.null_fd = -1

    def __init__(self, int fd, transfer_syntax, *, str calling_ae_title,
                 str implementation_class_uid, str implementation_version_name,
                 str command_sop_class_uid, str command_sop_instance_uid,
                 bint bit_preserving=False, bint write_file_meta=True,
                 str group_length="recalc", bint undefined_lengths=False,
                 padding=None, bint convert_un=False, bint new_vrs=True,
                 output_transfer_syntax=None, meta_transfer_syntax=None):
        if self.mem != NULL:
            raise RuntimeError("DatasetWriter cannot be re-initialised")
        # the transfer syntax named in the file meta (DeflatedWriter: the deflated one)
        self.transfer_syntax = None if meta_transfer_syntax is None else str(meta_transfer_syntax)
        if output_transfer_syntax is not None:
            output_transfer_syntax = str(output_transfer_syntax)
        self.calling_ae = calling_ae_title
        self.impl_uid = implementation_class_uid
        self.impl_version = implementation_version_name
        self.bitpres = bit_preserving
        self.write_meta = write_file_meta
        if group_length == "recalc":
            self.gl_mode = GL_RECALC
        elif group_length == "create":
            self.gl_mode = GL_CREATE
        elif group_length == "remove":
            self.gl_mode = GL_REMOVE
        else:
            raise ValueError(f"group_length must be 'recalc', 'create' or 'remove', not {group_length!r}")
        self.undef_out = undefined_lengths
        self.convert_un = convert_un
        self.old_vrs = not new_vrs
        self.file_pad = self.item_pad = 0
        if padding is not None:
            self.file_pad, self.item_pad = padding
            if self.file_pad < 0 or self.item_pad < 0:
                raise ValueError("padding must not be negative")
            if (self.file_pad & 1) or (self.item_pad & 1):
                # storescp (dcmdata) refuses odd padding lengths and then writes no padding at all
                self.file_pad = self.item_pad = 0
        transfer_syntax = str(transfer_syntax)
        in_ts = transfer_syntax.rstrip("\0 ")
        out_ts = (output_transfer_syntax or transfer_syntax).rstrip("\0 ")
        if bit_preserving and out_ts != in_ts:
            raise ValueError("bit preserving mode cannot change the transfer syntax")
        if out_ts != in_ts and out_ts not in uids.UNCOMPRESSED_TRANSFER_SYNTAXES:
            raise ValueError(f"the stream writer cannot write transfer syntax {out_ts!r} "
                             "(no codecs; deflated output: fastscp.deflate)")
        self.in_implicit, self.in_be = _encoding(in_ts, bit_preserving)
        self.out_implicit, self.out_be = _encoding(out_ts, bit_preserving)
        # encapsulated pixel data only stays encapsulated (storescp cannot
        # decompress or compress: such an object fails under +te/+tb/+ti/+td)
        self.encaps_ok = out_ts == in_ts
        # pixel data must be encapsulated exactly when the received syntax is
        # (every one but the uncompressed and the deflated syntax)
        self.in_encapsulated = (in_ts not in uids.UNCOMPRESSED_TRANSFER_SYNTAXES
                                and in_ts != uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        if meta_transfer_syntax is None:
            self.transfer_syntax = output_transfer_syntax or transfer_syntax
        self.mem = <uint8_t*>malloc(RESERVE + OBUF_SIZE)
        if self.mem == NULL:
            raise MemoryError()
        self.obuf = self.mem + RESERVE
        self._start(fd, command_sop_class_uid, command_sop_instance_uid)
        if self.bitpres and _readable(in_ts):
            self.null_fd = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            self.validator = DatasetWriter(
                self.null_fd, in_ts, calling_ae_title=calling_ae_title,
                implementation_class_uid=implementation_class_uid,
                implementation_version_name=implementation_version_name,
                command_sop_class_uid=command_sop_class_uid,
                command_sop_instance_uid=command_sop_instance_uid, write_file_meta=False)

    def restart(self, int fd, str command_sop_class_uid, str command_sop_instance_uid):
        """Write the next data set, with the same settings, to ``fd``: a
        writer whose `finish` succeeded is reused (a new one per object cost
        more than the rest of its set-up).  Not with ``bit_preserving``."""
        if not self.finished or self.bitpres:
            raise RuntimeError("only a finished writer, not bit-preserving, can restart")
        self._start(fd, command_sop_class_uid, command_sop_instance_uid)

    cdef int _start(self, int fd, str command_sop_class_uid, str command_sop_instance_uid) except -1:
        """The state of one data set, from its first byte."""
        cdef int i
        self.fd = fd
        self.cmd_class = command_sop_class_uid.encode("ascii", "replace")
        self.cmd_instance = command_sop_instance_uid.encode("ascii", "replace")
        self.discarded = False
        self.fragment_empty = False
        self.ds_ended = False
        self.cut = False
        self.ofill = 0
        self.prefix = 0
        self.obuf_ds_pos = 0
        self.meta_len = 0
        self.meta_resolved = False
        self.meta_forced = False
        self.suppress = False
        self.suppress_depth = -1
        self.in_pos = 0
        self.state = ST_HEADER
        self.hlen = 0
        self.depth = 0
        self.v_pick = -1
        # as in a new object (a reused writer must not carry a value's state over)
        self.v_mode = self.v_len_size = self.v_unit = self.sw_n = 0
        self.v_rem = self.v_total = self.v_skip = self.v_pending = self.v_start = self.v_len_pos = 0
        self.v_pad = self.v_padspace_even = self.v_src_be = False
        self.v_cr_group = self.v_cr_block = self.v_us_tag = 0
        for i in range(NPICK):
            self.pick_len[i] = 0
            self.pick_seen[i] = False
        self.class_anywhere = False
        self.instance_anywhere = False
        self.class_nested = False
        self.instance_nested = False
        self.ui_class = False
        self.ui_instance = False
        self.failed = False
        self.finished = False
        self.cr_top = 0
        memset(&self.frames[0], 0, sizeof(Frame))
        self.frames[0].kind = K_DATASET
        self.frames[0].undefined = True
        self.frames[0].implicit = self.in_implicit
        self.frames[0].end = NO_LIMIT
        self.frames[0].limit = NO_LIMIT
        self.frames[0].in_start = 0
        self.frames[0].nitems = 0
        self.frames[0].len_pos = -1
        self.frames[0].last_tag = 0
        self.frames[0].has_last = False
        self.frames[0].pixel_rep = -1
        self.frames[0].wave_bits = -1
        if not self.write_meta:
            self.meta_resolved = True
        elif self.bitpres:
            self._resolve_meta(True)
        return 0

    def __dealloc__(self):
        if self.mem != NULL:
            free(self.mem)
            self.mem = NULL
        self._close_null()

    def close(self):
        """Give back the descriptor the +B validator holds (the object is
        abandoned; ``fd`` stays the caller's)."""
        self._close_null()

    cdef void _close_null(self) noexcept:
        if self.null_fd >= 0:
            os.close(self.null_fd)
            self.null_fd = -1

    # ------------------------------------------------------------ meta
    cdef int _resolve_meta(self, bint forced) except -1:
        """Build the file meta and place it in front of the buffered data set."""
        cdef bytes cls, inst
        cdef Py_ssize_t n
        cdef uint8_t* out
        if self.meta_resolved:
            return 0
        if self.bitpres:
            cls, inst = self.cmd_class, self.cmd_instance
        else:
            # like storescp: the first (0008,0016)/(0008,0018) of VR UI in stream
            # order, at any depth (depth-first search)
            if self.ui_class:
                cls = self._picked_ui(6 if self.class_nested else 1)
            elif forced:
                cls = self.cmd_class
            else:
                cls = PRIVATE_SOP_CLASS
            if self.ui_instance:
                inst = self._picked_ui(7 if self.instance_nested else 2)
            elif forced:
                inst = self.cmd_instance
            else:
                import uuid     # here, not at start-up (uuid imports platform: ~5 ms)
                inst = ("2.25.%d" % uuid.uuid4().int).encode()
            self.meta_forced = forced
        if self.meta_tail is None:      # the same for every object this writer writes
            self.meta_tail = _meta_tail(self.transfer_syntax, self.impl_uid, self.impl_version,
                                        self.calling_ae)
        if len(cls) > 0xFFFE or len(inst) > 0xFFFE:
            self.err("a SOP class or instance UID too long for the file meta")
        n = _meta_size(len(cls), len(inst), len(self.meta_tail))
        self.meta_len = n
        if n <= RESERVE:
            out = self.obuf - n
            self.prefix = n
        else:
            out = <uint8_t*>malloc(n)
            if out == NULL:
                raise MemoryError()
        _put_meta(out, <const uint8_t*><char*>cls, len(cls), <const uint8_t*><char*>inst, len(inst),
                  <const uint8_t*><char*>self.meta_tail, len(self.meta_tail))
        if n > RESERVE:
            # nothing has been written yet: the meta goes first
            try:
                write_all(self.fd, out, n)
            finally:
                free(out)
        self.meta_resolved = True
        return 0

    cdef bytes _picked_ui(self, int i):
        """Pick ``i`` as a UI value as storescp writes it, without padding:
        blanks and control white space removed, trailing NULs stripped."""
        cdef uint8_t clean[PICK_CAP]
        cdef int n = 0, k
        cdef uint8_t c
        for k in range(self.pick_len[i]):
            c = self.picks[i][k]
            if c != 32 and not (9 <= c <= 13):
                clean[n] = c
                n += 1
        while n > 0 and clean[n - 1] == 0:
            n -= 1
        return (<char*>clean)[:n]

    cdef bytes _pick(self, int i):
        return (<char*>self.picks[i])[:self.pick_len[i]]

    # ------------------------------------------------------------ output
    cdef int flush(self) except -1:
        cdef Py_ssize_t total
        if not self.meta_resolved:
            self._resolve_meta(True)
        total = self.prefix + self.ofill
        if total:
            write_all(self.fd, self.obuf - self.prefix, total)
        self.obuf_ds_pos += self.ofill
        self.ofill = 0
        self.prefix = 0
        return 0

    cdef inline int64_t out_pos(self) noexcept:
        return self.obuf_ds_pos + self.ofill

    cdef int out_bytes(self, const uint8_t* p, Py_ssize_t n) except -1:
        cdef Py_ssize_t k
        if self.suppress or n <= 0:
            return 0
        if n >= DIRECT_MIN:
            self.flush()
            write_all(self.fd, p, n)
            self.obuf_ds_pos += n
            return 0
        while n > 0:
            k = OBUF_SIZE - self.ofill
            if k == 0:
                self.flush()
                k = OBUF_SIZE
            if k > n:
                k = n
            memcpy(self.obuf + self.ofill, p, k)
            self.ofill += k
            p += k
            n -= k
        return 0

    cdef int out_fill(self, uint8_t c, int64_t n) except -1:
        cdef Py_ssize_t k
        if self.suppress:
            return 0
        while n > 0:
            k = OBUF_SIZE - self.ofill
            if k == 0:
                self.flush()
                k = OBUF_SIZE
            if k > n:
                k = <Py_ssize_t>n
            memset(self.obuf + self.ofill, c, k)
            self.ofill += k
            n -= k
        return 0

    cdef uint8_t* out_reserve(self, Py_ssize_t n) except NULL:
        cdef uint8_t* p
        if self.suppress:
            return self.scratch
        if OBUF_SIZE - self.ofill < n:
            self.flush()
        p = self.obuf + self.ofill
        self.ofill += n
        return p

    cdef int patch(self, int64_t pos, const uint8_t* p, int n) except -1:
        if pos >= self.obuf_ds_pos:
            memcpy(self.obuf + (pos - self.obuf_ds_pos), p, n)
        else:
            write_all(self.fd, p, n, self.meta_len + pos)
        return 0

    cdef int patch_len(self, int64_t pos, int size, int64_t value) except -1:
        cdef uint8_t b[4]
        if size == 2:
            if value > 0xFFFF:
                raise DatasetError("value too long for a 16-bit length field")
            wr16(b, <uint32_t>value, self.out_be)
        else:
            if value >= 0xFFFFFFFF:
                raise DatasetError("sequence/item longer than 4 GiB")
            wr32(b, <uint32_t>value, self.out_be)
        return self.patch(pos, b, size)

    # ------------------------------------------------------------ framing
    cdef int err(self, msg) except -1:
        raise DatasetError(f"{msg} (at byte {self.in_pos} of the data set)")

    cdef int add_padding(self, int64_t length, int64_t multiple) except -1:
        """+p: a (FFFC,FFFC) OB element of NULs after ``length`` bytes so that the
        whole becomes a multiple of ``multiple`` (none if it is one already)."""
        cdef uint8_t* o
        cdef int64_t pad
        cdef int hdr = 8 if self.out_implicit else 12
        if length % multiple == 0:
            return 0
        pad = (multiple - (length + hdr) % multiple) % multiple
        o = self.out_reserve(hdr)
        wr16(o, 0xFFFC, self.out_be)
        wr16(o + 2, 0xFFFC, self.out_be)
        if self.out_implicit:
            wr32(o + 4, <uint32_t>pad, self.out_be)
        else:
            o[4] = b'O'
            o[5] = b'B'
            o[6] = 0
            o[7] = 0
            wr32(o + 8, <uint32_t>pad, self.out_be)
        self.out_fill(0, pad)
        return 0

    cdef int open_gl(self, Frame* f, uint32_t grp) except -1:
        """+g: a group length element (value patched at group end) in front of the group."""
        cdef uint8_t* o
        cdef int64_t pos
        if self.out_implicit:
            o = self.out_reserve(12)
            wr16(o, grp, self.out_be)
            wr16(o + 2, 0, self.out_be)
            wr32(o + 4, 4, self.out_be)
        else:
            o = self.out_reserve(12)
            wr16(o, grp, self.out_be)
            wr16(o + 2, 0, self.out_be)
            o[4] = b'U'
            o[5] = b'L'
            wr16(o + 6, 4, self.out_be)
        memset(o + 8, 0, 4)
        pos = self.out_pos() - 4
        f.gl_active = not f.suppressed
        f.gl_group = grp
        f.gl_pos = pos
        f.gl_start = pos + 4
        return 0

    cdef int patch_gl(self, Frame* f) except -1:
        f.gl_active = False
        if not f.suppressed:
            self.patch_len(f.gl_pos, 4, self.out_pos() - f.gl_start)
        return 0

    cdef int push(self, int kind, bint undefined, int64_t length, bint implicit, bint dropped,
                  int64_t len_pos) except -1:
        cdef Frame* parent = &self.frames[self.depth]
        cdef Frame* f
        if self.depth + 1 >= MAX_FRAMES:
            self.err("sequences nested too deeply")
        self.depth += 1
        f = &self.frames[self.depth]
        f.kind = kind
        f.undefined = undefined
        f.implicit = implicit
        f.suppressed = parent.suppressed or dropped
        if undefined:
            f.end = NO_LIMIT
            f.limit = parent.limit
        else:
            f.end = self.in_pos + length
            f.limit = f.end
        f.len_pos = len_pos
        f.content_start = self.out_pos()
        f.in_start = self.in_pos
        f.nitems = 0
        f.last_tag = 0
        f.has_last = False
        f.cr_start = self.cr_top
        f.pixel_rep = -1
        f.wave_bits = -1
        f.gl_active = False
        if dropped and self.suppress_depth < 0:
            self.suppress = True
            self.suppress_depth = self.depth
        return 0

    cdef int close_frame(self) except -1:
        cdef Frame* f = &self.frames[self.depth]
        cdef uint8_t* o
        if f.gl_active:
            self.patch_gl(f)
        if f.kind == K_ITEM and self.item_pad:
            self.add_padding(self.out_pos() - f.content_start, self.item_pad)
        if self.undef_out and (f.kind == K_SEQ or f.kind == K_ITEM):
            # -e: item / sequence delimitation item
            o = self.out_reserve(8)
            wr16(o, 0xFFFE, self.out_be)
            wr16(o + 2, 0xE00D if f.kind == K_ITEM else 0xE0DD, self.out_be)
            wr32(o + 4, 0, self.out_be)
        elif not f.suppressed and f.len_pos >= 0:
            self.patch_len(f.len_pos, 4, self.out_pos() - f.content_start)
        if self.depth == self.suppress_depth:
            self.suppress = False
            self.suppress_depth = -1
        self.cr_top = f.cr_start
        self.depth -= 1
        return 0

    cdef int close_encapsulated(self, Frame* f) except -1:
        """End of encapsulated pixel data: its sequence delimiter (also when
        the data set ended before it).  A valid one starts with the Basic
        Offset Table item."""
        cdef uint8_t* o
        if f.nitems == 0 and not f.suppressed:
            self.err("encapsulated pixel data without a Basic Offset Table item")
        o = self.out_reserve(8)
        put_tag(o, TAG_SEQ_DELIM, self.out_be)
        wr32(o + 4, 0, self.out_be)
        return self.close_frame()

    cdef int end_truncated(self) except -1:
        """The data set ended.  Where it ends inside an element, keep what
        storescp keeps: a partial element header is dropped, an element whose
        value has not begun is kept with an empty value, and the open
        sequences and items are closed with what they hold (``discarded``).
        Where storescp aborts -- a value cut short, an item or sequence that
        ends at an element boundary before its end -- DatasetError."""
        cdef Frame* f
        if self.state == ST_VALUE:
            if self.v_rem != self.v_total:
                self.err("data set truncated inside a value")
            self.discarded = self.cut = True
            if self.v_mode == VM_RAW or self.v_mode == VM_SWAP:
                if self.v_len_pos >= 0 and not self.suppress:
                    self.patch_len(self.v_len_pos, self.v_len_size, 0)
                self.v_pad = False
            self.end_value()            # text and UI values patch their length (0) here
        elif self.hlen:
            self.hlen = 0
            self.discarded = self.cut = True
        elif self.depth > 0:
            f = &self.frames[self.depth]
            # storescp keeps a top-level sequence that has not begun (empty),
            # and encapsulated pixel data cut after an empty item (a zero-length
            # Basic Offset Table) -- but not after an item with a value
            if not ((f.kind == K_ENCAPS and self.fragment_empty)
                    or (f.kind == K_SEQ and self.depth == 1 and self.in_pos == f.in_start)):
                self.err("data set truncated inside a sequence or item")
            self.discarded = self.cut = True
        while self.depth > 0:
            f = &self.frames[self.depth]
            if f.kind == K_ENCAPS:
                self.close_encapsulated(f)
            else:
                self.close_frame()
        return 0

    cdef int check_ends(self) except -1:
        cdef Frame* f
        while self.depth > 0:
            f = &self.frames[self.depth]
            if f.undefined or self.in_pos < f.end:
                return 0
            if self.in_pos > f.end:
                self.err("element overruns its sequence or item")
            self.close_frame()
        return 0

    # ------------------------------------------------------------ headers
    cdef int on_header(self, const uint8_t* h, int hsize) except -1:
        cdef Frame* f = &self.frames[self.depth]
        cdef bint imp = f.implicit
        cdef bint be = self.in_be and not imp
        cdef uint32_t tag = (<uint32_t>rd16(h, be) << 16) | rd16(h + 2, be)
        cdef uint32_t grp = tag >> 16
        cdef uint32_t length
        cdef int vr, cls, i
        cdef bint undefined, dropped, longvr
        cdef uint8_t* o
        cdef int64_t newlen, pos
        cdef int kind
        cdef int pick
        cdef bint from_un = False
        cdef bint src_be
        cdef int unit

        if self.in_pos > f.limit:
            self.err("element header overruns its sequence or item")
        length = rd32(h + hsize - 4, be) if hsize != 8 or imp or grp == 0xFFFE else rd16(h + 6, be)
        undefined = length == UNDEF

        # ---- inside a sequence: items only
        if f.kind == K_SEQ:
            if tag == TAG_ITEM:
                f.nitems += 1
                o = self.out_reserve(8)
                put_tag(o, tag, self.out_be)
                wr32(o + 4, UNDEF if self.undef_out else 0, self.out_be)
                pos = -1 if self.undef_out else self.out_pos() - 4
                if not undefined and self.in_pos + <int64_t>length > f.limit:
                    self.err("item length overruns its sequence")
                self.push(K_ITEM, undefined, length, imp, False, pos)
                return self.check_ends()
            if tag == TAG_SEQ_DELIM:
                if not f.undefined:
                    self.err("sequence delimiter in a defined-length sequence")
                self.close_frame()
                return self.check_ends()
            self.err(f"expected an item in sequence, found tag ({grp:04X},{tag & 0xFFFF:04X})")

        # ---- inside encapsulated pixel data: fragments
        if f.kind == K_ENCAPS:
            if tag == TAG_ITEM:
                if undefined:
                    self.err("pixel data fragment with undefined length")
                if self.in_pos + <int64_t>length > f.limit:
                    self.err("pixel data fragment overruns its item")
                f.nitems += 1
                self.fragment_empty = length == 0
                o = self.out_reserve(8)
                put_tag(o, tag, self.out_be)
                wr32(o + 4, length + (length & 1), self.out_be)
                self.start_value(VM_RAW, length, 0, (length & 1) != 0, self.out_pos() - 4, 0)
                return 0
            if tag == TAG_SEQ_DELIM:
                self.close_encapsulated(f)
                return self.check_ends()
            self.err(f"expected a pixel data fragment, found tag ({grp:04X},{tag & 0xFFFF:04X})")

        # ---- inside the data set or an item: elements
        if grp == 0xFFFE:
            if tag == TAG_ITEM_DELIM and f.kind == K_ITEM:
                if f.undefined:
                    self.close_frame()
                    return self.check_ends()
                return self.check_ends()    # stray delimiter in a defined item: dropped
            if tag == TAG_ITEM_DELIM and f.kind == K_DATASET:
                # storescp (dcmdata) takes it for the end of the data set and
                # ignores whatever follows
                self.ds_ended = True
                return 0
            self.err(f"unexpected item tag ({grp:04X},{tag & 0xFFFF:04X}) where an element was expected")

        if f.gl_active and grp != f.gl_group:
            self.patch_gl(f)
        if not self.meta_resolved and self.ui_class and self.ui_instance:
            # both values are complete (a new header started): the meta can be built
            self._resolve_meta(False)

        dropped = tag == TAG_PADDING or (tag == f.last_tag and f.has_last)
        if dropped and tag != TAG_PADDING:
            self.discarded = True       # a repeated element: storescp keeps the first
        if self.gl_mode != GL_RECALC and not dropped:
            if (tag & 0xFFFF) == 0:
                # -g: every group length goes; +g: one is already open for this group
                dropped = self.gl_mode == GL_REMOVE or f.gl_active
            elif self.gl_mode == GL_CREATE and not f.gl_active:
                self.open_gl(f, grp)
        if not dropped:
            f.last_tag = tag
            f.has_last = True

        # VR
        if imp:
            vr = self.lookup_vr(f, tag)
            if undefined:
                vr = -1 if tag == TAG_PIXEL else VR_SQ
        else:
            vr = -1
            if 65 <= h[4] <= 90 and 65 <= h[5] <= 90:
                vr = <int>VR_FROM_CHARS[(h[4] - 65) * 26 + (h[5] - 65)] - 1
            if vr < 0:
                # an unknown VR: the value has a 2-byte length (header_size) and
                # is kept as UN, as storescp (dcmdata) reads and writes it
                vr = VR_UN
            elif vr == VR_UN and not undefined and self.convert_un:
                # +uc: the dictionary VR; a sequence's content is implicit VR LE
                vr = self.lookup_vr(f, tag)
                from_un = True
                if vr == VR_SQ:
                    imp = True
            elif undefined and vr != VR_SQ:
                if vr == VR_UN:
                    if self.in_be:
                        self.err("UN with undefined length in big endian is not supported")
                    vr = VR_SQ
                    imp = True          # content is implicit VR little endian
                elif tag == TAG_PIXEL and (vr == VR_OB or vr == VR_OW):
                    vr = -1
                else:
                    self.err(f"undefined length for a non-sequence element ({grp:04X},{tag & 0xFFFF:04X})")

        # byte order of this value as received: little endian for implicit VR
        # content and UN values, whatever the transfer syntax
        src_be = self.in_be and not (imp or from_un)
        if dropped and (vr == -1 or vr == VR_SQ):
            self.suppress = True        # the header is not written either (push records the depth)
        if vr == -1:
            if not self.in_encapsulated and not self.suppress:
                # storescp cannot write it either (0xA700): no valid file can be made
                raise OutputError("encapsulated pixel data in a data set received in a native "
                                  "(uncompressed) transfer syntax")
            if not self.encaps_ok and not self.suppress:
                raise OutputError("encapsulated pixel data cannot be written in transfer syntax "
                                  + self.transfer_syntax)
            # encapsulated pixel data: header as received (explicit) or implicit
            if self.out_implicit:
                o = self.out_reserve(8)
                put_tag(o, tag, self.out_be)
                wr32(o + 4, UNDEF, self.out_be)
            else:
                o = self.out_reserve(12)
                put_tag(o, tag, self.out_be)
                o[4] = b'O'     # storescp writes encapsulated pixel data as OB
                o[5] = b'B'
                o[6] = 0; o[7] = 0
                wr32(o + 8, UNDEF, self.out_be)
            self.push(K_ENCAPS, True, 0, imp, dropped, -1)
            return 0

        if vr == VR_SQ:
            if not undefined and self.in_pos + <int64_t>length > f.limit:
                self.err("sequence length overruns its item")
            if self.undef_out:
                self.write_header(h, tag, VR_SQ, UNDEF)
                pos = -1
            else:
                pos = self.write_header(h, tag, VR_SQ, 0)
            self.push(K_SEQ, undefined, length, imp, dropped, pos)
            return self.check_ends()

        # plain value
        pick = -1
        cls = VR_CLASS[vr]
        if (tag == 0x00080016 or tag == 0x00080018) and not dropped:
            # reported presence: any string VR (storescp's consistency check);
            # the file meta: only VR UI (storescp's meta header)
            if tag == 0x00080016:
                if cls == C_UI or cls == C_STR:
                    self.class_anywhere = True
                if vr == VR_UI and not self.ui_class:
                    self.ui_class = True
                    self.class_nested = self.depth > 0
                    if self.class_nested:
                        pick = 6
            else:
                if cls == C_UI or cls == C_STR:
                    self.instance_anywhere = True
                if vr == VR_UI and not self.ui_instance:
                    self.ui_instance = True
                    self.instance_nested = self.depth > 0
                    if self.instance_nested:
                        pick = 7
        if self.in_pos + <int64_t>length > f.limit:
            self.err(f"value of ({grp:04X},{tag & 0xFFFF:04X}) overruns its sequence or item")
        if tag == TAG_PIXEL and self.depth == 0 and self.in_encapsulated and not dropped:
            self.err("native pixel data (defined length) in an encapsulated transfer syntax")
        if dropped:
            self.start_value(VM_SKIP, length, 0, False, -1, 0)
            return 0
        if (tag & 0xFFFF) == 0:
            # group length: recalculated
            newlen = 4 if length < 4 else length + (length & 1)
            self.write_header(h, tag, VR_UL, newlen)
            pos = self.out_pos()
            o = self.out_reserve(4)
            memset(o, 0, 4)
            f.gl_active = not f.suppressed
            f.gl_group = grp
            f.gl_pos = pos
            f.gl_start = pos + newlen
            self.start_value(VM_RAW, length, 4 if length >= 4 else length, length >= 4 and (length & 1) != 0, -1, 0)
            return 0
        if cls == C_STR and not (length & 1):
            pos = self.write_header(h, tag, vr, 0)
            self.start_value(VM_STR, length, 0, False, pos, 0)
        elif cls == C_UI:
            pos = self.write_header(h, tag, vr, 0)
            self.start_value(VM_UI, length, 0, False, pos, 0)
        else:
            unit = 0
            if VR_UNIT[vr]:
                # storescp holds binary values in host (little endian) order and
                # writes them in the output byte order -- except VRs written as
                # OB (-u), whose host-order bytes go out as they are.
                if src_be != (self.out_be and not (self.old_vrs and VR_NEW[vr])):
                    unit = VR_UNIT[vr]
            if vr == VR_OW:
                # storescp keeps odd-length OW odd
                pos = self.write_header(h, tag, vr, length)
                self.start_value(VM_SWAP if unit else VM_RAW, length, 0, False, pos, unit)
            else:
                pos = self.write_header(h, tag, vr, length + (length & 1))
                self.start_value(VM_SWAP if unit else VM_RAW, length, 0, (length & 1) != 0, pos, unit)
        if self.depth == 0 and (cls == C_UI or cls == C_STR):
            for i in range(6):
                if PICK_TAGS[i] == tag:
                    if not self.pick_seen[i]:
                        pick = i
                    break
        if (tag == TAG_PIXEL_REPRESENTATION or tag == TAG_WAVEFORM_BITS) and cls == C_BIN and not dropped:
            # decides the VR of some later elements of this item (resolve_vr)
            pick = PICK_US
            self.v_us_tag = tag
            self.v_src_be = src_be
        if (imp or self.convert_un) and (grp & 1) and 0x10 <= (tag & 0xFFFF) <= 0xFF and not dropped:
            pick = PICK_CREATOR
            self.v_cr_group = grp
            self.v_cr_block = tag & 0xFF
        if pick >= 0:
            self.v_pick = pick
            self.pick_seen[pick] = True
            self.pick_len[pick] = 0
        return 0

    cdef int lookup_vr(self, Frame* f, uint32_t tag) noexcept:
        """The VR of ``tag`` from the data dictionary (private tags: by the item's creators)."""
        cdef uint32_t grp = tag >> 16
        cdef int i
        if (grp & 1) and (tag & 0xFFFF) >= 0x1000:
            for i in range(self.cr_top - 1, f.cr_start - 1, -1):
                if self.cr_group[i] == grp and self.cr_block[i] == ((tag >> 8) & 0xFF):
                    if self.cr_id[i] > 0:
                        return private_vr(self.cr_id[i], grp, tag & 0xFFFF)
                    return VR_UN
            return VR_UN
        return resolve_vr(f, tag, dict_vr(tag))

    cdef int64_t write_header(self, const uint8_t* h, uint32_t tag, int vr, int64_t length) except -2:
        """Write an element header in the output encoding; return the position of its length field."""
        cdef uint8_t* o
        cdef int64_t pos
        if self.out_implicit:
            o = self.out_reserve(8)
            put_tag(o, tag, self.out_be)
            wr32(o + 4, <uint32_t>length, self.out_be)
            return self.out_pos() - 4
        if self.old_vrs and VR_NEW[vr]:
            vr = VR_OB              # -u
        if VR_LONG[vr]:
            o = self.out_reserve(12)
            put_tag(o, tag, self.out_be)
            o[4] = VR_CHARS[vr][0]
            o[5] = VR_CHARS[vr][1]
            o[6] = 0
            o[7] = 0
            wr32(o + 8, <uint32_t>length, self.out_be)
            return self.out_pos() - 4
        if length > 0xFFFF:
            self.err(f"value of ({tag >> 16:04X},{tag & 0xFFFF:04X}) too long for VR {_dictionary.VRS[vr]}")
        o = self.out_reserve(8)
        put_tag(o, tag, self.out_be)
        o[4] = VR_CHARS[vr][0]
        o[5] = VR_CHARS[vr][1]
        wr16(o + 6, <uint32_t>length, self.out_be)
        return -(self.out_pos() - 2) - 10   # encoded: 2-byte length field

    cdef int start_value(self, int mode, int64_t length, int64_t skip, bint pad, int64_t len_pos,
                         int unit) except -1:
        self.state = ST_VALUE
        self.v_unit = unit
        self.sw_n = 0
        self.v_mode = mode
        self.v_rem = length
        self.v_total = length
        self.v_skip = skip
        self.v_pad = pad
        self.v_pending = 0
        self.v_start = self.out_pos()
        if len_pos <= -10:
            self.v_len_pos = -(len_pos + 10)
            self.v_len_size = 2
        else:
            self.v_len_pos = len_pos
            self.v_len_size = 4
        self.v_pick = -1
        return 0

    cdef int end_value(self) except -1:
        cdef int64_t n
        cdef uint8_t c
        if self.v_mode == VM_RAW:
            if self.v_pad:
                c = 0
                self.out_bytes(&c, 1)
        elif self.v_mode == VM_SWAP:
            if self.sw_n and self.v_pad and self.sw_n + 1 == self.v_unit:
                # storescp pads the odd value with NUL first, then swaps: the pad
                # byte completes the last unit
                self.swbuf[self.sw_n] = 0
                self.sw_n = 0
                self.v_pad = False
                self.out_swapped(self.swbuf, self.v_unit)
            elif self.sw_n:
                self.out_bytes(self.swbuf, self.sw_n)     # an incomplete unit: as it came
                self.sw_n = 0
            if self.v_pad:
                c = 0
                self.out_bytes(&c, 1)
        elif self.v_mode == VM_STR:
            n = self.out_pos() - self.v_start
            if n & 1:
                c = 0x20
                self.out_bytes(&c, 1)
                n += 1
            if not self.suppress:
                self.patch_len(self.v_len_pos, self.v_len_size, n)
        elif self.v_mode == VM_UI:
            n = self.out_pos() - self.v_start
            if n & 1:
                c = 0
                self.out_bytes(&c, 1)
                n += 1
            if not self.suppress:
                self.patch_len(self.v_len_pos, self.v_len_size, n)
        self.state = ST_HEADER
        if self.v_pick == PICK_CREATOR:
            self.add_creator()
        elif self.v_pick == PICK_US and self.pick_len[PICK_US] >= 2:
            if self.v_us_tag == TAG_PIXEL_REPRESENTATION:
                self.frames[self.depth].pixel_rep = rd16(self.picks[PICK_US], self.v_src_be)
            else:
                self.frames[self.depth].wave_bits = rd16(self.picks[PICK_US], self.v_src_be)
        self.v_pick = -1
        return self.check_ends()

    cdef int out_swapped(self, const uint8_t* p, Py_ssize_t k) except -1:
        """Output ``k`` value bytes with each unit of ``v_unit`` bytes reversed
        (units may span calls: ``swbuf`` carries the incomplete one)."""
        cdef int u = self.v_unit
        cdef Py_ssize_t m, j, t
        cdef uint8_t* o
        if self.suppress:
            return 0
        while k > 0:
            if self.sw_n or k < u:
                t = u - self.sw_n
                if t > k:
                    t = k
                memcpy(self.swbuf + self.sw_n, p, t)
                self.sw_n += t
                p += t
                k -= t
                if self.sw_n == u:
                    o = self.out_reserve(u)
                    for j in range(u):
                        o[j] = self.swbuf[u - 1 - j]
                    self.sw_n = 0
                continue
            m = k - k % u
            if m > 65536:
                m = 65536
            o = self.out_reserve(m)
            fastscp_swap_units(o, p, m, u)
            p += m
            k -= m
        return 0

    cdef int add_creator(self) except -1:
        # the creator string as storescp compares it: trailing spaces removed
        # only from even-length values (odd ones got a NUL first), then cut at
        # the first NUL (C string)
        cdef bytes raw = self._pick(PICK_CREATOR)
        cdef int i
        if not (len(raw) & 1):
            raw = raw.rstrip(b" ")
        i = raw.find(b"\0")
        if i >= 0:
            raw = raw[:i]
        if self.cr_top < MAX_CREATORS:
            self.cr_group[self.cr_top] = self.v_cr_group
            self.cr_block[self.cr_top] = self.v_cr_block
            self.cr_id[self.cr_top] = _PRIVATE_CREATORS.get(raw, 0)
            self.cr_top += 1
        return 0

    cdef int on_value(self, const uint8_t* p, Py_ssize_t k) except -1:
        cdef Py_ssize_t j, s, m
        cdef uint8_t c
        if self.v_pick >= 0:
            m = PICK_CAP - self.pick_len[self.v_pick]
            if m > k:
                m = k
            if m > 0:
                memcpy(&self.picks[self.v_pick][self.pick_len[self.v_pick]], p, m)
                self.pick_len[self.v_pick] += m
        if self.v_skip > 0:
            s = k if k < self.v_skip else <Py_ssize_t>self.v_skip
            self.v_skip -= s
            p += s
            k -= s
            if k == 0:
                return 0
        if self.v_mode == VM_RAW:
            return self.out_bytes(p, k)
        if self.v_mode == VM_SKIP:
            return 0
        if self.v_mode == VM_SWAP:
            return self.out_swapped(p, k)
        if self.v_mode == VM_STR:
            j = k - 1
            while j >= 0 and p[j] == 0x20:
                j -= 1
            if j < 0:
                self.v_pending += k
                return 0
            if self.v_pending:
                self.out_fill(0x20, self.v_pending)
            self.out_bytes(p, j + 1)
            self.v_pending = k - 1 - j
            return 0
        # VM_UI
        s = 0
        for j in range(k):
            c = p[j]
            if is_c_space(c) or c == 0:
                if j > s:
                    if self.v_pending:
                        self.out_fill(0, self.v_pending)
                        self.v_pending = 0
                    self.out_bytes(p + s, j - s)
                s = j + 1
                if c == 0:
                    self.v_pending += 1
        if k > s:
            if self.v_pending:
                self.out_fill(0, self.v_pending)
                self.v_pending = 0
            self.out_bytes(p + s, k - s)
        return 0

    # ------------------------------------------------------------ input
    cdef int feed(self, const unsigned char* data, Py_ssize_t n) except -1:
        if self.failed:
            raise DatasetError("the data set writer failed earlier")
        if self.finished:
            raise DatasetError("data after finish()")
        try:
            return self._feed(data, n)
        except BaseException:
            self.failed = True
            raise

    cdef int _feed(self, const uint8_t* data, Py_ssize_t n) except -1:
        cdef Py_ssize_t i = 0, k, need
        cdef const uint8_t* h
        cdef int hsize
        cdef Frame* f
        cdef bint imp
        if self.bitpres:
            self.out_bytes(data, n)
            self.in_pos += n
            if self.validator is not None:
                self.validator.feed(data, n)
            return 0
        while i < n:
            if self.ds_ended:
                self.in_pos += n - i
                self.discarded = self.cut = True
                return 0
            if self.state == ST_VALUE:
                k = n - i
                if k > self.v_rem:
                    k = <Py_ssize_t>self.v_rem
                self.on_value(data + i, k)
                i += k
                self.in_pos += k
                self.v_rem -= k
                if self.v_rem == 0:
                    self.end_value()
                continue
            # ST_HEADER
            f = &self.frames[self.depth]
            imp = f.implicit
            if self.hlen == 0 and n - i >= 12:
                h = data + i
                hsize = self.header_size(h, imp)
                i += hsize
            else:
                need = 8 - self.hlen
                if need > 0:
                    k = n - i if n - i < need else need
                    memcpy(self.hbuf + self.hlen, data + i, k)
                    self.hlen += k
                    i += k
                    if self.hlen < 8:
                        break
                hsize = self.header_size(self.hbuf, imp)
                need = hsize - self.hlen
                if need > 0:
                    k = n - i if n - i < need else need
                    memcpy(self.hbuf + self.hlen, data + i, k)
                    self.hlen += k
                    i += k
                    if self.hlen < hsize:
                        break
                h = self.hbuf
                self.hlen = 0
            self.in_pos += hsize
            self.on_header(h, hsize)
            if self.state == ST_VALUE and self.v_rem == 0:
                self.end_value()
        return 0

    cdef inline int header_size(self, const uint8_t* h, bint imp) noexcept:
        cdef int code
        if imp:
            return 8
        if self.in_be:
            if h[0] == 0xFF and h[1] == 0xFE:
                return 8
        elif h[0] == 0xFE and h[1] == 0xFF:
            return 8
        if 65 <= h[4] <= 90 and 65 <= h[5] <= 90:
            code = <int>VR_FROM_CHARS[(h[4] - 65) * 26 + (h[5] - 65)] - 1
            if code >= 0 and VR_LONG[code]:
                return 12
        return 8

    # ------------------------------------------------------------ end
    def finish(self):
        """Complete the file; return a `WriteResult` (size, picked-out attributes: see module doc)."""
        cdef WriteResult result
        if self.failed:
            raise DatasetError("the data set writer failed earlier")
        if self.finished:
            raise DatasetError("finish() called twice")
        try:
            if self.validator is not None:
                try:
                    self.validator.finish()
                    if self.validator.cut:
                        # completing it would change the bytes (a repetition is kept as it came)
                        self.err("incomplete data set: it cannot be stored bit-preserving")
                finally:
                    self._close_null()
            if not self.bitpres:
                self.end_truncated()
                if self.frames[0].gl_active:
                    self.patch_gl(&self.frames[0])
                if self.file_pad:
                    if not self.meta_resolved:
                        self._resolve_meta(False)
                    self.add_padding(self.meta_len + self.out_pos(), self.file_pad)
            if not self.meta_resolved:
                self._resolve_meta(False)
            self.flush()
        except BaseException:
            self.failed = True
            raise
        self.finished = True
        result = WriteResult.__new__(WriteResult)
        result.bytes_written = self.meta_len + self.out_pos()
        # received data was dropped or emptied (status 0xB006)
        result.elements_discarded = self.discarded
        result.sop_class_uid_anywhere = self.class_anywhere
        result.sop_instance_uid_anywhere = self.instance_anywhere
        if not self.bitpres:
            result.specific_character_set = self._picked_text(PICK_CHARSET)
            result.sop_class_uid = self._picked_uid(PICK_CLASS)
            result.sop_instance_uid = self._picked_uid(PICK_INSTANCE)
            result.modality = self._picked_text(PICK_MODALITY)
            if self.pick_seen[PICK_PATIENT]:
                result.patient_name = self._pick(PICK_PATIENT)
            result.study_instance_uid = self._picked_uid(PICK_STUDY)
        return result

    cdef str _picked_uid(self, int i):
        return self._picked_ui(i).decode("ascii", "replace") if self.pick_seen[i] else None

    cdef str _picked_text(self, int i):
        return self._pick(i).rstrip(b"\0 ").decode("ascii", "replace") if self.pick_seen[i] else None

    @property
    def bytes_received(self):
        return self.in_pos
