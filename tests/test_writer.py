"""Tests of the dataset stream writer (fastscp._writer).

The reference is DCMTK's storescp (``/usr/bin/storescp``): each object is sent
to one storescp in bit-preserving mode (``+B``, which stores the data set as it
came off the wire) and to one in default mode; the wire data set is then fed to
``DatasetWriter`` in random chunkings and the result must equal the
default-mode file (data set bytes exactly; file meta element by element apart
from (0002,0012)/(0002,0013)).
"""
from __future__ import annotations

import glob
import logging
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import pytest



import fastscp._sink as S  # noqa: E402
import fastscp._writer as W  # noqa: E402
from fastscp.errors import DatasetError, OutputError  # noqa: E402

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
TSS = {"il": IMPLICIT, "el": EXPLICIT, "eb": BIG}
STORESCP = "/usr/bin/storescp"
STORESCU = "/usr/bin/storescu"


# ---------------------------------------------------------------- encoding helpers
from dicomenc import LONG_VRS, UNDEF, Enc  # noqa: E402  (shared with the output option tests)


def file_meta(ts, sop, inst):
    e = Enc()

    def ui(s):
        s = s.encode()
        return s + b"\0" if len(s) % 2 else s

    body = (e.el(0x00020001, "OB", b"\0\1") + e.el(0x00020002, "UI", ui(sop)) + e.el(0x00020003, "UI", ui(inst))
            + e.el(0x00020010, "UI", ui(ts)) + e.el(0x00020012, "UI", ui("1.2.3.4")))
    return b"\0" * 128 + b"DICM" + e.ul(0x00020000, len(body)) + body


def split_file(data):
    """(meta elements dict, data set bytes) of a Part 10 file."""
    assert data[128:132] == b"DICM"
    gl = struct.unpack("<I", data[140:144])[0]
    meta, i, end = {}, 132, 144 + gl
    while i < end:
        g, el = struct.unpack("<HH", data[i:i + 4])
        vr = data[i + 4:i + 6]
        if vr in LONG_VRS:
            n, h = struct.unpack("<I", data[i + 8:i + 12])[0], 12
        else:
            n, h = struct.unpack("<H", data[i + 6:i + 8])[0], 8
        meta[(g << 16) | el] = (vr, data[i + h:i + h + n])
        i += h + n
    return meta, data[end:]


# ---------------------------------------------------------------- running the writer
def without_instance_uid(res):
    """A finish() result without the SOP Instance UID, which a data set
    lacking one gets anew (made up) at every run."""
    return res.replace(sop_instance_uid=None)


def run_writer(ds, ts, chunks=None, seed=None, tmp=None, **kw):
    """Feed ``ds`` to a DatasetWriter; return (file bytes, finish() result)."""
    args = dict(calling_ae_title="SENDER", implementation_class_uid="1.2.826.0.1.3680043.10.1",
                implementation_version_name="FASTSCP_TEST", command_sop_class_uid=CT,
                command_sop_instance_uid="1.2.3.4.5")
    args.update(kw)
    fd, path = tempfile.mkstemp(dir=tmp)
    try:
        w = W.DatasetWriter(fd, ts, **args)
        if chunks is None:
            rnd = random.Random(seed)
            i = 0
            while i < len(ds):
                n = rnd.choice((1, 2, 3, 5, 7, 8, 11, 12, 13, 64, 1000, 16384, 1 << 20))
                w.write(memoryview(ds)[i:i + n])
                i += n
        else:
            i = 0
            for n in chunks:
                w.write(ds[i:i + n])
                i += n
            w.write(ds[i:])
        res = w.finish()
        os.lseek(fd, 0, 0)
        with open(path, "rb") as f:
            data = f.read()
        return data, res
    finally:
        os.close(fd)
        os.unlink(path)


def assert_same_as_dcmtk(out, ref, mask_instance=False):
    mo, do = split_file(out)
    mr, dr = split_file(ref)
    assert out[:128] == ref[:128]
    skip = {0x00020000, 0x00020012, 0x00020013} | ({0x00020003} if mask_instance else set())
    assert {k: v for k, v in mo.items() if k not in skip} == {k: v for k, v in mr.items() if k not in skip}
    assert sorted(mo) == sorted(mr)
    assert do == dr


# ---------------------------------------------------------------- DCMTK reference
from conftest import free_port as _free_port  # noqa: E402


