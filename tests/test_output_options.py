"""Output format options (issue 5): +B/-B, +F/-F, +g=/+g/-g, +e/-e ...

Differential: Debian's storescp and fastscp run with the same option and
receive the same objects (pydicom's test files sent by DCMTK storescu, and
crafted objects sent byte for byte by pynetdicom); the files must have the
same names and the same bytes (file meta apart from the implementation class
UID and version name).  Then: the writer gives the same bytes however the
input is chunked, and memory stays bounded under every option.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import final_files, run_storescu
from dicomfile import comparable_meta, split_file
from test_differential import _pydicom_test_files, _pynetdicom_send, write_crafted_files
from test_writer import TSS, crafted_cases, run_writer, split_file as split_part10, without_instance_uid
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian



def _read(path, with_meta):
    if with_meta:
        meta, ds = split_file(path)
        return comparable_meta(meta), ds
    return None, Path(path).read_bytes()


#: pydicom's test files CT.1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.* hold a
#: private (0049,xx01) of creator GEMS_CT_CARDIAC_001 that pydicom's private
#: dictionary (fastscp's stand-in for DCMTK's) knows as SQ and DCMTK's does
#: not: received in implicit VR, storescp keeps it as an opaque UN value, fastscp
#: re-encodes it as a sequence.  The default options give the same bytes (the
#: lengths come out equal); -e and +g show the difference (documented deviation).
PRIVATE_SQ_DEVIATION = "CT.1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0."


def _strip_file_padding(ds: bytes) -> bytes:
    """The data set without a trailing top-level (FFFC,FFFC) padding element
    (+p pads the whole file, and fastscp's file meta is longer than storescp's,
    so that element differs by design)."""
    import struct
    for tag, fmt, hdr in ((b"\xfc\xff\xfc\xffOB\0\0", "<I", 12), (b"\xff\xfc\xff\xfcOB\0\0", ">I", 12),
                          (b"\xfc\xff\xfc\xff", "<I", 8)):
        at = ds.rfind(tag)
        while at >= 0:
            if at + hdr <= len(ds):
                n = struct.unpack(fmt, ds[at + hdr - 4:at + hdr])[0]
                if at + hdr + n == len(ds) and not ds[at + hdr:].strip(b"\0"):
                    return ds[:at]
            at = ds.rfind(tag, 0, at)
    return ds


def _compare_dirs(ref_dir, our_dir, with_meta=True, tolerate=(), file_pad=0):
    ref = {p.name: p for p in final_files(ref_dir)}
    ours = {p.name: p for p in final_files(our_dir)}
    assert sorted(ours) == sorted(ref), "different file names"
    mismatches = []
    for name, ref_path in ref.items():
        ref_meta, ref_ds = _read(ref_path, with_meta)
        our_meta, our_ds = _read(ours[name], with_meta)
        if file_pad:
            assert ours[name].stat().st_size % file_pad == 0, name
            ref_ds, our_ds = _strip_file_padding(ref_ds), _strip_file_padding(our_ds)
        if ref_meta != our_meta:
            mismatches.append((name, "meta", ref_meta, our_meta))
        elif ref_ds != our_ds and not name.startswith(tuple(tolerate)):
            at = next((i for i, (a, b) in enumerate(zip(ref_ds, our_ds)) if a != b),
                      min(len(ref_ds), len(our_ds)))
            mismatches.append((name, "dataset", len(ref_ds), len(our_ds), "first difference at", at))
    assert not mismatches, "\n".join(map(str, mismatches))
    return len(ref)


def _dirs(tmp_path):
    ref_dir, our_dir = tmp_path / "dcmtk", tmp_path / "fastscp"
    ref_dir.mkdir()
    our_dir.mkdir()
    return ref_dir, our_dir


#: DCMTK's own dictionary files (Debian's storescp reads them by default)
DCMTK_DICTIONARIES = ":".join(str(p) for p in sorted(Path("/usr/share").glob("libdcmtk*/dicom.dic"))[-1:]
                              + sorted(Path("/usr/share").glob("libdcmtk*/private.dic"))[-1:])


def _send_both(spawn, tmp_path, files, scp_options, scu_options=(), fastscp_env=None):
    ref_dir, our_dir = _dirs(tmp_path)
    for kind, d in (("dcmtk", ref_dir), ("fastscp", our_dir)):
        proc = spawn(kind, d, *scp_options, env=fastscp_env if kind == "fastscp" else None)
        r = run_storescu(proc.port, files, ["-nh", *scu_options])
        proc.stop()
        assert "Association Request Failed" not in r.stderr, (kind, r.stderr)
    return ref_dir, our_dir


def _store_both(spawn, tmp_path, paths, transfer_syntax, options):
    """pynetdicom sends ``paths`` byte for byte to storescp and to fastscp, both
    with ``options``; every status must be 0 and the files equal.  Returns the
    number of files compared."""
    ref_dir, our_dir = _dirs(tmp_path)
    for kind, d in (("dcmtk", ref_dir), ("fastscp", our_dir)):
        proc = spawn(kind, d, *options)
        statuses = _pynetdicom_send(proc.port, paths, transfer_syntax)
        proc.stop()
        assert statuses == [0] * len(paths), (kind, statuses)
    return _compare_dirs(ref_dir, our_dir, with_meta="-F" not in options, file_pad=_file_pad(options))


#: option sets built so far, each compared with storescp
BUILT = [
    ("+B",), ("-F",), ("+B", "-F"), ("-B", "+F"),
    ("-e",), ("+g",), ("-g",), ("+g=", "+e"),
    ("-e", "+g"), ("-e", "-g"), ("-F", "-e", "+g"),
    ("+p", "16", "8"), ("+p", "100", "10"), ("+p", "15", "7"), ("+p", "0", "8"), ("+p", "16", "0"),
    ("+p", "16", "8", "+g"), ("+p", "16", "8", "-e"), ("+p", "64", "6", "-e", "-g"),
    ("+uc",), ("-uc",), ("-u",), ("+u",), ("+uc", "-u"), ("+uc", "-e", "+g"), ("-u", "-e", "-g"),
    ("+B", "-uc"), ("+B", "+uc"),
]


def _file_pad(options):
    """f of +p f i; 0 when there is no file padding (odd f or i: none at all, as storescp)."""
    if "+p" not in options:
        return 0
    f, i = (int(v) for v in options[options.index("+p") + 1:options.index("+p") + 3])
    return 0 if f % 2 or i % 2 else f


#: option sets also tried with implicit VR LE and explicit VR BE proposals
EVERY_SYNTAX = {("+B",), ("-F",), ("-e",), ("+g",), ("-g",), ("+p", "16", "8"), ("+uc", "-u"),
                ("+uc", "-e", "+g"), ("+p", "16", "8", "-e")}
PYDICOM_CASES = [(o, "-xe") for o in BUILT] + [(o, x) for x in ("-xi", "-xb") for o in BUILT if o in EVERY_SYNTAX]


@pytest.mark.parametrize("options,proposal", PYDICOM_CASES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_pydicom_files_sent_by_storescu(spawn, tmp_path, options, proposal):
    files = _pydicom_test_files()
    # implicit VR input: DCMTK's dictionary files, so private VRs are storescp's
    # (test_pydicom_dictionary_deviations: pydicom's)
    env = {"DCMDICTPATH": DCMTK_DICTIONARIES} if proposal == "-xi" else None
    ref_dir, our_dir = _send_both(spawn, tmp_path, files, options, [proposal], fastscp_env=env)
    assert _compare_dirs(ref_dir, our_dir, with_meta="-F" not in options,
                         file_pad=_file_pad(options)) >= 12


CRAFTED_CASES = ([(o, ExplicitVRLittleEndian) for o in BUILT]
                 + [(o, ts) for ts in (ImplicitVRLittleEndian, ExplicitVRBigEndian) for o in BUILT
                    if o in EVERY_SYNTAX])


@pytest.mark.parametrize("options,transfer_syntax", CRAFTED_CASES,
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_crafted_objects_sent_as_stored(spawn, tmp_path, options, transfer_syntax):
    """Undefined-length sequences and items, wrong group lengths, odd values,
    private elements: sent byte for byte (pynetdicom)."""
    paths = write_crafted_files(tmp_path / "src", transfer_syntax)
    assert _store_both(spawn, tmp_path, paths, transfer_syntax, options) == 2


# -- refused combinations (spec 1.3, steps 6-8): storescp's words and exit code ------

REFUSED = [
    ("+B", "+te"), ("+B", "+ti"), ("+B", "+tb"), ("+B", "+td"), ("+te", "+B"),
    ("+B", "-e"), ("+B", "+e"), ("+B", "+g"), ("+B", "-g"), ("+B", "+g="),
    ("+B", "-u"), ("+B", "+u"), ("-F", "+p", "8", "8"), ("+B", "+p", "8", "8"),
    ("+B", "-F", "+p", "4", "4"), ("+B", "-sp"),
    ("+te", "+xa"), ("+tb", "+xs"), ("+ti", "+xv"), ("+td", "+xr"), ("+te", "+xy"), ("+td", "+xw"),
    ("+te", "+cl", "5"), ("+ti", "+cl", "1"), ("+tb", "+cl", "9"),
]


def _error_line(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    return r.returncode, lines


@pytest.mark.parametrize("args", REFUSED, ids=" ".join)
def test_refused_combinations_as_storescp(args):
    ref = _error_line(["/usr/bin/storescp", *args, "11119"])
    ours = _error_line([sys.executable, "-m", "fastscp", *args, "11119"])
    assert ref[0] == 1 and ref[1], ref
    assert ours == ref


# -- the writer alone: chunking never changes the bytes ---------------------------

WRITER_OPTIONS = [
    {}, {"bit_preserving": True}, {"write_file_meta": False},
    {"undefined_lengths": True}, {"group_length": "create"}, {"group_length": "remove"},
    {"undefined_lengths": True, "group_length": "create"},
    {"undefined_lengths": True, "group_length": "remove", "write_file_meta": False},
    {"padding": (16, 8)}, {"padding": (64, 6), "undefined_lengths": True, "group_length": "create"},
    {"convert_un": True}, {"new_vrs": False}, {"convert_un": True, "new_vrs": False, "padding": (32, 4)},
    # +te / +tb / +ti: converted while streaming
    {"output_transfer_syntax": ExplicitVRLittleEndian}, {"output_transfer_syntax": ExplicitVRBigEndian},
    {"output_transfer_syntax": ImplicitVRLittleEndian},
    {"output_transfer_syntax": ExplicitVRBigEndian, "undefined_lengths": True, "group_length": "create"},
    {"output_transfer_syntax": ImplicitVRLittleEndian, "padding": (16, 8), "group_length": "remove"},
    {"output_transfer_syntax": ExplicitVRLittleEndian, "convert_un": True, "new_vrs": False},
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tsk=st.sampled_from(["el", "il", "eb"]), opt=st.sampled_from(range(len(WRITER_OPTIONS))),
       data=st.data())
def test_options_output_independent_of_chunking(tsk, opt, data):
    cases = crafted_cases(tsk)
    if tsk != "il":
        cases["un"] = _un_object(TSS[tsk], 0)
    name = data.draw(st.sampled_from(sorted(cases)))
    ds = cases[name]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ds)), max_size=20)))
    chunks = [b - a for a, b in zip([0] + cuts, cuts)]
    kw = WRITER_OPTIONS[opt]
    whole, res1 = run_writer(ds, TSS[tsk], chunks=[len(ds)], **kw)
    split, res2 = run_writer(ds, TSS[tsk], chunks=chunks, **kw)
    # a missing SOP Instance UID is made up anew each time (meta only)
    assert without_instance_uid(res1) == without_instance_uid(res2)
    if kw.get("write_file_meta", True) and not kw.get("bit_preserving"):
        (m1, d1), (m2, d2) = split_part10(whole), split_part10(split)
        for m in (m1, m2):
            m.pop(0x00020003, None)
            m.pop(0x00020000, None)
        assert (m1, d1) == (m2, d2)
    else:
        assert whole == split


# -- bounded memory under every option ----------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent("""
    import json, os, sys
    sys.path[:0] = [TESTS_DIR]      # fastscp itself: the installed package
    import fastscp._writer as W
    from dicomenc import Enc
    CT = "1.2.840.10008.5.1.4.1.1.2"
    kw, ts = json.loads(sys.argv[1]), sys.argv[2]
    e = Enc(explicit=ts != "1.2.840.10008.1.2", be=ts == "1.2.840.10008.1.2.2")
    def hwm():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    size = 300 * 1024 * 1024
    head = (e.el(0x00080016, "UI", CT + "\\0") + e.el(0x00080018, "UI", "1.2.3\\0")
            + e.seq(0x00081110, [e.item(e.el(0x00081150, "UI", "1.2"), undef=True)], undef=True))
    # a 300 MB value inside a sequence item (lengths patched after it) and at the top level
    inner = 100 * 1024 * 1024
    seq_head = e.el(0x00540016, "SQ", b"", length=0xFFFFFFFF) + e.tag(0xFFFEE000) + b"\\xff\\xff\\xff\\xff"
    seq_tail = e.tag(0xFFFEE00D) + b"\\0\\0\\0\\0" + e.tag(0xFFFEE0DD) + b"\\0\\0\\0\\0"
    fd = os.open(os.devnull, os.O_WRONLY)
    cls = W.DatasetWriter
    if kw.get("output_transfer_syntax") == "1.2.840.10008.1.2.1.99":
        from fastscp.deflate import DeflatedWriter as cls    # +td: temporary file, deflated at the end
    w = cls(fd, ts, calling_ae_title="A", implementation_class_uid="1.2",
            implementation_version_name="X", command_sop_class_uid=CT,
            command_sop_instance_uid="1.2.3", **kw)
    chunk = memoryview(bytes(1 << 20))
    small = memoryview(bytes(16372))
    def feed(n):
        sent = 0
        while sent < n:
            c = chunk if (sent >> 20) % 2 else small
            c = c[:n - sent]
            w.write(c)
            sent += len(c)
    w.write(head + seq_head + e.el(0x00460001, "OF", b"", length=inner))
    base = hwm()
    feed(inner)
    w.write(seq_tail + e.el(0x7FE00010, "OW", b"", length=size))
    feed(size)
    res = w.finish()
    os.close(fd)
    print(json.dumps({"base": base, "peak": hwm(), "written": res.bytes_written,
                      "received": w.bytes_received}))
