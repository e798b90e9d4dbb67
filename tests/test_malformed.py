"""Malformed and truncated data sets: the same raw C-STOREs go to Debian's
storescp and to fastscp; status and file are compared case by case.

The rule (README, "Where fastscp differs on purpose"): where storescp stores
an object, fastscp stores the same file, answering 0xB006 instead of 0x0000
when received data had to be dropped or emptied; where storescp fails, aborts
or hangs, fastscp answers a failure status and leaves no file -- also where
storescp leaves a file behind its failure status.  A few cases differ on
purpose; they are listed in CATALOGUE below and in the README.
"""
from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from dicomenc import UNDEF, Enc
from dicomfile import split_file
from malformed import dcmtk_reads, numbered_uid, run_both, same_file, with_instance
from rawstore import ABORTED, TIMEOUT
from test_differential import write_crafted_files

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
ILE, ELE, EBE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"
JPEG, RLE = "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5"
SC = "1.2.840.10008.5.1.4.1.1.7"
ITEM, ITEM_DELIM, SEQ_DELIM = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
#: (7FE0,0010) OB of undefined length directly followed by the sequence delimiter
EMPTY_PIXEL_SEQUENCE = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff\xfe\xff\xdd\xe0"
LONG_VRS = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"}


# -- a reference walker: where the top-level elements of a data set begin ----------

def top_level_boundaries(data: bytes, implicit: bool, big_endian: bool) -> set:
    """Offsets at which a top-level element starts, and the end of the data."""
    e = ">" if big_endian else "<"

    def element(pos, imp):
        """(tag, VR bytes or None, length, header size) of the element at pos."""
        group, elem = struct.unpack(e + "HH", data[pos:pos + 4])
        tag = (group << 16) | elem
        if imp or group == 0xFFFE:
            return tag, None, struct.unpack(e + "I" if group == 0xFFFE else "<I", data[pos + 4:pos + 8])[0], 8
        vr = data[pos + 4:pos + 6]
        if vr in LONG_VRS:
            return tag, vr, struct.unpack(e + "I", data[pos + 8:pos + 12])[0], 12
        return tag, vr, struct.unpack(e + "H", data[pos + 6:pos + 8])[0], 8

    def after_undefined(pos, imp):
        """Position after the sequence delimiter of an undefined-length value starting at pos."""
        while True:
            tag, _, length, _ = element(pos, True)
            pos += 8
            if tag == SEQ_DELIM:
                return pos
            if length != UNDEF:
                pos += length
                continue
            while True:
                tag, vr, length, size = element(pos, imp)
                pos += size
                if tag == ITEM_DELIM:
                    break
                pos = after_undefined(pos, imp or vr == b"UN") if length == UNDEF else pos + length

    out, pos = set(), 0
    while pos < len(data):
        out.add(pos)
        tag, vr, length, size = element(pos, implicit)
        pos += size
        pos = after_undefined(pos, implicit or vr == b"UN") if length == UNDEF else pos + length
    out.add(len(data))
    return out


# -- the objects cut at every byte --------------------------------------------------

def _pydicom_object(name):
    path = TEST_FILES / name
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    _, data = split_file(path)
    return str(ds.file_meta.TransferSyntaxUID), str(ds.SOPClassUID), str(ds.SOPInstanceUID), data


def _crafted_object(tmp_path):
    """Undefined-length sequences and items, private elements, odd values (explicit VR LE)."""
    path = write_crafted_files(tmp_path / "crafted", ELE, 1)[0]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    _, data = split_file(path)
    return ELE, str(ds.SOPClassUID), str(ds.SOPInstanceUID), data


CUT_OBJECTS = {
    "explicit LE": lambda tmp: _pydicom_object("SC_rgb_small_odd.dcm"),
    "big endian": lambda tmp: _pydicom_object("SC_rgb_small_odd_big_endian.dcm"),
    "implicit LE, nested sequences": lambda tmp: _pydicom_object("rtplan.dcm"),
    "undefined lengths": _crafted_object,
    "encapsulated (RLE)": lambda tmp: _pydicom_object("SC_rgb_rle.dcm"),
}