class StoreSCP:
    def __init__(self, extra):
        self.dir = tempfile.mkdtemp(prefix="fastscp-ref-")
        self.port = _free_port()
        env = dict(os.environ, TCP_NODELAY="1")
        self.proc = subprocess.Popen([STORESCP, "-pm", "+xa", "-od", self.dir, *extra, str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("storescp did not start")
                time.sleep(0.01)

    def clear(self):
        for f in glob.glob(os.path.join(self.dir, "*")):
            os.unlink(f)

    def result(self):
        files = glob.glob(os.path.join(self.dir, "*"))
        if len(files) != 1:
            return None
        with open(files[0], "rb") as f:
            return f.read()

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, True)


class Reference:
    def __init__(self):
        self.bp = StoreSCP(["+B"])
        self.normal = StoreSCP([])

    def close(self):
        self.bp.close()
        self.normal.close()

    def _send_pynetdicom(self, path, port, ts, sop):
        import pynetdicom
        import pynetdicom._config
        pynetdicom._config.STORE_SEND_CHUNKED_DATASET = True
        ae = pynetdicom.AE(ae_title="SENDER")
        ae.add_requested_context(sop, ts)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP")
        if not assoc.is_established:
            return False
        try:
            assoc.send_c_store(path)
        finally:
            if assoc.is_established:
                assoc.release()
        return True

    def _send_storescu(self, path, port):
        env = dict(os.environ, TCP_NODELAY="1")
        r = subprocess.run([STORESCU, "-aet", "SENDER", "-aec", "STORESCP", "127.0.0.1", str(port), path],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        return r.returncode == 0

    def send_both(self, path, ts=None, sop=None, sender="pynetdicom"):
        """(+B file bytes or None, default-mode file bytes or None)."""
        out = []
        for scp in (self.bp, self.normal):
            scp.clear()
            if sender == "pynetdicom":
                self._send_pynetdicom(path, scp.port, ts, sop)
            else:
                self._send_storescu(path, scp.port)
            out.append(scp.result())
        return out[0], out[1]

    def get(self, path, ts=None, sop=None, sender="pynetdicom"):
        """(wire data set, default-mode file bytes, +B file bytes) or None."""
        bp, normal = self.send_both(path, ts, sop, sender)
        if bp is None or normal is None:
            return None
        return split_file(bp)[1], normal, bp

    def raw(self, name, ds, ts, tmp_path, sop=CT, inst="1.2.3.4.5"):
        p = os.path.join(str(tmp_path), name + ".dcm")
        with open(p, "wb") as f:
            f.write(file_meta(ts, sop, inst) + ds)
        r = self.get(p, ts, sop)
        assert r is not None, "storescp did not store the crafted object"
        assert r[0] == ds  # +B keeps the wire bytes
        return r


have_dcmtk = os.path.exists(STORESCP) and os.path.exists(STORESCU)
needs_dcmtk = pytest.mark.skipif(not have_dcmtk, reason="DCMTK storescp/storescu not installed")


@pytest.fixture(scope="module")
def reference():
    if not have_dcmtk:
        pytest.skip("DCMTK not installed")
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    ref = Reference()
    try:
        yield ref
    finally:
        ref.close()


# ---------------------------------------------------------------- crafted objects
def _even(e, ds):
    """DCMTK refuses odd PDV fragments: make the data set length even."""
    return ds + e.el(0x00990010, "LO", "X") if len(ds) % 2 else ds


def crafted_cases(tsk):
    e = Enc(explicit=tsk != "il", be=tsk == "eb")
    cls, inst = e.el(0x00080016, "UI", CT + "\0"), e.el(0x00080018, "UI", "1.2.3.4.5\0")
    gl = e.ul
    cases = {}
    # odd lengths of many VRs (binary and text)
    els = [(0x00080020, "DA", "ABC"), (0x0008002A, "DT", "ABC"), (0x00080030, "TM", "ABC"), (0x00080050, "SH", "ABC"),
           (0x00080054, "AE", "ABC"), (0x00080060, "CS", "ABC"), (0x00080081, "ST", "ABC"), (0x00080090, "PN", "ABC"),
           (0x00080120, "UR", "ABC"), (0x00081030, "LO", "ABC"), (0x00081155, "UI", "ABC"), (0x00090010, "LO", "ABC"),
           (0x00091001, "UN", "\1\2\3"), (0x00091003, "OB", "\1\2\3"), (0x00101010, "AS", "ABC"),
           (0x00181310, "US", "\1\2\3\4\5\6\7"), (0x00189219, "SS", "\1\2\3"), (0x00200011, "IS", "ABC"),
           (0x00204000, "LT", "ABC"), (0x00209128, "UL", "\1\2\3"), (0x00209165, "AT", "\1\2\3"),
           (0x00221041, "SL", "\1\2\3"), (0x00280010, "US", "\1"), (0x00420011, "OB", "\1\2\3"),
           (0x00660023, "OF", "\1\2\3"), (0x00720074, "FD", "\1\2\3"), (0x00720076, "FL", "\1\2\3"),
           (0x7FE00010, "OW", "\1\2\3")]
    cases["odd"] = cls + inst + b"".join(e.el(t, vr, v) for t, vr, v in els)
    # string normalisation
    els = [(0x00080054, "AE", "AE  "), (0x00080060, "CS", " CT "), (0x00080070, "LO", "ABC\0 "),
           (0x00080080, "LO", "A  \\B  "), (0x00080081, "ST", "st\r\n  "), (0x00080090, "PN", "  \\  "),
           (0x00080120, "UR", "http://x  "), (0x00081010, "SH", "S\t "), (0x00081030, "LO", "x \t"),
           (0x00081040, "LO", "\0\0  "), (0x00081048, "PN", "a\0b\0  "), (0x00081150, "UI", "1.2\0.3"),
           (0x00081155, "UI", "1.2\t.3\n4\r\v\f  "), (0x00100010, "PN", "Doe  "), (0x00100030, "DA", "20200101  "),
           (0x00101010, "AS", "1Y  "), (0x00101020, "DS", "1.5   "), (0x00189004, "CS", "A\x01 "),
           (0x00189005, "SH", "\xa0\xa0"), (0x0020000D, "UI", " 1.2 3 "), (0x0020000E, "UI", " "),
           (0x00200013, "IS", "12  "), (0x00200052, "UI", "1.2.3 \\4.5 "), (0x00204000, "LT", "  lt  "),
           (0x00400031, "UT", "   "), (0x0040A160, "UT", "ut ut ut  ")]
    cases["strings"] = (e.el(0x00080005, "CS", "ISO_IR 100") + e.el(0x00080016, "UI", CT + "\0\0\0")
                        + e.el(0x00080018, "UI", "1.2.3.4.5  ") + b"".join(e.el(t, vr, v) for t, vr, v in els))
    # sequences, items, group lengths
    inner = e.item(gl(0x00080000, 99) + e.el(0x00081150, "UI", "1.2.3") + e.el(0x00081155, "UI", "1.2.33"), undef=True)
    inner2 = e.item(e.seq(0x0008114A, [e.item(b"", undef=True), e.item(b"")], undef=True)
                    + e.el(0x00081150, "UI", "1.2.3"))
    cases["sequences"] = (gl(0x00080000, 5) + e.el(0x00080005, "CS", "ISO_IR 100") + cls + inst
                          + e.seq(0x00081110, [inner, inner2]) + e.seq(0x00081111, [], undef=True)
                          + e.seq(0x00081115, [])
                          + e.seq(0x00081120, [e.item(gl(0x00080000, 0) + gl(0x00100000, 7) + e.el(0x00100010, "PN", "X")
                                                      + gl(0x00200000, 0))], undef=True)
                          + gl(0x00100000, 1234) + e.el(0x00100010, "PN", "Doe^J") + gl(0x00180000, 0)
                          + gl(0x00200000, 0) + e.el(0x0020000D, "UI", "1.2") + gl(0x00280000, 0))
    deep = e.el(0x00081150, "UI", "1.2.3")
    for i in range(8):
        deep = e.seq(0x0040A730 if i % 2 else 0x00081199, [e.item(deep, undef=i % 3 == 0), e.item(b"")], undef=i % 2 == 0)
    cases["nested"] = cls + inst + gl(0x00400000, 1) + deep
    cases["padding_dup"] = (cls + inst + e.el(0x00100010, "PN", "AB") + e.el(0x00100010, "PN", "CD")
                            + e.seq(0x00400275, [e.item(e.el(0x00081150, "UI", "1.2\0") + e.el(0xFFFCFFFC, "OB", b"\0" * 6))])
                            + e.el(0xFFFCFFFC, "OB", b"\0" * 8))
    cases["group0_2"] = (gl(0x00000000, 0) + e.el(0x00000002, "UI", "1.2\0") + e.el(0x00020002, "UI", "1.2.3\0")
                         + cls + inst)
    cases["item_delim_in_defined"] = cls + inst + e.seq(0x00081110, [e.item(e.el(0x00081150, "UI", "1.2\0")
                                                                         + e.tag(0xFFFEE00D) + b"\0\0\0\0")])
    if tsk != "il":
        cases["gl_odd_vr"] = (e.el(0x00080000, "US", b"\0\0") + cls + inst + e.el(0x00100000, "UN", b"\1\0\0\0")
                              + e.el(0x00100010, "PN", "AB") + e.el(0x00200000, "UL", b"\0" * 8) + e.el(0x0020000D, "UI", "1.2\0"))
    # lengths patched after the output buffer was flushed (pwrite)
    big = e.el(0x7FE00010, "OW", bytes(range(256)) * 1200)
    cases["big_nested"] = (cls + inst + e.el(0x00080060, "CS", "OT  ") + gl(0x00880000, 1)
                           + e.seq(0x00880200, [e.item(e.el(0x00280010, "US", b"\1\0") + big + e.el(0x7FE10010, "LO", "A  "),
                                                       undef=True), e.item(big)], undef=True)
                           + gl(0x7FE00000, 0) + e.el(0x7FE00010, "OW", b"\1" * 400001))
    if tsk == "il":
        # private tags: storescp takes their VR from its private dictionary
        item = e.item(e.el(0x00090010, "LO", "GEMS_ACQU_01 ") + e.el(0x000910FB, "IS", "34  "))
        cases["private_dict"] = (cls + inst + e.el(0x00090010, "LO", "GEMS_ACQU_01") + e.el(0x00090011, "LO", "UNKNOWN CREATOR")
                                 + e.el(0x00091024, "DS", "1.5 ") + e.el(0x00091025, "US", b"\1\2\3")
                                 + e.el(0x000910FB, "IS", "12  ") + e.el(0x00091101, "LO", "ab  ")
                                 + e.seq(0x00091102, [item, e.item(e.el(0x00090010, "LO", "GEMS_ACQU_01")
                                                                   + e.el(0x000910FB, "IS", "56  "))], undef=True)
                                 + e.el(0x00110010, "LO", "GEMS_ACQU_01")
                                 + e.el(0x00111024, "DS", "1  "))
    if tsk == "el":
        ie = Enc(explicit=False)
        un = ie.seq(0x00081110, [ie.item(ie.el(0x00080100, "SH", "ABC  ") + ie.el(0x00081150, "UI", "1.2.3")
                                         + ie.el(0x00081155, "UI", "1.2.33 ") + ie.el(0x00091001, "LO", "ab  "),
                                         undef=True),
                                 ie.item(ie.el(0x00081150, "UI", "1.2.4 ") + ie.seq(0x00081199, [ie.item(ie.el(0x00081150, "UI", "1.2"))]))],
                    undef=True)
        un = un[:4] + b"UN\0\0" + un[4:]
        cases["un_undefined"] = (cls + inst + un + e.el(0x00090010, "LO", "PRIV  ")
                                 + e.seq(0x00091008, [], undef=True, vr="UN")
                                 + e.el(0x00091010, "UN", ie.el(0x00100010, "PN", "ABC ") + ie.el(0x00100020, "LO", "X  ")))
    return {k: _even(e, v) for k, v in cases.items()}


CRAFTED = [(tsk, name) for tsk in ("el", "il", "eb") for name in crafted_cases(tsk)]


@needs_dcmtk
@pytest.mark.parametrize("tsk,name", CRAFTED, ids=[f"{t}-{n}" for t, n in CRAFTED])
def test_crafted_matches_storescp(reference, tmp_path, tsk, name):
    ds = crafted_cases(tsk)[name]
    ts = TSS[tsk]
    wire, normal, _ = reference.raw(f"{tsk}-{name}", ds, ts, tmp_path)
    for seed in range(3):
        out, res = run_writer(wire, ts, seed=seed)
        assert_same_as_dcmtk(out, normal)
        assert res.bytes_written == len(out)
        assert res.sop_class_uid == CT
        assert res.sop_instance_uid == "1.2.3.4.5" or name == "nested"


@needs_dcmtk
def test_meta_rules(reference, tmp_path):
    e = Enc()
    cls, inst = e.el(0x00080016, "UI", CT + "\0"), e.el(0x00080018, "UI", "1.2.3.4.5\0")
    # no SOP class: private generic file class
    wire, normal, _ = reference.raw("nocls", inst + e.el(0x00100010, "PN", "AB"), EXPLICIT, tmp_path)
    out, res = run_writer(wire, EXPLICIT)
    assert_same_as_dcmtk(out, normal)
    assert split_file(out)[0][0x00020002][1] == b"1.2.276.0.7230010.3.1.0.1\0"
    assert res.sop_class_uid is None and not res.sop_class_uid_anywhere
    # no SOP instance: a generated UID (storescp generates one too)
    wire, normal, _ = reference.raw("noinst", cls + e.el(0x00100010, "PN", "AB"), EXPLICIT, tmp_path)
    out, res = run_writer(wire, EXPLICIT)
    assert_same_as_dcmtk(out, normal, mask_instance=True)
    assert res.sop_instance_uid is None
    # empty values: empty meta elements
    wire, normal, _ = reference.raw("empty", e.el(0x00080016, "UI", "") + e.el(0x00080018, "UI", "")
                                    + e.el(0x00100010, "PN", "AB"), EXPLICIT, tmp_path)
    out, res = run_writer(wire, EXPLICIT)
    assert_same_as_dcmtk(out, normal)
    assert res.sop_class_uid == "" and res.sop_class_uid_anywhere
    # only nested UIDs: storescp's meta takes them (depth-first search)
    nested = e.seq(0x00081110, [e.item(e.el(0x00080016, "UI", "1.2.3\0") + e.el(0x00080018, "UI", " 1.2.4"))])
    wire, normal, _ = reference.raw("nested", nested + e.el(0x00100010, "PN", "AB"), EXPLICIT, tmp_path)
    out, res = run_writer(wire, EXPLICIT)
    assert_same_as_dcmtk(out, normal)
    assert split_file(out)[0][0x00020003][1] == b"1.2.4\0"
    assert res.sop_class_uid is None and res.sop_class_uid_anywhere
    # SOP Class UID received as UN: missing for storescp
    wire, normal, _ = reference.raw("uncls", e.el(0x00080016, "UN", CT + "\0") + inst, EXPLICIT, tmp_path)
    out, res = run_writer(wire, EXPLICIT)
    assert_same_as_dcmtk(out, normal)
    assert res.sop_class_uid is None and not res.sop_class_uid_anywhere
    # SOP Class/Instance UID as LO/SH: missing for the meta, present for the consistency check
    wire, normal, _ = reference.raw("locls", _even(e, e.el(0x00080016, "LO", "1.2.3 4  ") + e.el(0x00080018, "SH", " 1.2.4")
                                                   + e.el(0x00100010, "PN", "AB")), EXPLICIT, tmp_path)
    out, res = run_writer(wire, EXPLICIT)
    assert_same_as_dcmtk(out, normal, mask_instance=True)
    assert res.sop_class_uid_anywhere and res.sop_instance_uid_anywhere


@needs_dcmtk
def test_encapsulated_matches_storescp(reference, tmp_path):
    e = Enc()
    frags = (e.tag(0xFFFEE000) + struct.pack("<I", 0) + e.tag(0xFFFEE000) + struct.pack("<I", 3) + b"\1\2\3"
             + e.tag(0xFFFEE000) + struct.pack("<I", 1) + b"\7" + e.tag(0xFFFEE0DD) + b"\0\0\0\0")
    ds = (e.el(0x00080016, "UI", CT + "\0") + e.el(0x00080018, "UI", "1.2.3.4.5\0")
          + e.el(0x7FE00010, "OB", frags, length=UNDEF))
    ts = "1.2.840.10008.1.2.4.70"
    wire, normal, _ = reference.raw("encaps", ds, ts, tmp_path)
    for seed in range(3):
        out, _ = run_writer(wire, ts, seed=seed)
        assert_same_as_dcmtk(out, normal)


@needs_dcmtk
def test_bit_preserving_matches_storescp(reference, tmp_path):
    ds = crafted_cases("el")["sequences"]
    wire, _, bp = reference.raw("bp", ds, EXPLICIT, tmp_path)
    out, res = run_writer(wire, EXPLICIT, bit_preserving=True)
    assert_same_as_dcmtk(out, bp)
    assert res.bytes_written == len(out)
    out, res = run_writer(wire, EXPLICIT, write_file_meta=False)
    assert out == split_file(run_writer(wire, EXPLICIT)[0])[1]


# ---------------------------------------------------------------- pydicom's test files
def _pydicom_files():
    try:
        from pydicom.data import get_testdata_files
    except ImportError:
        return []
    out = []
    for f in sorted(get_testdata_files()):
        try:
            with open(f, "rb") as fh:
                if fh.read(132)[128:] == b"DICM":
                    out.append(f)
        except OSError:
            pass
    return out


SUPPORTED = {IMPLICIT, EXPLICIT, BIG}


@needs_dcmtk
def test_pydicom_files_match_storescp(reference):
    """Every pydicom test file storescp stores: wire bytes as in the file (pynetdicom) and as
    re-encoded by storescu."""
    import pydicom

    checked, refused, skipped = 0, 0, {}
    for path in _pydicom_files():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            ts = str(ds.file_meta.TransferSyntaxUID)
            sop = str(ds.file_meta.MediaStorageSOPClassUID)
        except Exception as exc:  # no meta, unreadable ...
            skipped[path] = f"unreadable: {exc}"
            continue
        if ts == "1.2.840.10008.1.2.1.99" or not ts.startswith("1.2.840.10008.1.2"):
            skipped[path] = f"transfer syntax {ts}"
            continue
        senders = ["pynetdicom", "storescu"] if ts in SUPPORTED else ["pynetdicom"]
        for sender in senders:
            bp, normal = reference.send_both(path, ts, sop, sender=sender)
            if bp is None:
                skipped[f"{path} ({sender})"] = "could not be sent"
                continue
            wire = split_file(bp)[1]
            if normal is None:
                # storescp could not parse the data set (truncated, wrong transfer syntax ...)
                with pytest.raises(DatasetError):
                    run_writer(wire, ts, seed=1)
                refused += 1
                continue
            wts = split_file(normal)[0][0x00020010][1].rstrip(b"\0").decode()
            try:
                out, _ = run_writer(wire, wts, seed=len(path))
            except DatasetError as exc:
                pytest.fail(f"{path} ({sender}): {exc}")
            assert_same_as_dcmtk(out, normal, mask_instance=True), path
            checked += 1
    print(f"checked {checked} transfers, {refused} refused by both; skipped {len(skipped)}: {skipped}")
    assert checked > 200


# ---------------------------------------------------------------- chunking independence
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tsk=st.sampled_from(["el", "il", "eb"]), data=st.data())
def test_output_independent_of_chunking(tsk, data):
    cases = crafted_cases(tsk)
    name = data.draw(st.sampled_from(sorted(cases)))
    ds = cases[name]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ds)), max_size=20)))
    chunks = [b - a for a, b in zip([0] + cuts, cuts)]
    whole, res1 = run_writer(ds, TSS[tsk], chunks=[len(ds)])
    split, res2 = run_writer(ds, TSS[tsk], chunks=chunks)
    assert whole == split
    assert without_instance_uid(res1) == without_instance_uid(res2)


