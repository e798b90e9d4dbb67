"""Tests for fastscp.uids (SOP class and transfer syntax tables)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest

from fastscp import uids
from fastscp.uids import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    ENCAPSULATED_UNCOMPRESSED,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    PREFERENCE_LISTS,
    STORAGE_SOP_CLASS_UIDS,
    STORAGE_SOP_CLASSES,
    TRANSFER_SYNTAXES,
    UNCOMPRESSED_PREFERENCE,
    VERIFICATION_SOP_CLASS,
    filename_prefix,
    log_abbreviation,
    preference_list,
    sop_class_name,
    transfer_syntax,
)

# PS3.5 9.1: components of digits, no leading zero (except "0"), <= 64 chars.
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

ROOT = "1.2.840.10008.5.1.4.1.1."
TS = "1.2.840.10008.1.2."

# Spec 8.5: storage classes the 3.6.9 manual lists but Debian's 3.6.7 refuses.
NEW_IN_369 = frozenset(
    ROOT + s
    for s in (
        "6.3", "9.1.4", "11.12", "66.7", "66.8", "77.1.8", "77.1.9", "88.77",
        "481.23", "481.24", "481.25", "601.3", "601.4",
    )
)


def valid_uid(uid: str) -> bool:
    return 0 < len(uid) <= 64 and UID_RE.match(uid) is not None


# --------------------------------------------------------------------------
# SOP classes
# --------------------------------------------------------------------------


def test_verification():
    assert VERIFICATION_SOP_CLASS == "1.2.840.10008.1.1"
    assert sop_class_name(VERIFICATION_SOP_CLASS) == "VerificationSOPClass"
    assert VERIFICATION_SOP_CLASS not in STORAGE_SOP_CLASS_UIDS


def test_storage_table_matches_manual_count():
    # The manual's DICOM Conformance section lists 199 storage classes
    # (plus Verification).
    assert len(STORAGE_SOP_CLASSES) == 199
    assert len(STORAGE_SOP_CLASS_UIDS) == 199


def test_storage_table_no_duplicates():
    uids_ = [c.uid for c in STORAGE_SOP_CLASSES]
    names = [c.name for c in STORAGE_SOP_CLASSES]
    assert len(set(uids_)) == len(uids_)
    assert len(set(names)) == len(names)
    other = [c.uid for c in uids.OTHER_PREFIXED_SOP_CLASSES]
    assert len(set(other)) == len(other)
    assert not set(other) & STORAGE_SOP_CLASS_UIDS


def test_storage_table_order_and_ends():
    first, last = STORAGE_SOP_CLASSES[0], STORAGE_SOP_CLASSES[-1]
    assert first == ("1.2.840.10008.5.1.1.27", "RETIRED_StoredPrintStorage", "SP")
    assert last == (
        "1.2.840.10008.5.1.4.34.10",
        "RTBrachyApplicationSetupDeliveryInstructionStorage",
        "RTa",
    )


def test_all_uids_valid():
    for c in STORAGE_SOP_CLASSES + uids.OTHER_PREFIXED_SOP_CLASSES:
        assert valid_uid(c.uid), c
    for t in TRANSFER_SYNTAXES:
        assert valid_uid(t.uid), t
    assert valid_uid(VERIFICATION_SOP_CLASS)


def test_every_storage_class_has_prefix():
    for c in STORAGE_SOP_CLASSES:
        assert 2 <= len(c.prefix) <= 4, c
        assert re.match(r"^[A-Za-z0-9_]+$", c.prefix), c
        assert filename_prefix(c.uid) == c.prefix
        assert log_abbreviation(c.uid) == c.prefix
        assert sop_class_name(c.uid) == c.name


@pytest.mark.parametrize(
    "uid, prefix",
    [
        (ROOT + "1", "CR"),
        (ROOT + "1.1.1", "DP"),
        (ROOT + "2", "CT"),
        (ROOT + "2.1", "CTe"),
        (ROOT + "4", "MR"),
        (ROOT + "7", "SC"),
        (ROOT + "9.1", "WV_d"),
        (ROOT + "9.1.4", "ECGh"),
        (ROOT + "11.12", "PSv"),
        (ROOT + "66.8", "SGh"),
        (ROOT + "77.1.5.8", "OCb"),
        (ROOT + "88.33", "SRc"),
        (ROOT + "88.59", "KO"),
        (ROOT + "88.70", "SRi"),
        (ROOT + "88.75", "SRi"),  # the table really gives SRi twice
        (ROOT + "88.76", "SRde"),
        (ROOT + "104.1", "PDF"),
        (ROOT + "128", "PI"),
        (ROOT + "200.1", "PPcd"),
        (ROOT + "200.3", "PAp"),
        (ROOT + "201.1", "INV"),
        (ROOT + "481.2", "RD"),
        (ROOT + "481.25", "RPp"),
        (ROOT + "601.4", "TGm"),
        ("1.2.840.10008.5.1.1.27", "SP"),
        ("1.2.840.10008.5.1.4.34.1", "RB_d"),
        ("1.2.840.10008.5.1.4.34.10", "RTa"),
        ("1.2.840.10008.5.1.4.38.1", "HP"),
        ("1.2.840.10008.5.1.4.45.1", "ITg"),
    ],
)
def test_prefix_samples(uid, prefix):
    assert filename_prefix(uid) == prefix
    assert log_abbreviation(uid) == prefix


def test_non_default_prefixed_classes_are_not_storage():
    # Spec 3.1: Hanging Protocol, Color Palette, implant templates, defined
    # procedure protocols, protocol approval, inventory are refused by default.
    for uid in (ROOT + "200.1", ROOT + "200.3", ROOT + "200.7", ROOT + "201.1",
                "1.2.840.10008.5.1.4.38.1", "1.2.840.10008.5.1.4.39.1",
                "1.2.840.10008.5.1.4.43.1", "1.2.840.10008.5.1.4.44.1",
                "1.2.840.10008.5.1.4.45.1"):
        assert uid not in STORAGE_SOP_CLASS_UIDS
        assert not uids.is_storage_sop_class(uid)
        assert sop_class_name(uid) is not None
    # ... while the performed procedure protocols are in the list.
    assert ROOT + "200.2" in STORAGE_SOP_CLASS_UIDS
    assert ROOT + "200.8" in STORAGE_SOP_CLASS_UIDS


def test_unknown_class():
    uid = "1.2.3.4.5.6.7"
    assert filename_prefix(uid) == "UNKNOWN"
    assert log_abbreviation(uid) == "OT"
    assert sop_class_name(uid) is None
    assert not uids.is_storage_sop_class(uid)
    # Verification has no file prefix either.
    assert filename_prefix(VERIFICATION_SOP_CLASS) == "UNKNOWN"


def test_manual_names_kept_verbatim():
    assert sop_class_name(ROOT + "2") == "CTImageStorage"
    assert sop_class_name(ROOT + "11.7") == (
        "CompositingPlanarMPRVolumetricPresent.StateStorage")
    assert sop_class_name(ROOT + "80.1") == (
        "OphthalmicVisualFieldStaticPerimetryMeasurementsSt.")


def test_table_matches_manual_file():
    """If the shared manual is available, re-parse it and compare."""
    path = "/work/shared/storescp-manual.txt"
    if not os.path.exists(path):
        pytest.skip("manual not available")
    text = open(path, encoding="utf-8", errors="replace").read()
    start = text.index("supports the following SOP Classes as an SCP")
    end = text.index("will accept presentation contexts", start)
    rows = [ln.split() for ln in text[start:end].splitlines()]
    rows = [r for r in rows if len(r) == 2 and valid_uid(r[1])]
    assert rows[0] == ["VerificationSOPClass", VERIFICATION_SOP_CLASS]
    assert [(c.name, c.uid) for c in STORAGE_SOP_CLASSES] == [
        tuple(r) for r in rows[1:]]

    start = text.index("Using  option  --accept-all")
    end = text.index("if compiled with zlib", start)
    rows = [ln.split() for ln in text[start:end].splitlines()]
    rows = [r for r in rows if len(r) >= 2 and valid_uid(r[1])]
    assert [(t.name, t.uid) for t in TRANSFER_SYNTAXES] == [
        (r[0], r[1]) for r in rows]


# --------------------------------------------------------------------------
# Transfer syntaxes
# --------------------------------------------------------------------------


def test_ts_constants():
    assert IMPLICIT_VR_LITTLE_ENDIAN == "1.2.840.10008.1.2"
    assert EXPLICIT_VR_LITTLE_ENDIAN == "1.2.840.10008.1.2.1"
    assert EXPLICIT_VR_BIG_ENDIAN == "1.2.840.10008.1.2.2"
    assert DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN == "1.2.840.10008.1.2.1.99"
    assert ENCAPSULATED_UNCOMPRESSED == "1.2.840.10008.1.2.1.98"


def test_ts_table():
    assert len(TRANSFER_SYNTAXES) == 35  # the manual's --accept-all list
    uids_ = [t.uid for t in TRANSFER_SYNTAXES]
    assert len(set(uids_)) == len(uids_)
    for t in TRANSFER_SYNTAXES:
        assert transfer_syntax(t.uid) is t
        assert t.uid.startswith(TS[:-1])
    assert transfer_syntax("1.2.3") is None


def test_ts_flags():
    ile = transfer_syntax(IMPLICIT_VR_LITTLE_ENDIAN)
    assert (ile.explicit_vr, ile.little_endian, ile.encapsulated, ile.deflated) == (
        False, True, False, False)
    ele = transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
    assert (ele.explicit_vr, ele.little_endian, ele.encapsulated, ele.deflated) == (
        True, True, False, False)
    ebe = transfer_syntax(EXPLICIT_VR_BIG_ENDIAN)
    assert (ebe.explicit_vr, ebe.little_endian, ebe.encapsulated, ebe.deflated) == (
        True, False, False, False)
    dfl = transfer_syntax(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    assert (dfl.explicit_vr, dfl.little_endian, dfl.encapsulated, dfl.deflated) == (
        True, True, False, True)
    enc = transfer_syntax(ENCAPSULATED_UNCOMPRESSED)
    assert enc.encapsulated and enc.explicit_vr and enc.little_endian
    for suffix in ("4.50", "4.70", "4.90", "4.91", "4.100.1", "4.107", "4.112",
                   "4.203", "5"):
        t = transfer_syntax(TS + suffix)
        assert t.encapsulated and t.explicit_vr and t.little_endian
        assert not t.deflated
    assert [t.uid for t in TRANSFER_SYNTAXES if not t.explicit_vr] == [
        IMPLICIT_VR_LITTLE_ENDIAN]
    assert [t.uid for t in TRANSFER_SYNTAXES if not t.little_endian] == [
        EXPLICIT_VR_BIG_ENDIAN]
    assert [t.uid for t in TRANSFER_SYNTAXES if t.deflated] == [
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]


def test_known_transfer_syntaxes_one_table():
    """One table: the manual's list is the named part of it; DCMTK's names
    (profiles) belong to the same rows."""
    known = uids.KNOWN_TRANSFER_SYNTAXES
    assert tuple(t for t in known if t.name is not None) == TRANSFER_SYNTAXES
    assert len({t.uid for t in known}) == len({t.dcmtk_name for t in known}) == len(known) == 55
    for t in known:
        assert transfer_syntax(t.uid) is t
        assert uids.transfer_syntax_by_dcmtk_name(t.dcmtk_name) is t
        assert uids.is_standard_transfer_syntax(t.uid) == (t.uid != "1.2.840.113619.5.2")
    assert transfer_syntax(TS + "4.57").encapsulated
    jpip = transfer_syntax(TS + "4.95")
    assert jpip.deflated and not jpip.encapsulated and jpip.name is None
    assert uids.is_standard_transfer_syntax(TS + "4.999")
    assert not uids.is_standard_transfer_syntax("1.2.840.10008.1.20.1")
    assert not uids.is_standard_transfer_syntax("1.2.840.10008.1.2x")


def test_stream_writer_takes_its_encodings_from_the_table():
    from fastscp import _writer
    for uid in uids.UNCOMPRESSED_TRANSFER_SYNTAXES:
        t = transfer_syntax(uid)
        assert _writer._encoding(uid, False) == (not t.explicit_vr, not t.little_endian)
    with pytest.raises(NotImplementedError, match="fastscp.deflate"):
        _writer._encoding(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, False)
    assert _writer._encoding(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, True) == (False, False)
    # every other standard syntax (known or not): explicit VR LE, encapsulated pixel data
    assert _writer._encoding(TS + "4.50", False) == _writer._encoding(TS + "4.999", False) == (False, False)
    for private in ("1.2.840.113619.5.2", "1.2.3"):
        with pytest.raises(NotImplementedError, match="not supported"):
            _writer._encoding(private, False)
        assert _writer._encoding(private, True) == (False, False)


# --------------------------------------------------------------------------
# Preference lists
# --------------------------------------------------------------------------

ELE, EBE, ILE = (EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN,
                 IMPLICIT_VR_LITTLE_ENDIAN)


def test_default_preference():
    if sys.byteorder == "little":
        assert UNCOMPRESSED_PREFERENCE == (ELE, EBE, ILE)
    else:
        assert UNCOMPRESSED_PREFERENCE == (EBE, ELE, ILE)
    assert preference_list("prefer-uncompr", "little") == (ELE, EBE, ILE)
    assert preference_list("prefer-uncompr", "big") == (EBE, ELE, ILE)
    assert preference_list() == UNCOMPRESSED_PREFERENCE


def test_fixed_preferences():
    for order in ("little", "big"):
        assert preference_list("prefer-little", order) == (ELE, EBE, ILE)
        assert preference_list("prefer-big", order) == (EBE, ELE, ILE)
        assert preference_list("implicit", order) == (ILE,)
        assert preference_list("prefer-rle", order) == (TS + "5", ELE, EBE, ILE)
        assert preference_list("prefer-deflated", order) == (
            DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, ELE, EBE, ILE)
        assert preference_list("prefer-lossless", order)[0] == TS + "4.70"
        assert preference_list("prefer-jpeg8", order)[0] == TS + "4.50"
        assert preference_list("prefer-jpeg12", order)[0] == TS + "4.51"
        assert preference_list("prefer-hevc10", order)[0] == TS + "4.108"


def test_all_options_present():
    expected = {
        "prefer-uncompr", "prefer-little", "prefer-big", "prefer-lossless",
        "prefer-jpeg8", "prefer-jpeg12", "prefer-j2k-lossless",
        "prefer-j2k-lossy", "prefer-jls-lossless", "prefer-jls-lossy",
        "prefer-mpeg2", "prefer-mpeg2-high", "prefer-mpeg4", "prefer-mpeg4-bd",
        "prefer-mpeg4-2-2d", "prefer-mpeg4-2-3d", "prefer-mpeg4-2-st",
        "prefer-hevc", "prefer-hevc10", "prefer-rle", "prefer-deflated",
        "implicit", "accept-all",
    }
    assert set(PREFERENCE_LISTS) == expected
    for option, lst in PREFERENCE_LISTS.items():
        assert len(set(lst)) == len(lst), option
        for uid in lst:
            assert transfer_syntax(uid) is not None, (option, uid)


def test_accept_all():
    lst = preference_list("accept-all", "little")
    assert lst[0] == TS + "4.91"  # lossy JPEG 2000 preferred over everything
    assert lst[-3:] == (ELE, EBE, ILE)
    assert preference_list("accept-all", "big")[-3:] == (EBE, ELE, ILE)
    assert set(lst) == {t.uid for t in TRANSFER_SYNTAXES}
    assert lst.index(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) + 1 == lst.index(
        ENCAPSULATED_UNCOMPRESSED)


# --------------------------------------------------------------------------
# Cross-check against the installed DCMTK storescp (Debian 3.6.7)
# --------------------------------------------------------------------------

DCMTK_STORESCP = "/usr/bin/storescp"


from conftest import free_port as _free_port  # noqa: E402


def _wait_listen(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("storescp did not start listening")


@pytest.mark.skipif(not os.path.exists(DCMTK_STORESCP), reason="DCMTK absent")
def test_cross_check_dcmtk_storescp(tmp_path):
    """Debian's storescp accepts exactly our classes minus the 13 that are
    new in 3.6.9 (spec 8.5)."""
    pynetdicom = pytest.importorskip("pynetdicom")
    port = _free_port()
    proc = subprocess.Popen(
        [DCMTK_STORESCP, "-od", str(tmp_path), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    accepted, refused = set(), set()
    try:
        _wait_listen(port)
        classes = [VERIFICATION_SOP_CLASS] + [c.uid for c in STORAGE_SOP_CLASSES]
        for i in range(0, len(classes), 100):  # <= 128 contexts per association
            ae = pynetdicom.AE(ae_title="UIDTEST")
            for uid in classes[i:i + 100]:
                ae.add_requested_context(uid, [ELE])
            assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP")
            assert assoc.is_established
            accepted |= {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
            refused |= {str(cx.abstract_syntax) for cx in assoc.rejected_contexts}
            assoc.release()
    finally:
        proc.terminate()
        proc.wait(10)
    assert VERIFICATION_SOP_CLASS in accepted
    assert refused == set(NEW_IN_369)
    assert accepted == (STORAGE_SOP_CLASS_UIDS - NEW_IN_369) | {VERIFICATION_SOP_CLASS}