def _classify(n, ref, ours, boundaries):
    """A label for the pair of outcomes of the cut at n; 'MISMATCH ...' where the rule is broken."""
    if ours.stored != (ours.file is not None):
        return "MISMATCH: fastscp %s" % ours.describe()
    if n % 2:
        # storescp aborts on every odd-length PDV (PS3.8 Annex E); fastscp reads
        # the cut like any other: a failure, or the data set stored without the
        # cut element (never a clean 0x0000: every boundary here is even)
        if ref.result not in (ABORTED, TIMEOUT):
            return "MISMATCH: storescp %s on an odd PDV" % ref.describe()
        if ours.stored:
            return "odd PDV: storescp aborts, fastscp 0xB006" if ours.result == 0xB006 else "MISMATCH"
        return "odd PDV: storescp aborts, fastscp fails"
    if ref.stored and ours.stored:
        if not same_file(ref.file, ours.file):
            if ours.result == 0xB006 and not dcmtk_reads(ref.file) and dcmtk_reads(ours.file):
                # storescp writes the lengths of the sequences and items around an
                # emptied element as if its value were there: DCMTK cannot read it back
                return "storescp stores an unreadable file, fastscp a valid one (0xB006)"
            return "MISMATCH: different files"
        clean = n in boundaries
        if ours.result == (0x0000 if clean else 0xB006) and ref.result == 0:
            return "same file, 0x0000" if clean else "same file, storescp 0x0000, fastscp 0xB006"
        return "MISMATCH: statuses %s / %s at %s" % (ref.describe(), ours.describe(),
                                                     "a boundary" if clean else "a cut element")
    if ours.stored or ours.file is not None:
        return "MISMATCH: storescp %s, fastscp %s" % (ref.describe(), ours.describe())
    if ref.stored:
        if EMPTY_PIXEL_SEQUENCE in split_file(ref.file)[1]:
            # cut right after the pixel data header: storescp writes a pixel
            # sequence without even the Basic Offset Table item
            return "storescp stores pixel data without items, fastscp fails"
        return "MISMATCH: storescp stores, fastscp %s" % ours.describe()
    if ref.result == TIMEOUT:
        return "storescp hangs, fastscp fails"
    if ref.result == ABORTED:
        return "storescp aborts, fastscp fails"
    if ref.file is not None:
        return "both fail, storescp leaves its file"
    return "both fail"


def cut_cases(ts, cls, inst, data, number, step=1):
    """The data set cut at every step-th byte, each cut with its own instance UID."""
    cases = []
    for n in range(0, len(data) + 1, step):
        uid = numbered_uid(inst, number * 100000 + n)
        cases.append((ts, cls, uid, with_instance(data, inst, uid)[:n]))
    return cases


@pytest.mark.parametrize("label", list(CUT_OBJECTS))
def test_cut_at_every_byte(tmp_path, label):
    ts, cls, inst, data = CUT_OBJECTS[label](tmp_path)
    cases = cut_cases(ts, cls, inst, data, list(CUT_OBJECTS).index(label))
    outcomes = run_both(tmp_path, cases)
    boundaries = top_level_boundaries(data, ts == ILE, ts == EBE)
    table = Counter()
    mismatches = []
    for n, (ref, ours) in enumerate(zip(outcomes["dcmtk"], outcomes["fastscp"])):
        label_n = _classify(n, ref, ours, boundaries)
        table[label_n] += 1
        if label_n.startswith("MISMATCH"):
            mismatches.append((n, label_n, ref.describe(), ours.describe()))
    print("\n%s (%d bytes): %s" % (label, len(data), dict(table)))
    assert not mismatches, mismatches[:20]
    # the corpus exercises both sides of the rule
    assert table["same file, storescp 0x0000, fastscp 0xB006"] > 20
    assert table["same file, 0x0000"] > 5
    assert table["storescp aborts, fastscp fails"] > 20


def test_cut_in_small_pdvs(tmp_path):
    """The same rules when the data set arrives in many PDVs (the cut in the last one)."""
    ts, cls, inst, data = CUT_OBJECTS["explicit LE"](tmp_path)
    cases = cut_cases(ts, cls, inst, data, 9, step=2)
    outcomes = run_both(tmp_path, cases, max_pdv=100)
    boundaries = top_level_boundaries(data, False, False)
    labels = [_classify(2 * k, ref, ours, boundaries)
              for k, (ref, ours) in enumerate(zip(outcomes["dcmtk"], outcomes["fastscp"]))]
    assert not [x for x in labels if x.startswith("MISMATCH")]
    assert labels.count("same file, storescp 0x0000, fastscp 0xB006") > 20