def test_picked_attributes():
    e = Enc()
    ds = (e.el(0x00080005, "CS", "ISO_IR 100") + e.el(0x00080016, "UI", CT + "\0") + e.el(0x00080018, "UI", "1.2.3 ")
          + e.el(0x00080060, "CS", "MR") + e.seq(0x00081110, [e.item(e.el(0x00080016, "UI", "9.9"))])
          + e.el(0x00100010, "PN", "Doe^John ") + e.el(0x0020000D, "UI", "1.2.3.4\0"))
    out, res = run_writer(ds, EXPLICIT)
    assert res == W.WriteResult(sop_class_uid=CT, sop_instance_uid="1.2.3", study_instance_uid="1.2.3.4",
                              modality="MR", specific_character_set="ISO_IR 100", patient_name=b"Doe^John ",
                              sop_class_uid_anywhere=True, sop_instance_uid_anywhere=True,
                              bytes_written=len(out), elements_discarded=False)
    with pytest.raises(AttributeError):
        res.bytes_written = 0
    assert res.replace(modality="CT") != res and res.replace(modality="CT").modality == "CT"
    assert hash(res) == hash(res.replace()) and res.replace() == res
    assert repr(res).startswith("WriteResult(bytes_written=%d, elements_discarded=False, " % len(out))
    nested = e.seq(0x00081110, [e.item(e.el(0x00080018, "UI", "9.9"))])
    out, res = run_writer(nested, EXPLICIT)
    assert res.sop_instance_uid is None and res.sop_instance_uid_anywhere
    assert not res.sop_class_uid_anywhere