""")


CONVERTING_WRITER_OPTIONS = [kw for kw in WRITER_OPTIONS if "output_transfer_syntax" in kw]
MEMORY_CASES = ([(kw, "1.2.840.10008.1.2.1") for kw in WRITER_OPTIONS]
                + [(kw, ts) for ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.2")
                   for kw in WRITER_OPTIONS[:1] + WRITER_OPTIONS[3:5] + WRITER_OPTIONS[10:13]
                   + CONVERTING_WRITER_OPTIONS]
                + [({"output_transfer_syntax": "1.2.840.10008.1.2.1.99"}, ts)
                   for ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.2")])


@pytest.mark.parametrize("kw,ts", MEMORY_CASES,
                         ids=lambda v: (",".join("%s=%s" % i for i in v.items()) or "default")
                         if isinstance(v, dict) else v)
def test_memory_bounded_300mb(kw, ts):
    import json
    script = _MEMORY_SCRIPT.replace("TESTS_DIR", repr(str(Path(__file__).resolve().parent)))
    r = subprocess.run([sys.executable, "-c", script, json.dumps(kw), ts],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    print(m)
    assert m["received"] > 400 * 1024 * 1024
    if kw.get("output_transfer_syntax") != "1.2.840.10008.1.2.1.99":   # zeros deflate to little
        assert m["written"] > 400 * 1024 * 1024
    assert m["peak"] <= 64 * 1024, m
    assert m["peak"] - m["base"] < 8 * 1024, m


# -- UN and the newer VRs (+uc/-uc, +u/-u): crafted explicit VR objects ----------------

SC = "1.2.840.10008.5.1.4.1.1.7"


def _un_object(ts, index):
    """Explicit VR data set with defined-length UN elements of known, unknown and
    private tags (one holding an implicit VR sequence) and every newer VR."""
    import struct
    from dicomenc import Enc
    e = Enc(explicit=True, be=ts == ExplicitVRBigEndian)
    imp = Enc(explicit=False)
    seq = imp.tag(0xFFFEE000) + struct.pack("<I", 24) + imp.el(0x00080100, "", "AB  ") + imp.el(0x00080102, "", "DCM ")
    return (e.el(0x00080016, "UI", SC + "\0") + e.el(0x00080018, "UI", "1.2.826.0.1.3680043.2.1143.78.%d\0" % index)
            + e.el(0x00081032, "UN", seq)
            + e.el(0x00100010, "UN", "Doe^John  ") + e.el(0x00100020, "UN", "ID1 ")
            + e.el(0x00100030, "UT", "some text   ") + e.el(0x00100040, "UN", "M ")
            + e.el(0x00181000, "UC", "UCvalue ") + e.el(0x00181030, "UR", "http://x  ")
            + e.el(0x00280010, "UN", b"\x02\x00") + e.el(0x00281011, "UN", b"\x02\x00")
            + e.el(0x00290010, "LO", "SIEMENS CSA HEADER") + e.el(0x00291008, "UN", "IMAGE NUM 4 ")
            + e.el(0x00291009, "UN", "ABCD") + e.el(0x00330010, "UN", "NOBODY KNOWS")
            + e.el(0x00331001, "UN", "xy  ")
            + e.el(0x00460001, "OF", b"\0\0\x80\x3f") + e.el(0x00460002, "OD", b"\0" * 7 + b"\x40")
            + e.el(0x00460003, "OL", b"\1\0\0\0") + e.el(0x00460004, "UN", b"\1\0")
            + e.el(0x00460005, "UT", b"x ") + e.el(0x00460006, "SV", b"\1\0\0\0\0\0\0\0")
            + e.el(0x00460007, "UV", b"\1\0\0\0\0\0\0\2") + e.el(0x00460008, "OV", b"\1\0\0\0\0\0\0\3")
            + e.el(0x00700084, "UN", "Doe^Jane"))


UN_OPTIONS = [(), ("+uc",), ("-u",), ("+uc", "-u"), ("+uc", "-e", "+g"), ("+uc", "+p", "32", "8")]


@pytest.mark.parametrize("options", UN_OPTIONS, ids=lambda o: " ".join(o) or "default")
@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_un_and_new_vrs(spawn, tmp_path, options, transfer_syntax):
    from test_writer import file_meta
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i in range(2):
        p = src / ("un%d.dcm" % i)
        p.write_bytes(file_meta(transfer_syntax, SC, "1.2.826.0.1.3680043.2.1143.78.%d" % i)
                      + _un_object(transfer_syntax, i))
        paths.append(p)
    assert _store_both(spawn, tmp_path, paths, transfer_syntax, options) == 2


# -- deflated explicit VR little endian received: stored deflated (or as received, +B) --

DEFLATED_OPTIONS = [("+B",), ("-F",), ("+B", "-F"), ("-e", "+g"), ("-g", "+p", "32", "8"), ("+uc", "-u"),
                    ("+cl", "0"), ("+cl", "1"), ("+cl", "9", "-F"), ("+B", "+cl", "9")]


@pytest.mark.parametrize("options", DEFLATED_OPTIONS, ids=" ".join)
def test_deflated_objects(spawn, tmp_path, options):
    import pydicom.data
    base = Path(pydicom.data.__file__).parent / "test_files"
    files = [base / "CT_small.dcm", base / "image_dfl.dcm"]
    ref_dir, our_dir = _send_both(spawn, tmp_path, files, ("+xd", *options), ["-xd"])
    with_meta = "-F" not in options
    if with_meta:
        found = {split_file(p)[0][0x0010][1] for p in final_files(our_dir)}
        assert found == {b"1.2.840.10008.1.2.1.99"}
    if "+p" not in options:
        assert _compare_dirs(ref_dir, our_dir, with_meta=with_meta) == len(files)
        return
    # +p pads the whole (uncompressed) file and fastscp's meta is longer: compare
    # the inflated data sets without the file padding
    import zlib
    ref = {p.name: split_file(p) for p in final_files(ref_dir)}
    ours = {p.name: split_file(p) for p in final_files(our_dir)}
    assert sorted(ref) == sorted(ours)
    for name in ref:
        (rm, rd), (om, od) = ref[name], ours[name]
        assert comparable_meta(rm) == comparable_meta(om)
        # the whole file, inflated, is a multiple of the file padding
        size = (our_dir / name).stat().st_size - len(od) + len(zlib.decompress(od, -15))
        assert size % _file_pad(options) == 0, name
        rd, od = (_strip_file_padding(zlib.decompress(d, -15)) for d in (rd, od))
        assert rd == od, name


# -- output transfer syntax (+te/+tb/+ti/+td): converted while streaming ------------

#: pydicom's test files with private elements that pydicom's private dictionary
#: knows and DCMTK's does not (AGFA group 0019, GEMS_HELIOS_01): received in
#: implicit VR and written in explicit VR, fastscp names their VR, storescp UN
PRIVATE_VR_DEVIATIONS = ("CR.1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.",
                         "CT.1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.9")

CONVERTING = [("+te",), ("+tb",), ("+ti",), ("+td",)]
CONVERTING_COMBINED = [("+tb", "-e", "+g"), ("+ti", "-e", "-g"), ("+te", "+p", "16", "8"),
                       ("+tb", "-u"), ("+td", "+cl", "1", "-e"), ("+ti", "+uc"), ("+tb", "+uc", "-F"),
                       ("+td", "-F"), ("+td", "-g", "-u")]
CONVERT_CASES = ([(o, x) for o in CONVERTING for x in ("-xe", "-xi", "-xb")]
                 + [(o, x) for o in CONVERTING_COMBINED for x in ("-xi", "-xb")])


@pytest.mark.parametrize("options,proposal", CONVERT_CASES,
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_converting_pydicom_files(spawn, tmp_path, options, proposal):
    """Implicit VR input needs the dictionary: fastscp reads DCMTK's files
    (DCMDICTPATH) and then writes every file as storescp does."""
    files = _pydicom_test_files()
    env = {"DCMDICTPATH": DCMTK_DICTIONARIES} if proposal == "-xi" else None
    ref_dir, our_dir = _send_both(spawn, tmp_path, files, options, [proposal], fastscp_env=env)
    assert _compare_dirs(ref_dir, our_dir, with_meta="-F" not in options,
                         file_pad=_file_pad(options)) >= 12


@pytest.mark.parametrize("options", [("+te",), ("-e",)], ids=" ".join)
def test_pydicom_dictionary_deviations(spawn, tmp_path, options):
    """Without DCMDICTPATH fastscp uses pydicom's private dictionary, which
    knows private elements DCMTK's does not: only those files differ."""
    files = _pydicom_test_files()
    ref_dir, our_dir = _send_both(spawn, tmp_path, files, options, ["-xi"])
    tolerate = (PRIVATE_SQ_DEVIATION,) + (PRIVATE_VR_DEVIATIONS if "+te" in options else ())
    assert _compare_dirs(ref_dir, our_dir, tolerate=tolerate) >= 12
    ours = {p.name: p.read_bytes() for p in final_files(our_dir)}
    theirs = {p.name: p.read_bytes() for p in final_files(ref_dir)}
    differing = {n for n in ours if split_file(ref_dir / n)[1] != split_file(our_dir / n)[1]}
    assert differing and all(n.startswith(tolerate) for n in differing), sorted(differing)
    assert len(ours) == len(theirs)