# -- a catalogue of structural defects ------------------------------------------------

E, I, B = Enc(True), Enc(False), Enc(True, True)


def _ui(value):
    return value + "\0" if len(value) % 2 else value


def _head(e, inst):
    """SOP class and instance, modality, study: what storescp checks and names by."""
    return (e.el(0x00080016, "UI", _ui(SC)) + e.el(0x00080018, "UI", _ui(inst)) + e.el(0x00080060, "CS", "OT")
            + e.el(0x0020000D, "UI", _ui("1.2.3.4")))


def _image(e):
    us = lambda v: struct.pack(e.e + "H", v)  # noqa: E731
    return (e.el(0x00280002, "US", us(1)) + e.el(0x00280004, "CS", "MONOCHROME2 ") + e.el(0x00280010, "US", us(2))
            + e.el(0x00280011, "US", us(2)) + e.el(0x00280100, "US", us(8)) + e.el(0x00280101, "US", us(8))
            + e.el(0x00280102, "US", us(7)) + e.el(0x00280103, "US", us(0)))


def _item(e, length, content=b""):
    return e.tag(ITEM) + struct.pack(e.e + "I", length) + content


def _encapsulated(e, fragments=(b"\xff\xd8\xff\xd9",), bot=True, delimiter=True, vr="OB"):
    items = (_item(e, 0) if bot else b"") + b"".join(_item(e, len(f), f) for f in fragments)
    return e.el(0x7FE00010, vr, items + (e.tag(SEQ_DELIM) + b"\0\0\0\0" if delimiter else b""), length=UNDEF)


def _native(e, n=4):
    return e.el(0x7FE00010, "OW", b"\x01" * n)


def _icon(e, pixel):
    return e.seq(0x00880200, [e.item(_image(e) + pixel)])


def _ref_study_item(e, length=None):
    content = e.el(0x00081150, "UI", _ui("1.2.3"))
    return _item(e, len(content) if length is None else length, content)