def test_meta_from_command_when_held_back_too_long():
    e = Enc()
    big = e.el(0x00080008, "CS", "A" * 60000) * 6  # duplicates are dropped, but bytes go by
    ds = e.el(0x00041130, "OB", b"\0" * 300000) + e.el(0x00080016, "UI", "1.2\0") + e.el(0x00080018, "UI", "1.3\0")
    out, res = run_writer(ds, EXPLICIT, command_sop_class_uid="7.7", command_sop_instance_uid="8.8")
    meta, body = split_file(out)
    assert meta[0x00020002][1] == b"7.7\0" and meta[0x00020003][1] == b"8.8\0"
    assert res.sop_class_uid == "1.2"
    assert body == ds
    del big


def test_write_file_meta_false_and_discard():
    ds = crafted_cases("el")["sequences"]
    out, _ = run_writer(ds, EXPLICIT, write_file_meta=False)
    assert out == split_file(run_writer(ds, EXPLICIT)[0])[1]
    d = S.DiscardSink()
    d.write(ds)
    assert d.finish()["bytes_received"] == len(ds)
    with pytest.raises(NotImplementedError):
        S.DatasetSink().write(b"abc")


def test_deflated_not_implemented(tmp_path):
    with open(tmp_path / "x", "wb") as f:
        with pytest.raises(NotImplementedError, match="deflated"):
            W.DatasetWriter(f.fileno(), "1.2.840.10008.1.2.1.99", calling_ae_title="A",
                            implementation_class_uid="1.2", implementation_version_name="X",
                            command_sop_class_uid="1.2", command_sop_instance_uid="1.3")