CONVERTING_CRAFTED = [(o, ts) for o in CONVERTING + [("+tb", "-e", "+g"), ("+ti", "+p", "16", "8"), ("+te", "-u")]
                      for ts in (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian)]


@pytest.mark.parametrize("options,transfer_syntax", CONVERTING_CRAFTED,
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_converting_crafted_objects(spawn, tmp_path, options, transfer_syntax):
    """Undefined lengths, wrong group lengths, odd values, private elements,
    converted to each output syntax from each input syntax."""
    test_crafted_objects_sent_as_stored(spawn, tmp_path, options, transfer_syntax)


@pytest.mark.parametrize("options", [("+te",), ("+tb",), ("+ti",), ("+td",), ("+td", "+cl", "0")], ids=" ".join)
@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_converting_un_and_new_vrs(spawn, tmp_path, options, transfer_syntax):
    """Every newer VR, UN of known/unknown/private tags: byte order and VR
    letters of the output syntax."""
    test_un_and_new_vrs(spawn, tmp_path, options, transfer_syntax)


@pytest.mark.parametrize("options", [("+te",), ("+tb",), ("+ti",), ("+te", "-e", "+g"), ("+td",), ("+td", "+cl", "3")],
                         ids=" ".join)
def test_deflated_objects_converted(spawn, tmp_path, options):
    """Received deflated, stored in another syntax (inflated as they arrive)."""
    import pydicom.data
    base = Path(pydicom.data.__file__).parent / "test_files"
    files = [base / "CT_small.dcm", base / "image_dfl.dcm"]
    ref_dir, our_dir = _send_both(spawn, tmp_path, files, ("+xd", *options), ["-xd"])
    assert _compare_dirs(ref_dir, our_dir) == len(files)


def _compressed_files():
    import pydicom.data
    base = Path(pydicom.data.__file__).parent / "test_files"
    return [base / "JPEG2000.dcm", base / "MR_small.dcm", base / "JPEG2000.dcm", base / "SC_rgb_rle.dcm"]


@pytest.mark.parametrize("options", [("+te",), ("+tb",), ("+ti",), ("+td",)], ids=" ".join)
def test_encapsulated_objects_cannot_be_converted(spawn, tmp_path, options):
    """Compressed objects (accepted through a profile) with an uncompressed
    output syntax: storescp answers 0xA700 and stores nothing; the
    association goes on (the next object is stored)."""
    files = _compressed_files()
    results = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, *options, "-xf", "/etc/dcmtk/storescp.cfg", "Default")
        results[kind] = _pynetdicom_send(proc.port, files)
        proc.stop()
    assert results["fastscp"] == results["dcmtk"] == [0xA700, 0, 0xA700, 0xA700]
    assert _compare_dirs(tmp_path / "dcmtk", tmp_path / "fastscp") == 1
    assert not [p for p in (tmp_path / "fastscp").iterdir() if not p.name.startswith("MR.")]