SAME, DIFFERENT = "same file", "different files"
#: name: (transfer syntax, data set builder, storescp's outcome, fastscp's, files when both store).
#: Where the outcomes differ, README's "Where fastscp differs on purpose" says why.
CATALOGUE = {
    # pixel data that does not match the transfer syntax
    "encapsulated pixel data, explicit VR LE": (ELE, lambda i: _head(E, i) + _image(E) + _encapsulated(E), 0xA700, 0xA700, None),
    "encapsulated pixel data, implicit VR LE": (ILE, lambda i: _head(I, i) + _image(I) + _encapsulated(I), 0xA700, 0xA700, None),
    "encapsulated pixel data, big endian": (EBE, lambda i: _head(B, i) + _image(B) + _encapsulated(B), 0xA700, 0xA700, None),
    "encapsulated pixel data in several PDVs, explicit VR LE": (
        ELE, lambda i: _head(E, i) + _image(E) + _encapsulated(E, (b"\xff" * 40000,)), ABORTED, 0xA700, None),
    "encapsulated icon image, explicit VR LE": (
        ELE, lambda i: _head(E, i) + _image(E) + _icon(E, _encapsulated(E)) + _native(E), 0xA700, 0xA700, None),
    "native pixel data, JPEG baseline": (JPEG, lambda i: _head(E, i) + _image(E) + _native(E), ABORTED, 0xC000, None),
    "native pixel data in several PDVs, JPEG baseline": (
        JPEG, lambda i: _head(E, i) + _image(E) + _native(E, 40000), ABORTED, 0xC000, None),
    "native pixel data, RLE": (RLE, lambda i: _head(E, i) + _image(E) + _native(E), ABORTED, 0xC000, None),
    "native icon image, JPEG baseline": (
        JPEG, lambda i: _head(E, i) + _image(E) + _icon(E, _native(E)) + _encapsulated(E), 0, 0, SAME),
    "encapsulated icon image, JPEG baseline": (
        JPEG, lambda i: _head(E, i) + _image(E) + _icon(E, _encapsulated(E)) + _encapsulated(E), 0, 0, SAME),
    "valid JPEG baseline": (JPEG, lambda i: _head(E, i) + _image(E) + _encapsulated(E), 0, 0, SAME),
    "JPEG pixel data received as OW": (JPEG, lambda i: _head(E, i) + _image(E) + _encapsulated(E, vr="OW"), 0, 0, SAME),
    "JPEG without pixel data": (JPEG, lambda i: _head(E, i) + _image(E), 0, 0, SAME),
    "JPEG with float pixel data only": (JPEG, lambda i: _head(E, i) + _image(E) + E.el(0x7FE00008, "OF", b"\0" * 8), 0, 0, SAME),
    # the encapsulation itself
    "pixel sequence without items": (JPEG, lambda i: _head(E, i) + _image(E) + _encapsulated(E, (), bot=False), 0, 0xC000, None),
    "Basic Offset Table only": (JPEG, lambda i: _head(E, i) + _image(E) + _encapsulated(E, ()), 0, 0, SAME),
    "odd-length fragment": (
        JPEG, lambda i: _head(E, i) + E.el(0x00280004, "CS", "RGB") + _encapsulated(E, (b"\xff\xd8\xff",)), 0, 0, SAME),
    "fragment of undefined length": (
        JPEG, lambda i: _head(E, i) + _image(E) + E.el(0x7FE00010, "OB", _item(E, 0) + _item(E, UNDEF, b"abcd")
                                                        + E.tag(SEQ_DELIM) + b"\0\0\0\0", length=UNDEF), ABORTED, 0xC000, None),
    "item delimiter among fragments": (
        JPEG, lambda i: _head(E, i) + _image(E) + E.el(0x7FE00010, "OB", _item(E, 0) + E.tag(ITEM_DELIM) + b"\0\0\0\0"
                                                        + E.tag(SEQ_DELIM) + b"\0\0\0\0", length=UNDEF), ABORTED, 0xC000, None),
    "no sequence delimiter before the next element": (
        JPEG, lambda i: _head(E, i) + _image(E) + _encapsulated(E, delimiter=False) + E.el(0x7FE10010, "OB", b"ab"),
        ABORTED, 0xC000, None),
    # lengths
    "item longer than its sequence": (
        ELE, lambda i: _head(E, i) + E.el(0x00081110, "SQ", _ref_study_item(E, 40)) + _image(E), ABORTED, 0xC000, None),
    "sequence longer than the data set": (
        ELE, lambda i: _head(E, i) + E.el(0x00081110, "SQ", _ref_study_item(E), length=400), ABORTED, 0xC000, None),
    "undefined length on a text element": (
        ELE, lambda i: _head(E, i) + E.el(0x00081030, "UT", b"abcd", length=UNDEF) + _image(E), ABORTED, 0xC000, None),
    "undefined length on a private OB": (
        ELE, lambda i: _head(E, i) + E.el(0x00091010, "OB", _item(E, 0) + E.tag(SEQ_DELIM) + b"\0\0\0\0", length=UNDEF)
        + _image(E), ABORTED, 0xC000, None),
    "odd US values": (
        ELE, lambda i: _head(E, i) + E.el(0x00280002, "US", b"\1\0\0") + E.el(0x00280003, "US", b"\1\0\0"), 0, 0, SAME),
    "odd UL values": (
        ELE, lambda i: _head(E, i) + E.el(0x00281101, "UL", b"\1\0\0\0\0") + E.el(0x00281102, "UL", b"\1\0\0\0\0"), 0, 0, SAME),
    "odd FD values": (
        ELE, lambda i: _head(E, i) + E.el(0x00400244, "FD", b"\0" * 9) + E.el(0x00400245, "FD", b"\0" * 9), 0, 0, SAME),
    "odd US values, big endian": (
        EBE, lambda i: _head(B, i) + B.el(0x00280002, "US", b"\0\1\0") + B.el(0x00280003, "US", b"\0\1\0"), 0, 0, SAME),
    "group length that lies": (ELE, lambda i: E.ul(0x00080000, 9999) + _head(E, i) + E.ul(0x00280000, 3), 0, 0, SAME),
    "data set of odd length (odd PDV)": (ELE, lambda i: _head(E, i) + E.el(0x00280002, "US", b"\1\0\0"), ABORTED, 0, None),
    # delimiters
    "item delimiter in the data set": (
        ELE, lambda i: _head(E, i) + E.tag(ITEM_DELIM) + b"\0\0\0\0" + _image(E), 0, 0xB006, SAME),
    "sequence delimiter in the data set": (
        ELE, lambda i: _head(E, i) + E.tag(SEQ_DELIM) + b"\0\0\0\0" + _image(E), ABORTED, 0xC000, None),
    "item in the data set": (ELE, lambda i: _head(E, i) + _item(E, 0) + _image(E), ABORTED, 0xC000, None),
    # order and repetition
    "elements out of order": (
        ELE, lambda i: _head(E, i) + E.el(0x00100020, "LO", "ID") + E.el(0x00100010, "PN", "A^B "), 0, 0, DIFFERENT),
    "element repeated": (
        ELE, lambda i: _head(E, i) + E.el(0x00280010, "US", b"\2\0") + E.el(0x00280010, "US", b"\3\0"), 0, 0xB006, SAME),
    "element repeated later": (
        ELE, lambda i: _head(E, i) + E.el(0x00280010, "US", b"\2\0") + E.el(0x00280011, "US", b"\2\0")
        + E.el(0x00280010, "US", b"\3\0"), 0, 0, DIFFERENT),
    # what follows the data set
    "unknown VR": (ELE, lambda i: _head(E, i) + E.tag(0x00400010) + b"zz\2\0ab", 0, 0, SAME),
    "garbage after the data set": (ELE, lambda i: _head(E, i) + b"\x12\x34\x56\x78garbage!", ABORTED, 0xC000, None),
    "0xFF bytes after the data set": (ELE, lambda i: _head(E, i) + b"\xff" * 8, 0, 0xB006, SAME),
    # read as a (0000,0000) element (and its repetition): storescp sorts it to the front
    "zero bytes after the data set": (ELE, lambda i: _head(E, i) + b"\0" * 16, 0, 0xB006, DIFFERENT),
    # truncation (the rules of test_cut_at_every_byte, in named cases)
    "last element OF written with a 2-byte length": (
        ELE, lambda i: _head(E, i) + E.tag(0x00640009) + b"OF\0\0", 0, 0xB006, SAME),
    "cut inside an undefined-length item": (
        ELE, lambda i: _head(E, i) + E.seq(0x00400275, [E.item(E.el(0x00401001, "SH", "RP01"), undef=True)], undef=True)
        + E.tag(0x00400280), 0, 0xB006, SAME),
}