# ---------------------------------------------------------------- hostile input
def _expect_error(ds, ts=EXPLICIT, match=None):
    with pytest.raises(DatasetError, match=match):
        run_writer(ds, ts, seed=1)


def test_truncated_streams():
    """A stream cut inside a value, or at an element boundary inside a sequence
    or item, is refused by finish(); cut inside an element header or before a
    value begins, what came before is kept (``elements_discarded``), as storescp
    keeps it (tests/test_malformed.py compares every cut with storescp) --
    whatever the chunking."""
    for tsk in ("el", "il", "eb"):
        e = Enc(explicit=tsk != "il", be=tsk == "eb")
        head = e.el(0x00080016, "UI", CT + "\0")
        inner = e.item(e.el(0x00081150, "UI", "1.2.3\0") + e.seq(0x0008114A, [e.item(b"", undef=True)], undef=True))
        kept = refused = 0
        for body in (e.seq(0x00081110, [inner, e.item(e.el(0x00081150, "UI", "1.2\0"), undef=True)], undef=True),
                     e.seq(0x00081110, [inner, inner])):
            for cut in range(1, len(body)):
                outcomes = set()
                for seed in (cut, cut + 7919):
                    try:
                        out, res = run_writer(head + body[:cut], TSS[tsk], seed=seed)
                    except DatasetError as exc:
                        assert "truncated" in str(exc)
                        outcomes.add("refused")
                    else:
                        assert res.elements_discarded
                        outcomes.add(split_file(out)[1])     # the meta has a new instance UID each time
                assert len(outcomes) == 1, (tsk, cut)
                kept += "refused" not in outcomes
                refused += "refused" in outcomes
            run_writer(head + body, TSS[tsk], seed=1)
        assert kept > 10 and refused > 10
        for tag, vr, value in ((0x00100010, "PN", "Doe^John^^^"), (0x7FE00010, "OW", b"\1" * 300)):
            body, empty = e.el(tag, vr, value), e.el(tag, vr, b"")
            hsize = len(empty)
            assert not run_writer(head + body, TSS[tsk], seed=1)[1].elements_discarded
            for cut in range(1, hsize):         # inside the header: the element is dropped
                out, res = run_writer(head + body[:cut], TSS[tsk], seed=cut)
                assert res.elements_discarded and split_file(out)[1] == split_file(run_writer(head, TSS[tsk])[0])[1]
            out, res = run_writer(head + body[:hsize], TSS[tsk], seed=3)   # no value byte: kept empty
            assert res.elements_discarded and split_file(out)[1] == head + empty
            for cut in range(hsize + 1, len(body)):
                with pytest.raises(DatasetError, match="truncated inside a value"):
                    run_writer(head + body[:cut], TSS[tsk], seed=cut)