def test_ignore_never_converts(spawn, tmp_path):
    """--ignore: nothing is written, so nothing fails to convert (storescp: status 0)."""
    files = _compressed_files()
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, "+te", "--ignore", "-xf", "/etc/dcmtk/storescp.cfg", "Default")
        assert _pynetdicom_send(proc.port, files) == [0, 0, 0, 0], kind
        proc.stop()
        assert not list(out.iterdir())


@pytest.mark.parametrize("options", [("+tb",), ("+te",), ("+ti",)], ids=" ".join)
@pytest.mark.parametrize("transfer_syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_odd_binary_values_converted(spawn, tmp_path, options, transfer_syntax):
    """Odd-length binary values change byte order as storescp changes them:
    padded with NUL first, then swapped unit by unit (the pad byte completes
    the last unit when it can); US/SS by PixelRepresentation in implicit VR."""
    from dicomenc import Enc
    from test_writer import file_meta
    e = Enc(explicit=transfer_syntax != ImplicitVRLittleEndian, be=transfer_syntax == ExplicitVRBigEndian)
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i, pixel_rep in enumerate((b"\x00\x01" if e.be else b"\x01\x00", b"\x00\x00")):
        inst = "1.2.826.0.1.3680043.2.1143.79.%d" % i
        ds = (e.el(0x00080016, "UI", SC + "\0") + e.el(0x00080018, "UI", inst + "\0")
              + e.el(0x00181310, "US", b"\x01\x02\x03\x04\x05")
              + e.el(0x00189219, "FD", b"\x01\x02\x03\x04\x05\x06\x07")
              + e.el(0x00209057, "UL", b"\x01\x02\x03")
              + e.el(0x00280010, "US", b"\x01\x00\x02") + e.el(0x00280011, "US", b"\x03\x04")
              + e.el(0x00280103, "US", pixel_rep) + e.el(0x00280106, "US", b"\xfe\xff")
              + e.el(0x00280120, "US", b"\x10\x80") + e.el(0x00281050, "DS", "40 ")
              + e.el(0x00540081, "US", b"\x02\x00") + e.el(0x60000010, "US", b"\x01")
              + e.el(0x60003000, "OW", b"\x01\x02\x03\x04"))
        p = src / ("odd%d.dcm" % i)
        p.write_bytes(file_meta(transfer_syntax, SC, inst) + ds)
        paths.append(p)
    assert _store_both(spawn, tmp_path, paths, transfer_syntax, options) == 2


def test_library_converts_and_reports_syntaxes(make_server, tmp_path):
    """ServerConfig(write_transfer_syntax=...): the embedded server converts;
    on_stored reports the received and the stored syntax; the file says the
    stored one."""
    import pydicom
    import pydicom.data
    base = Path(pydicom.data.__file__).parent / "test_files"
    srv = make_server(write_transfer_syntax=ExplicitVRBigEndian)
    r = run_storescu(srv.port, [base / "CT_small.dcm", base / "MR_small.dcm"], ["-xi"])
    assert r.returncode == 0, r.stderr
    assert len(srv.stored) == 2
    for obj in srv.stored:
        assert (obj.transfer_syntax, obj.stored_transfer_syntax) == (ImplicitVRLittleEndian, ExplicitVRBigEndian)
        ds = pydicom.dcmread(obj.path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
        name = "CT_small.dcm" if Path(obj.path).name.startswith("CT") else "MR_small.dcm"
        original = pydicom.dcmread(base / name)
        # the values survive the byte swap (pydicom reads both byte orders)
        assert (ds.Rows, ds.Columns, ds.PixelRepresentation) == (
            original.Rows, original.Columns, original.PixelRepresentation)
        from array import array
        words = array("H", original.PixelData)      # 16-bit pixels, little endian
        words.byteswap()
        assert ds.PixelData == words.tobytes()


@pytest.mark.parametrize("config", [{"write_transfer_syntax": "1.2.840.10008.1.2.4.50"},
                                    {"write_transfer_syntax": "1.2.3"},
                                    {"write_transfer_syntax": ExplicitVRLittleEndian, "bit_preserving": True}])
def test_library_rejects_output_it_cannot_write(tmp_path, config):
    """A compressed or unknown output syntax (no codecs), or one with +B:
    ConfigError when the server is made, not a failure at the first C-STORE."""
    from fastscp import Server, ServerConfig
    from fastscp.errors import ConfigError
    with pytest.raises(ConfigError):
        Server(ServerConfig(port=0, host="127.0.0.1", output_directory=str(tmp_path), **config))


def test_writer_rejects_output_it_cannot_write():
    import os
    from fastscp._writer import DatasetWriter
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        with pytest.raises(ValueError, match="cannot write transfer syntax"):
            DatasetWriter(fd, ExplicitVRLittleEndian, output_transfer_syntax="1.2.840.10008.1.2.4.50",
                          calling_ae_title="A", implementation_class_uid="1.2", implementation_version_name="X",
                          command_sop_class_uid=SC, command_sop_instance_uid="1.2.3")
    finally:
        os.close(fd)


def test_compressed_syntax_without_pixel_data_or_nested(spawn, tmp_path):
    """A compressed transfer syntax is no obstacle to +te by itself: an object
    without pixel data is stored converted; encapsulated pixel data nested in
    an icon image item fails with 0xA700 like top-level pixel data (storescp:
    the same statuses and files)."""
    import struct
    from dicomenc import Enc
    from test_writer import file_meta
    jpeg = "1.2.840.10008.1.2.4.50"
    e = Enc(explicit=True)
    frags = (e.tag(0xFFFEE000) + struct.pack("<I", 0) + e.tag(0xFFFEE000) + struct.pack("<I", 4)
             + b"\xff\xd8\xff\xd9")
    pixels = (e.tag(0x7FE00010) + b"OB\0\0\xff\xff\xff\xff" + frags + e.tag(0xFFFEE0DD) + b"\0\0\0\0")
    icon = e.seq(0x00880200, [e.item(e.el(0x00280002, "US", b"\x01\x00")
                                     + e.el(0x00280004, "CS", "MONOCHROME2 ") + pixels)])
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i, rest in enumerate((b"", icon, e.el(0x00100010, "PN", "Doe^Jane"))):
        inst = "1.2.826.0.1.3680043.2.1143.80.%d" % i
        p = src / ("c%d.dcm" % i)
        p.write_bytes(file_meta(jpeg, SC, inst) + e.el(0x00080016, "UI", SC + "\0")
                      + e.el(0x00080018, "UI", inst + "\0") + rest)
        paths.append(p)
    results = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, "+te", "-xf", "/etc/dcmtk/storescp.cfg", "Default")
        results[kind] = _pynetdicom_send(proc.port, paths)
        proc.stop()
    assert results["fastscp"] == results["dcmtk"] == [0, 0xA700, 0]
    assert _compare_dirs(tmp_path / "dcmtk", tmp_path / "fastscp") == 2