def test_catalogue_of_defects(tmp_path):
    cases = []
    for number, (ts, build, _, _, _) in enumerate(CATALOGUE.values()):
        inst = numbered_uid("1.2.826.0.1.3680043.8.498.00000000", number)
        cases.append((ts, SC, inst, build(inst)))
    outcomes = run_both(tmp_path, cases)
    wrong = []
    for (name, (_, _, ref_expected, ours_expected, files)), ref, ours in zip(
            CATALOGUE.items(), outcomes["dcmtk"], outcomes["fastscp"]):
        got = (ref.result, ours.result, ours.stored == (ours.file is not None))
        if got != (ref_expected, ours_expected, True):
            wrong.append((name, "storescp " + ref.describe(), "fastscp " + ours.describe()))
        elif ref.stored and ours.stored:
            if same_file(ref.file, ours.file) != (files == SAME):
                wrong.append((name, "files", files))
            if not dcmtk_reads(ours.file):
                wrong.append((name, "DCMTK cannot read fastscp's file"))
    assert not wrong, wrong


def test_bit_preserving_still_checks(tmp_path):
    """+B stores the bytes as received; storescp then stores anything with 0x0000,
    fastscp parses the data set on the side and refuses an invalid one."""
    ts, cls, inst, data = CUT_OBJECTS["explicit LE"](tmp_path)
    wanted = {len(data): (0, 0), 300: (0, 0xC000), 100: (0, 0xC000), 1: (ABORTED, 0xC000)}
    cases = [(ts, cls, numbered_uid(inst, n), with_instance(data, inst, numbered_uid(inst, n))[:n]) for n in wanted]
    native = numbered_uid("1.2.826.0.1.3680043.8.498.00000000", 1)
    cases.append((ELE, SC, native, _head(E, native) + _image(E) + _encapsulated(E)))
    outcomes = run_both(tmp_path, cases, options=("+B",))
    got = [(ref.result, ours.result) for ref, ours in zip(outcomes["dcmtk"], outcomes["fastscp"])]
    assert got == list(wanted.values()) + [(0, 0xA700)]
    ref, ours = outcomes["dcmtk"][0], outcomes["fastscp"][0]
    assert split_file(ref.file)[1] == split_file(ours.file)[1] == with_instance(data, inst, cases[0][2])
    assert [o.file is not None for o in outcomes["fastscp"]] == [True, False, False, False, False]