def test_malformed_raise():
    e = Enc()
    cls = e.el(0x00080016, "UI", "1.2\0")
    _expect_error(cls + e.tag(0xFFFEE000) + b"\0\0\0\0", match="item tag")
    _expect_error(cls + e.seq(0x00081110, [e.item(e.el(0x00081150, "UI", "1.2"))])[:-5]
                  + e.el(0x00100010, "PN", "ABCDEFGH"), match="overrun")
    # element length overrunning its defined-length item
    item = e.tag(0xFFFEE000) + struct.pack("<I", 10) + e.el(0x00081150, "UI", "1.2.3.4.5.6")
    _expect_error(e.el(0x00081110, "SQ", item) + e.el(0x00100010, "PN", "AB"), match="overrun")
    # defined-length item longer than its sequence
    _expect_error(e.el(0x00081110, "SQ", e.tag(0xFFFEE000) + struct.pack("<I", 100), length=8) + b"\0" * 100,
                  match="overrun")
    # element in a sequence
    _expect_error(e.seq(0x00081110, [e.el(0x00100010, "PN", "AB")]), match="item")
    # undefined-length OB (not pixel data)
    _expect_error(e.el(0x00420011, "OB", b"", length=UNDEF) + e.tag(0xFFFEE0DD) + b"\0\0\0\0", match="undefined")
    # huge length at top level: truncated at finish
    _expect_error(cls + e.el(0x00100010, "OB", b"abc", length=0xFFFFFFF0), match="truncated")
    # encapsulated pixel data in a native syntax, native pixel data in an encapsulated one
    with pytest.raises(OutputError, match="native"):
        run_writer(cls + e.el(0x7FE00010, "OB", e.tag(0xFFFEE000) + b"\0\0\0\0" + e.tag(0xFFFEE0DD) + b"\0\0\0\0",
                              length=UNDEF), EXPLICIT, seed=1)
    _expect_error(cls + e.el(0x7FE00010, "OB", b"\1\2"), "1.2.840.10008.1.2.4.50", match="encapsulated")
    # a pixel sequence without the Basic Offset Table item
    _expect_error(cls + e.el(0x7FE00010, "OB", e.tag(0xFFFEE0DD) + b"\0\0\0\0", length=UNDEF),
                  "1.2.840.10008.1.2.4.50", match="Basic Offset Table")
    # deep nesting
    ds = b"".join(e.el(0x00081110, "SQ", b"", length=UNDEF) + e.tag(0xFFFEE000) + struct.pack("<I", UNDEF)
                  for _ in range(200))
    _expect_error(ds, match="deeply")
    # delimiters in the wrong places (an item delimiter ends the data set, as in storescp)
    _expect_error(e.tag(0xFFFEE0DD) + b"\0\0\0\0")
    _expect_error(e.el(0x00081110, "SQ", e.tag(0xFFFEE0DD) + b"\0\0\0\0"), match="delimiter")


def test_defects_storescp_recovers_from():
    """An unknown VR is kept as UN (2-byte length, as dcmdata reads it); an item
    delimiter in the data set ends it (what follows is dropped); a repeated
    element is dropped -- as storescp; dropping received data is reported."""
    e = Enc()
    cls = e.el(0x00080016, "UI", CT + "\0")
    out, res = run_writer(cls + e.tag(0x00400010) + b"zz\2\0ab", EXPLICIT, seed=1)
    assert split_file(out)[1] == cls + e.tag(0x00400010) + b"UN\0\0" + struct.pack("<I", 2) + b"ab"
    assert not res.elements_discarded
    pn = e.el(0x00100010, "PN", "AB")
    out, res = run_writer(cls + e.tag(0xFFFEE00D) + b"\0\0\0\0" + pn, EXPLICIT, seed=2)
    assert split_file(out)[1] == cls and res.elements_discarded
    out, res = run_writer(cls + e.tag(0xFFFEE00D) + b"\0\0\0\0", EXPLICIT, seed=3)
    assert split_file(out)[1] == cls and not res.elements_discarded
    out, res = run_writer(cls + pn + e.el(0x00100010, "PN", "CD"), EXPLICIT, seed=4)
    assert split_file(out)[1] == cls + pn and res.elements_discarded
    # a zero tag repeated is a repetition too
    zero = b"\0" * 8
    out, res = run_writer(cls + zero + zero, EXPLICIT, seed=5)
    assert split_file(out)[1] == cls + e.tag(0) + b"UL\4\0\0\0\0\0" and res.elements_discarded


#: output options for hostile input: the default and each converting mode
HOSTILE_OUTPUTS = [{}, {"output_transfer_syntax": EXPLICIT}, {"output_transfer_syntax": BIG},
                   {"output_transfer_syntax": IMPLICIT},
                   {"output_transfer_syntax": BIG, "undefined_lengths": True, "group_length": "create",
                    "convert_un": True, "new_vrs": False, "padding": (16, 8)}]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([IMPLICIT, EXPLICIT, BIG, "1.2.840.10008.1.2.4.50"]),
       st.sampled_from(range(len(HOSTILE_OUTPUTS))))
def test_random_bytes_never_crash(blob, ts, out):
    try:
        run_writer(blob, ts, seed=len(blob), **HOSTILE_OUTPUTS[out])
    except (DatasetError, OutputError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_streams_never_crash(data):
    tsk = data.draw(st.sampled_from(["el", "il", "eb"]))
    ds = bytearray(data.draw(st.sampled_from(sorted(crafted_cases(tsk).values()))))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(ds) - 1))
        ds[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(ds)))
    out = HOSTILE_OUTPUTS[data.draw(st.integers(0, len(HOSTILE_OUTPUTS) - 1))]
    try:
        run_writer(bytes(ds[:cut]), TSS[tsk], seed=cut, **out)
    except (DatasetError, OutputError):
        pass


def test_failed_writer_stays_failed():
    fd, path = tempfile.mkstemp()
    try:
        w = W.DatasetWriter(fd, EXPLICIT, calling_ae_title="A", implementation_class_uid="1.2",
                            implementation_version_name="X", command_sop_class_uid="1.2",
                            command_sop_instance_uid="1.3")
        with pytest.raises(DatasetError):
            w.write(b"\xfe\xff\x00\xe0\x00\x00\x00\x00")
        with pytest.raises(DatasetError):
            w.write(b"\x08\x00")
        with pytest.raises(DatasetError):
            w.finish()
    finally:
        os.close(fd)
        os.unlink(path)


# ---------------------------------------------------------------- reuse (restart)
def _written(w, fd, ds):
    """Feed ``ds`` to ``w`` writing to ``fd``; (file meta, data set, result) or
    the DatasetError.  An instance UID the writer made up is masked."""
    try:
        w.write(ds)
        res = w.finish()
    except DatasetError as exc:
        return exc
    meta, body = split_file(os.pread(fd, 1 << 22, 0))
    res = without_instance_uid(res)
    if meta[0x00020003][1].startswith(b"2.25."):
        # made up (a UUID, of varying length): none of VR UI in ds
        del meta[0x00020000], meta[0x00020003]
        res = res.replace(bytes_written=0)
    return meta, body, res


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tsk=st.sampled_from(["el", "il", "eb"]), data=st.data())
def test_restarted_writer_writes_what_a_new_one_writes(tsk, data):
    """A writer restarted after each object it finished writes every next
    object byte for byte as a new writer does, whatever came before (cut,
    mutated, failed data sets included)."""
    cases = crafted_cases(tsk)
    args = dict(calling_ae_title="SENDER", implementation_class_uid="1.2.826.0.1.3680043.10.1",
                implementation_version_name="FASTSCP_TEST")
    reused = None
    restarts = 0
    for n in range(data.draw(st.integers(2, 6))):
        # the first object is a good one, so that the second one restarts its writer
        ds = bytearray(cases["sequences"] if n == 0 else cases[data.draw(st.sampled_from(sorted(cases)))])
        if n and data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(ds) - 1))
            ds[i] = data.draw(st.integers(0, 255))
        ds = bytes(ds[:data.draw(st.integers(0, len(ds)))]) if n and data.draw(st.booleans()) else bytes(ds)
        uids = dict(command_sop_class_uid=CT, command_sop_instance_uid="1.2.3.%d" % n)
        fresh_fd, reused_fd = (os.open(tempfile.gettempdir(), os.O_TMPFILE | os.O_RDWR) for _ in range(2))
        try:
            expected = _written(W.DatasetWriter(fresh_fd, TSS[tsk], **args, **uids), fresh_fd, ds)
            try:
                reused.restart(reused_fd, **uids)
                restarts += 1
            except (AttributeError, RuntimeError):      # none yet, or the last one failed
                reused = W.DatasetWriter(reused_fd, TSS[tsk], **args, **uids)
            got = _written(reused, reused_fd, ds)
        finally:
            os.close(fresh_fd)
            os.close(reused_fd)
        if isinstance(expected, DatasetError):
            assert isinstance(got, DatasetError) and str(got) == str(expected)
        else:
            assert got == expected
    assert restarts >= 1


def test_restart_only_after_a_good_finish():
    fd, path = tempfile.mkstemp()
    try:
        args = dict(calling_ae_title="A", implementation_class_uid="1.2", implementation_version_name="X",
                    command_sop_class_uid="1.2", command_sop_instance_uid="1.3")
        w = W.DatasetWriter(fd, EXPLICIT, **args)
        with pytest.raises(RuntimeError):
            w.restart(fd, "1.2", "1.4")         # still writing
        with pytest.raises(DatasetError):
            w.write(b"\xfe\xff\x00\xe0\x00\x00\x00\x00")
        with pytest.raises(RuntimeError):
            w.restart(fd, "1.2", "1.4")         # failed
        b = W.DatasetWriter(fd, EXPLICIT, bit_preserving=True, **args)
        b.finish()
        with pytest.raises(RuntimeError):
            b.restart(fd, "1.2", "1.4")         # bit-preserving: never
    finally:
        os.close(fd)
        os.unlink(path)


# ---------------------------------------------------------------- bounded memory
def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("ts", [EXPLICIT, IMPLICIT])
def test_memory_bounded_300mb_pixel_data(ts):
    e = Enc(explicit=ts != IMPLICIT)
    size = 300 * 1024 * 1024
    head = (e.el(0x00080016, "UI", CT + "\0") + e.el(0x00080018, "UI", "1.2.3\0")
            + e.seq(0x00081110, [e.item(e.el(0x00081150, "UI", "1.2"), undef=True)], undef=True))
    pix = e.el(0x7FE00010, "OW", b"", length=size)
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        w = W.DatasetWriter(fd, ts, calling_ae_title="A", implementation_class_uid="1.2",
                            implementation_version_name="X", command_sop_class_uid=CT,
                            command_sop_instance_uid="1.2.3")
        w.write(head + pix)
        chunk = bytes(16384)
        big = memoryview(bytes(1 << 20))
        before = _rss_kib()
        sent = 0
        while sent < size:
            if (sent >> 20) % 2:
                w.write(big)
                sent += len(big)
            else:
                for _ in range(64):
                    w.write(chunk)
                sent += 64 * len(chunk)
        res = w.finish()
        after = _rss_kib()
    finally:
        os.close(fd)
    assert res.bytes_written > size
    print(f"RSS before {before} KiB, after {after} KiB")
    assert after - before < 8 * 1024, (before, after)
