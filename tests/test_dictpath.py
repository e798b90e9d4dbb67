"""DCMDICTPATH: DCMTK's data dictionary files extend the writer's dictionary.

Parser units (fastscp.dictfile), merging into the writer's tables
(fastscp._dictionary), the compiled writer in a process started with the
variable set, and a differential test against Debian's storescp with the same
dictionary file."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import ImplicitVRLittleEndian

from dicomenc import Enc
from dicomfile import split_file
from test_differential import _compare_dirs, _pynetdicom_send

from fastscp import _dictionary, dictfile, dictpath
from fastscp.dictfile import PARITY_ANY, PARITY_EVEN, PARITY_ODD, fastscp_vr, parse_lines

DCMTK_DICTS = sorted(glob.glob("/usr/share/libdcmtk*/dicom.dic"))


def entries(*lines):
    found, problems = parse_lines(list(lines), "t.dic")
    assert not problems, problems
    return found


def one(line):
    (entry,) = entries(line)
    return entry


# -- parser -------------------------------------------------------------------------

def test_public_line():
    e = one("(0010,0010)\tPN\tPatientName\t1\tdicom")
    assert (e.group, e.group_hi, e.element, e.element_hi, e.creator, e.vr) == (0x10, 0x10, 0x10, 0x10, None, "PN")
    assert not e.is_range
    assert e.source == "t.dic, line 1"


def test_comments_blank_lines_and_line_ends():
    found, problems = parse_lines(["# comment", "", "   ", "\t# indented comment", " \t ",
                                   "(0010,0020)\tLO\tPatientID\t1\tdicom\r",     # CRLF file
                                   "(0010,0030)\tDA\tBirthDate\t1\tdicom   ",    # trailing blanks
                                   "(0010,0040)\tCS\tSex"],                     # 3 fields suffice
                                  "t.dic")
    assert not problems
    assert [(e.element, e.vr, e.source) for e in found] == [
        (0x20, "LO", "t.dic, line 6"), (0x30, "DA", "t.dic, line 7"), (0x40, "CS", "t.dic, line 8")]


@pytest.mark.parametrize("tag,expected", [
    ("(6000-60FF,3000)", (0x6000, 0x60FF, PARITY_EVEN, 0x3000, 0x3000, PARITY_ANY)),   # "-": even numbers
    ("(6001-o-60FF,0010)", (0x6001, 0x60FF, PARITY_ODD, 0x10, 0x10, PARITY_ANY)),
    ("(6000-O-60FF,0010)", (0x6000, 0x60FF, PARITY_ODD, 0x10, 0x10, PARITY_ANY)),
    ("(0000-u-FFFF,0000)", (0, 0xFFFF, PARITY_ANY, 0, 0, PARITY_ANY)),
    ("(6000-e-60FF,0010)", (0x6000, 0x60FF, PARITY_EVEN, 0x10, 0x10, PARITY_ANY)),
    ("(0020,3100-31FF)", (0x20, 0x20, PARITY_ANY, 0x3100, 0x31FF, PARITY_EVEN)),
    ("(0009-o-FFFF,0010-u-00FF)", (9, 0xFFFF, PARITY_ODD, 0x10, 0xFF, PARITY_ANY)),
    ("(6000 - 6002 , 2000)", (0x6000, 0x6002, PARITY_EVEN, 0x2000, 0x2000, PARITY_ANY)),  # blanks ignored
    ("(0x0010,0x2000)", (0x10, 0x10, PARITY_ANY, 0x2000, 0x2000, PARITY_ANY)),            # C's %x
    ("(0010,2000,10)", (0x10, 0x10, PARITY_ANY, 0x2000, 0x2000, PARITY_ANY)),             # rest ignored
    ("(7fe0,0010)", (0x7FE0, 0x7FE0, PARITY_ANY, 0x10, 0x10, PARITY_ANY)),
])
def test_tag_forms(tag, expected):
    e = one(tag + "\tUN\tName\t1\tx")
    assert e[:6] == expected


@pytest.mark.parametrize("tag,creator,expected", [
    ('(0029,"SIEMENS CSA HEADER",08)', b"SIEMENS CSA HEADER", (0x29, 0x29, PARITY_ANY, 8, 8, PARITY_ANY)),
    ('(0029,"SIEMENS CSA HEADER",1008)', b"SIEMENS CSA HEADER", (0x29, 0x29, PARITY_ANY, 0x1008, 0x1008, PARITY_ANY)),
    ('(7001-o-70ff,"DLX_ANNOT_01",04)', b"DLX_ANNOT_01", (0x7001, 0x70FF, PARITY_ODD, 4, 4, PARITY_ANY)),
    ('(0009,"FASTSCP TEST",10-1F)', b"FASTSCP TEST", (9, 9, PARITY_ANY, 0x10, 0x1F, PARITY_EVEN)),
    ('( 0009 , "A,B) C" , 60 )', b"A,B) C", (9, 9, PARITY_ANY, 0x60, 0x60, PARITY_ANY)),
    ('(0009,"M\xfcller",10)', b"M\xfcller", (9, 9, PARITY_ANY, 0x10, 0x10, PARITY_ANY)),  # latin-1 bytes
    ('(0009,"",10)', None, (9, 9, PARITY_ANY, 0x10, 0x10, PARITY_ANY)),               # DCMTK: public
])
def test_private_tag_forms(tag, creator, expected):
    e = one(tag + "\tIS\tName\t1\tPrivateTag")
    assert e.creator == creator
    assert e[:6] == expected


@pytest.mark.parametrize("field,parsed,used", [
    ("xs", "xs", "US"), ("lt", "lt", "OW"), ("ox", "ox", "OB"), ("px", "px", "OW"),
    ("up", "up", "UL"), ("na", "na", "UN"), ("??", "??", "UN"), ("ui", "??", "UN"),
    ("", "??", "UN"), ("UNKNOWN", "UN", "UN"), (" UI ", "UI", "UI"), ("UIX", "UI", "UI"),
    ("SQ", "SQ", "SQ"), ("OV", "OV", "OV"),
])
def test_vr_field(field, parsed, used):
    """DCMTK reads the first two characters; internal names map like pydicom's
    alternatives; unknown names it accepts are UN."""
    e = one("(0010,2000)\t%s\tName\t1\tx" % field)
    assert e.vr == parsed
    assert fastscp_vr(e.vr) == used


@pytest.mark.parametrize("vm", ["1", "16", "256", "1-n", "2-2n", "1-3", "3-3n", "n", "2n", "1-N", " 1 - n "])
def test_vm_accepted(vm):
    assert one("(0010,2000)\tUI\tName\t%s\tx" % vm).vr == "UI"


@pytest.mark.parametrize("line,reason", [
    ("(0010,2000)  UI  SpaceSeparated  1  x", "too few fields (1;"),
    ("(0010,2000)\tUI", "too few fields (2;"),
    ("(0010,2000)\tUI\t", "too few fields (2;"),                   # trailing tab is trailing blank
    ("\t(0010,2000)\tUI\tName\t1\tx", "too many fields (6;"),      # a leading tab is a field
    ("(0010,2000)\t\tUI\tName\t1\tx", "too many fields (6;"),
    ("(0010,2000\tUI\tName\t1\tx", "bad Tag field: (0010,2000 "),
    ("(0010,2000)junk\tUI\tName\t1\tx", "bad Tag field: (0010,2000)junk "),
    ("(zz10,2000)\tUI\tName\t1\tx", "bad Tag field: (zz10,2000) "),
    ("(0010;2000)\tUI\tName\t1\tx", "bad Tag field: (0010;2000) "),
    ('(0009,"A"B",10)\tUI\tName\t1\tx', 'bad Tag field: (0009,"A"B",10) '),
    ('(0009 "C" 10)\tUI\tName\t1\tx', 'bad Tag field: (0009 "C" 10) '),
    ("(6000-x-60FF,0010)\tUI\tName\t1\tx", "unknown range restrictor 'x' in Tag field: (6000-x-60FF,0010) "),
    ("(0010,2000)\tQQ\tName\t1\tx", "bad VR field: QQ "),
    ("(0010,2000)\tUI\tName\tabc\tx", "bad VM field: abc "),
    ("(0010,2000)\tUI\tName\t1-\tx", "bad VM field: 1- "),
    ("(0010,2000)\tUI\tName\t1x\tx", "bad VM field: 1x "),
    ("(0010,2000)\tUI\tName\t\tx", "bad VM field:  "),
])
def test_bad_lines_are_reported_and_skipped(line, reason):
    found, problems = parse_lines(["(0010,1000)\tUI\tBefore\t1\tx", line, "(0010,1002)\tUI\tAfter\t1\tx"],
                                  "my.dic")
    assert [e.element for e in found] == [0x1000, 0x1002]
    assert len(problems) == 1
    assert problems[0].startswith("my.dic, line 2: %s" % reason), problems
    assert problems[0].endswith("(entry ignored)")


def test_unreadable_files(tmp_path):
    for path in (tmp_path / "missing.dic", tmp_path):
        found, problems = dictfile.read_file(str(path))
        assert found == []
        assert problems == ["cannot read dictionary file %s: %s (file ignored)"
                            % (path, "No such file or directory" if path != tmp_path else "Is a directory")]


def test_read_file_bytes(tmp_path):
    p = tmp_path / "x.dic"
    p.write_bytes(b'# \xe9\r\n(0009,"M\xfcller",10)\tDS\tName\t1\tx\r\n(0010,2000)\tUI\tName')  # no final newline
    found, problems = dictfile.read_file(str(p))
    assert not problems
    assert [(e.creator, e.vr) for e in found] == [(b"M\xfcller", "DS"), (None, "UI")]


@pytest.mark.parametrize("value,paths", [
    (None, []), ("", []), ("a.dic", ["a.dic"]), ("::a.dic::b.dic:", ["a.dic", "b.dic"]),
])
def test_paths_from_env(value, paths):
    assert dictfile.paths_from_env(value) == paths


@pytest.mark.skipif(not DCMTK_DICTS, reason="DCMTK's dictionary files not installed")
def test_dcmtk_files_parse_cleanly():
    folder = Path(DCMTK_DICTS[0]).parent
    for name in ("dicom.dic", "private.dic"):
        found, problems = dictfile.read_file(str(folder / name))
        lines = [line for line in (folder / name).read_text("latin-1").splitlines()
                 if line.strip() and not line.startswith("#")]
        assert not problems
        assert len(found) == len(lines) > 1000


# -- merging into the writer's tables -------------------------------------------------

@pytest.fixture
def tables(tmp_path, monkeypatch):
    """tables(*file_texts) -> problems: rebuild the tables from DCMDICTPATH files
    with these contents (swapped in for the test only)."""
    def build(*texts):
        paths = []
        for i, text in enumerate(texts):
            if text is None:
                paths.append(str(tmp_path / ("missing%d.dic" % i)))
                continue
            p = tmp_path / ("f%d.dic" % i)
            p.write_text(text, encoding="latin-1")
            paths.append(str(p))
        built = _dictionary._build(os.pathsep.join(paths))
        names = ("TAGS", "CODES", "REPEATERS", "PRIVATE_CREATORS", "PRIVATE_KEYS", "PRIVATE_CODES")
        for name, value in zip(names, built):
            monkeypatch.setattr(_dictionary, name, value)
        assert built[6] == tuple(paths)
        return built[7]
    return build


vr = _dictionary.lookup_vr
pvr = _dictionary.lookup_private_vr


def dic(*lines):
    return "".join(line + "\n" for line in lines)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.sampled_from([PARITY_ANY, PARITY_EVEN, PARITY_ODD]),
       st.lists(st.integers(0, 0xFFFF), max_size=50))
def test_range_masks_match_exactly_the_range(lo, hi, parity, probes):
    """A range becomes (mask, value) pairs for the writer's repeater table."""
    blocks = dictpath._blocks(lo, hi, parity)
    covered = set(dictpath._numbers(lo, hi, parity))
    assert len(blocks) <= 32
    for v in probes + [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, 0, 0xFFFF]:
        if 0 <= v <= 0xFFFF:
            assert any(v & m == val for m, val in blocks) == (v in covered), hex(v)


def test_without_files_pydicom_alone(tables):
    assert tables() == ()
    assert (vr(0x00100020), vr(0x01020010), pvr(b"FASTSCP TEST", 0x00091001)) == ("LO", "UN", "UN")
    assert len(_dictionary.TAGS) > 4000


def test_public_entries_override_and_extend(tables):
    assert vr(0x00100020) == "LO" and vr(0x01020010) == "UN" and vr(0x01020012) == "UN"
    assert tables(dic("(0010,0020)\tUI\tRedefinedPatientID\t1\tmine",
                      "(0102,0010)\tIS\tNewTag\t1\tmine",
                      "(0102,0012)\txs\tNewXS\t1\tmine",
                      "(0102,0014)\tox\tNewOX\t1\tmine")) == ()
    assert [vr(t) for t in (0x00100020, 0x01020010, 0x01020012, 0x01020014)] == ["UI", "IS", "US", "OB"]
    assert vr(0x00100010) == "PN"        # the rest of pydicom's dictionary is kept


def test_later_lines_and_files_win(tables):
    tables(dic("(0102,0010)\tIS\tA", "(0102,0010)\tDS\tB", "(0102,0020)\tIS\tC"),
           dic("(0102,0020)\tUI\tD"))
    assert (vr(0x01020010), vr(0x01020020)) == ("DS", "UI")


def test_ox_is_ob_except_pydicoms_ob_or_ow(tables):
    assert (vr(0x00143050), vr(0x60023000), vr(0x01020014)) == ("OW", "OW", "UN")
    tables(dic("(0014,3050)\tox\tDarkCurrentCounts", "(6000-60FF,3000)\tox\tOverlayData",
               "(0102,0014)\tox\tNew", '(0009,"FASTSCP TEST",02)\tox\tPrivate'))
    assert (vr(0x00143050), vr(0x60023000), vr(0x01020014)) == ("OW", "OW", "OB")
    assert pvr(b"FASTSCP TEST", 0x00091002) == "OB"


def test_ranges(tables):
    tables(dic("(6000-60FF,0022)\tUN\tNotOverlayDescription",   # pydicom: 60xx0022 LO
               "(0102,1000-10FF)\tDS\tEvenElementsOnly",
               "(0104-u-0107,0010)\tIS\tEveryGroup",
               "(0010,0010-u-0011)\tUI\tCoversAnExactTag"))
    assert [vr(t) for t in (0x60000022, 0x60020022, 0x60FE0022)] == ["UN"] * 3
    assert vr(0x60000010) == "US"        # pydicom's other overlay entries stay
    assert (vr(0x01021002), vr(0x01021003), vr(0x010210FE), vr(0x01021100)) == ("DS", "UN", "DS", "UN")
    assert (vr(0x01040010), vr(0x01060010), vr(0x01080010)) == ("IS", "IS", "UN")
    # DCMTK finds an exact tag before any range: pydicom's exact entry stays
    assert (vr(0x00100010), vr(0x00100011)) == ("PN", "UI")


def test_exact_beats_range_of_a_later_file(tables):
    tables(dic("(0102,2000)\tDS\tExact"), dic("(0102,2000-u-2001)\tIS\tRange"))
    assert (vr(0x01022000), vr(0x01022001)) == ("DS", "IS")


@pytest.mark.parametrize("order", [0, 1])
def test_narrower_range_wins(tables, order):
    wide, narrow = "(6000-60FF,2000)\tUI\tWide", "(6000-600F,2000)\tDS\tNarrow"
    tables(*[dic(wide), dic(narrow)][::1 if order == 0 else -1])
    assert (vr(0x60002000), vr(0x600E2000), vr(0x60202000)) == ("DS", "DS", "UI")


def test_private_entries(tables):
    c = b"FASTSCP TEST"
    assert c not in _dictionary.PRIVATE_CREATORS
    tables(dic('(0009,"FASTSCP TEST",01)\tIS\tTestIS\t1\tPrivateTag',
               '(0009,"FASTSCP TEST",1002)\tDS\tTestDS\t1\tPrivateTag',
               '(0009,"FASTSCP TEST",02)\tUI\tTestUIAnyBlock\t1\tPrivateTag',
               '(0009,"FASTSCP TEST",0104)\tUI\tNeverMatches\t1\tPrivateTag',
               '(0011-o-0013,"FASTSCP TEST",40)\tCS\tTwoGroups\t1\tPrivateTag',
               '(6001-o-60FF,"FASTSCP TEST",10-1F)\tLT\tWholeBlock\t1\tPrivateTag'))
    assert c in _dictionary.PRIVATE_CREATORS
    assert (pvr(c, 0x00091001), pvr(c, 0x00091101), pvr(c, 0x0009FF01)) == ("IS",) * 3   # any block
    assert (pvr(c, 0x00091002), pvr(c, 0x00091102)) == ("DS", "UI")   # (gggg,"C",eeee) first
    assert pvr(c, 0x00091004) == "UN"
    assert (pvr(c, 0x00111040), pvr(c, 0x00131040), pvr(c, 0x00151040)) == ("CS", "CS", "UN")
    assert (pvr(c, 0x60011010), pvr(c, 0x60FF2012), pvr(c, 0x60011011), pvr(c, 0x61011010)) == (
        "LT", "LT", "UN", "UN")
    assert pvr(b"FASTSCP TEST2", 0x00091001) == "UN"


def test_private_entries_override_pydicom(tables):
    creator = b"SIEMENS CSA HEADER"
    before = pvr(creator, 0x00291008)
    assert before not in ("UN", "DS")
    tables(dic('(0029,"SIEMENS CSA HEADER",08)\tDS\tMine\t1\tPrivateTag'))
    assert pvr(creator, 0x00291008) == pvr(creator, 0x00291108) == "DS"
    # a range (group range, whole blocks) overrides pydicom's entry as well
    tables(dic('(0001-o-00FF,"SIEMENS CSA HEADER",08)\tUI\tMine\t1\tPrivateTag'))
    assert pvr(creator, 0x00291008) == "UI"


def test_unusable_entries(tables):
    problems = tables(dic("(0009-o-FFFF,0000)\tUL\tPrivateGroupLength",         # the writer's rule
                          "(0009-o-FFFF,0010-u-00FF)\tLO\tPrivateCreator",      # the writer's rule
                          "(0019,1010)\tDS\tNoCreator",
                          "(0010,0000)\tUS\tGroupLength",
                          '(0010,"EVEN GROUP",10)\tDS\tNeverMatches'))
    assert [Path(p).name.split(": ", 1) for p in problems] == [
        ["f0.dic, line 3", "private group without a private creator: fastscp looks up private "
                           "elements by their creator only (entry ignored)"],
        ["f0.dic, line 4", "a group length is always UL (entry ignored)"]]
    assert vr(0x00100000) == "UL"
    assert b"EVEN GROUP" not in _dictionary.PRIVATE_CREATORS


def test_problems_do_not_stop_the_rest(tables):
    problems = tables(None, dic("(0102,0010)\tQQ\tBad", "(0102,0012)\tIS\tGood"), "", dic("(0102,0014)\tDS\tX"))
    assert len(problems) == 2
    assert problems[0].startswith("cannot read dictionary file ") and "missing0.dic" in problems[0]
    assert problems[1].endswith("f1.dic, line 1: bad VR field: QQ (entry ignored)")
    assert (vr(0x01020010), vr(0x01020012), vr(0x01020014)) == ("UN", "IS", "DS")


def test_unexpected_failure_falls_back_to_pydicom(tmp_path, monkeypatch):
    (tmp_path / "f.dic").write_text(dic("(0102,0010)\tIS\tNew"))

    def broken(self, entries):
        raise RuntimeError("boom")
    monkeypatch.setattr(dictpath._Tables, "merge", broken)
    built = _dictionary._load(str(tmp_path / "f.dic"))
    assert built[:6] == _dictionary._build(None)[:6]
    assert built[6:] == ((str(tmp_path / "f.dic"),),
                         ("cannot use the files (RuntimeError: boom); pydicom's dictionary alone is used",))


def test_repeater_table_limit(tables):
    lines = ["(%04X-%04X,0010)\tIS\tR%d" % (0x2000 + 4 * i, 0x2002 + 4 * i, i) for i in range(300)]
    problems = tables(dic(*lines))
    assert len(_dictionary.REPEATERS) == _dictionary.MAX_REPEATERS
    assert problems and all("more than 256 ranges in all (entry ignored)" in p for p in problems)
    first_refused = int(problems[0].split("line ")[1].split(":")[0]) - 1
    assert vr(((0x2000 + 4 * (first_refused - 1)) << 16) | 0x10) == "IS"
    assert vr(((0x2000 + 4 * first_refused) << 16) | 0x10) == "UN"


@pytest.mark.skipif(not DCMTK_DICTS, reason="DCMTK's dictionary files not installed")
def test_dcmtk_dictionary_as_dcmdictpath(tables):
    """With DCMTK's own files every entry of a single tag gives the VR of its last line."""
    folder = Path(DCMTK_DICTS[0]).parent
    public, exact, flexible = {}, {}, {}
    for name in ("dicom.dic", "private.dic"):
        for e in dictfile.read_file(str(folder / name))[0]:
            private_group = e.group & 1 == 1
            if e.is_range or e.element == 0 or private_group != (e.creator is not None):
                continue  # ranges, group lengths, entries the writer cannot use
            if e.creator is None:
                public[(e.group << 16) | e.element] = e.vr
            elif e.element >= 0x1000:
                exact[(e.creator, (e.group << 16) | e.element)] = fastscp_vr(e.vr)
            elif e.element <= 0xFF:
                flexible[(e.creator, (e.group << 16) | 0x1000 | e.element)] = fastscp_vr(e.vr)
    assert len(public) > 4000 and len(flexible) > 2000
    # ox (dcmdata: OB) stays OW where pydicom has OB or OW: the writer's per-tag rules
    ox_ow = {t for t, name in public.items() if name == "ox" and vr(t) == "OW"}
    assert {0x00143050, 0x54001010} <= ox_ow
    public = {t: "OW" if t in ox_ow else fastscp_vr(name) for t, name in public.items()}
    assert tables((folder / "dicom.dic").read_text("latin-1"), (folder / "private.dic").read_text("latin-1")) == ()
    assert {t: vr(t) for t in public} == public
    expected = {**flexible, **exact}     # (gggg,"C",eeee) is found before (gggg,"C",ee)
    assert {k: pvr(*k) for k in expected} == expected


# -- the compiled writer, in a process started with DCMDICTPATH -----------------------

def _writer_vrs(env_value, tags):
    code = textwrap.dedent("""
        import sys
        import fastscp._writer as w
        from fastscp._dictionary import log_dictpath_problems
        print(" ".join(w._vr_for_tag(int(t, 16)) for t in sys.argv[1:]))
        log_dictpath_problems()
    """)
    env = dict(os.environ)
    env.pop("DCMDICTPATH", None)
    if env_value is not None:
        env["DCMDICTPATH"] = env_value
    r = subprocess.run([sys.executable, "-c", code, *("%08X" % t for t in tags)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split(), r.stderr


def test_writer_uses_dcmdictpath(tmp_path):
    extra = tmp_path / "extra.dic"
    extra.write_text(dic("(0010,0020)\tUI\tRedefinedPatientID\t1\tmine",
                         "(0102,0010)\tIS\tNewTag\t1\tmine",
                         "(6000-60FF,0022)\tUN\tNotOverlayDescription\t1\tmine",
                         "(0102,0012)\tQQ\tBadVR\t1\tmine"))
    tags = (0x00100020, 0x01020010, 0x60020022, 0x00100010, 0x01020012)
    assert _writer_vrs(None, tags) == (["LO", "UN", "LO", "PN", "UN"], "")
    missing = tmp_path / "missing.dic"
    vrs, stderr = _writer_vrs(":%s::%s:" % (missing, extra), tags)
    assert vrs == ["UI", "IS", "UN", "PN", "UN"]
    assert stderr.splitlines() == [
        "DCMDICTPATH: cannot read dictionary file %s: No such file or directory (file ignored)" % missing,
        "DCMDICTPATH: %s, line 4: bad VR field: QQ (entry ignored)" % extra]
    # the command line logs them as storescp-style warnings once logging is set up
    env = dict(os.environ, DCMDICTPATH=str(missing))
    r = subprocess.run([sys.executable, "-m", "fastscp", "-od", str(tmp_path / "nowhere"), "11118"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "W: DCMDICTPATH: cannot read dictionary file %s: No such file or directory (file ignored)" % missing,
        "F: specified output directory does not exist"]


# -- differential: Debian's storescp with the same dictionary file --------------------

EXTRA_DIC = dic(
    "# fastscp test dictionary",
    '(0009,"FASTSCP TEST",01)\tIS\tTestIS\t1\tPrivateTag',
    '(0009,"FASTSCP TEST",02)\tDS\tTestDS\t1\tPrivateTag',
    '(0009,"FASTSCP TEST",03)\tUI\tTestUI\t1\tPrivateTag',
    '(0009,"FASTSCP TEST",1004)\tLO\tTestLOExactElement\t1\tPrivateTag',
    '(0009,"FASTSCP TEST",05)\tSQ\tTestSQ\t1\tPrivateTag',
    '(0011-o-0013,"FASTSCP RANGE",10-1F)\tCS\tTestRange\t1\tPrivateTag',
    "(0010,0020)\tUN\tPatientIDAsUN\t1\tTest",
    "(0102,0010)\tIS\tNewPublicIS\t1\tTest",
    "(0102,1000-10FF)\tDS\tNewPublicRange\t1-n\tTest",
    "(6000-60FF,0022)\tUN\tOverlayDescriptionAsUN\t1\tTest",
)

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"
SOP_INSTANCE = "1.2.826.0.1.3680043.2.1143.99.1"


def _implicit_object(path):
    """An implicit VR object whose stored form depends on the dictionary: text
    values with trailing spaces in elements only the test dictionary knows."""
    e = Enc(explicit=False)
    item = e.item(e.el(0x00080100, "SH", "AB  ") + e.el(0x00080104, "LO", "meaning   "))
    data = b"".join([
        e.el(0x00080016, "UI", SOP_CLASS + "\0"),
        e.el(0x00080018, "UI", SOP_INSTANCE + "\0"),
        e.el(0x00080020, "DA", "20240101"),
        e.el(0x00090010, "LO", "FASTSCP TEST"),
        e.el(0x00091001, "IS", "17  "),
        e.el(0x00091002, "DS", "2.50  "),
        e.el(0x00091003, "UI", "1.23  "),
        e.el(0x00091004, "LO", "abcd  "),
        e.seq(0x00091005, [item]),                      # defined lengths: UN unless known as SQ
        e.el(0x00100010, "PN", "Doe^John  "),
        e.el(0x00100020, "LO", "ID12  "),
        e.el(0x00110010, "LO", "FASTSCP RANGE "),
        e.el(0x00111010, "CS", "AB  "),
        e.el(0x00111012, "CS", "CD  "),
        e.el(0x00111013, "CS", "EF  "),               # odd element: not in the range
        e.el(0x01020010, "IS", "42  "),
        e.el(0x01021002, "DS", "3.50  "),
        e.el(0x01021003, "DS", "4.50  "),             # odd element: not in the range
        e.el(0x60000022, "LO", "ov  "),
    ])
    return _write_object(path, data)


def _write_object(path, data):
    """A Part 10 file: file meta, then ``data`` (implicit VR little endian) as is."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASS
    meta.MediaStorageSOPInstanceUID = SOP_INSTANCE
    meta.TransferSyntaxUID = ImplicitVRLittleEndian
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.2.1143.99"
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_file_meta_info(fp, meta)
    path.write_bytes(b"\0" * 128 + b"DICM" + fp.getvalue() + data)
    return path


def _receive(spawn, kind, outdir, src, dictpath):
    outdir.mkdir()
    proc = spawn(kind, outdir, env={"DCMDICTPATH": dictpath})
    statuses = _pynetdicom_send(proc.port, [src], ImplicitVRLittleEndian)
    proc.stop()
    assert statuses == [0], (kind, statuses, proc.stderr)
    return proc


@pytest.mark.skipif(not DCMTK_DICTS, reason="DCMTK's dictionary files not installed")
def test_differential_with_storescp(spawn, tmp_path):
    extra = tmp_path / "extra.dic"
    extra.write_text(EXTRA_DIC)
    src = _implicit_object(tmp_path / "obj.dcm")
    folder = Path(DCMTK_DICTS[0]).parent
    missing = tmp_path / "missing.dic"
    # DCMDICTPATH replaces DCMTK's default dictionary, so storescp gets its files
    # first; fastscp always has pydicom's.  A missing file and empty parts are
    # skipped by both, with a message.
    dcmtk_path = ":".join([str(folder / "dicom.dic"), str(folder / "private.dic"), "", str(missing), str(extra)])
    ours_path = "::%s:%s" % (missing, extra)
    runs = {}
    for kind, dictpath in (("dcmtk", dcmtk_path), ("fastscp", ours_path), ("dcmtk", ""), ("fastscp", "")):
        name = "%s-%s" % (kind, "dict" if dictpath else "plain")
        runs[name] = _receive(spawn, kind, tmp_path / name, src, dictpath)
    assert _compare_dirs(tmp_path / "dcmtk-dict", tmp_path / "fastscp-dict") == 1
    assert _compare_dirs(tmp_path / "dcmtk-plain", tmp_path / "fastscp-plain") == 1
    name = "SC." + SOP_INSTANCE
    with_dict = split_file(tmp_path / "fastscp-dict" / name)[1]
    plain = split_file(tmp_path / "fastscp-plain" / name)[1]
    # the dictionary mattered: what only it defines was normalised, what it
    # redefines as UN was not, elements outside its ranges stay UN either way
    for value in (b"17  ", b"2.50  ", b"1.23  ", b"abcd  ", b"AB  ", b"meaning   ", b"CD  ", b"42  ", b"3.50  "):
        assert value in plain and value not in with_dict, value
    for value in (b"ID12  ", b"ov  "):
        assert value in with_dict and value not in plain, value
    for value in (b"EF  ", b"4.50  "):
        assert value in with_dict and value in plain, value
    assert "cannot read dictionary file %s" % missing in runs["fastscp-dict"].stderr
    assert "Cannot open file: %s" % missing in runs["dcmtk-dict"].stderr


PSEUDO_DIC = dic(
    "(0102,0010)\txs\tXS", "(0102,0012)\tox\tOX", "(0102,0014)\tpx\tPX", "(0102,0016)\tlt\tLT",
    "(0102,0018)\tup\tUP", "(0102,001A)\t??\tUnknown", "(0102,001C)\tui\tLowercaseUnknown",
    "(0014,3050)\tox\tDarkCurrentCounts", '(0009,"FASTSCP TEST",01)\txs\tPrivateXS',
    '(0009,"FASTSCP TEST",02)\tox\tPrivateOX')


def _pseudo_vr_object(path):
    """Odd-length binary values whose padding, VR letters (+te) and byte
    order (+tb) follow the pseudo-VR."""
    e = Enc(explicit=False)
    data = b"".join([
        e.el(0x00080016, "UI", SOP_CLASS + "\0"),
        e.el(0x00080018, "UI", SOP_INSTANCE + "\0"),
        e.el(0x00090010, "LO", "FASTSCP TEST"),
        e.el(0x00091001, "", b"\1\0\2\0"),
        e.el(0x00091002, "", b"\1\2\3"),
        e.el(0x00143050, "", b"\1\2\3"),
        e.el(0x01020010, "", b"\1\0\2\0"),    # (odd US with +tb: a writer deviation of its own)
        e.el(0x01020012, "", b"\1\2\3"),
        e.el(0x01020014, "", b"\1\2\3\4"),
        e.el(0x01020016, "", b"\1\2\3"),
        e.el(0x01020018, "", b"\1\2\3\4"),
        e.el(0x0102001A, "", b"\1\2\3\4\5"),
        e.el(0x0102001C, "", b"\1\2\3\4\5"),
    ])
    assert len(data) % 2 == 0      # odd values, even data set (storescp refuses odd PDVs)
    return _write_object(path, data)


@pytest.mark.skipif(not DCMTK_DICTS, reason="DCMTK's dictionary files not installed")
@pytest.mark.parametrize("options", [(), ("+te",), ("+tb",)], ids=lambda o: " ".join(o) or "default")
def test_pseudo_vrs_as_storescp(spawn, tmp_path, options):
    extra = tmp_path / "extra.dic"
    extra.write_text(PSEUDO_DIC)
    src = _pseudo_vr_object(tmp_path / "obj.dcm")
    folder = Path(DCMTK_DICTS[0]).parent
    dcmtk_path = ":".join([str(folder / "dicom.dic"), str(folder / "private.dic"), str(extra)])
    for kind, dictpath in (("dcmtk", dcmtk_path), ("fastscp", str(extra))):
        (tmp_path / kind).mkdir()
        proc = spawn(kind, tmp_path / kind, *options, env={"DCMDICTPATH": dictpath})
        statuses = _pynetdicom_send(proc.port, [src], ImplicitVRLittleEndian)
        proc.stop()
        assert statuses == [0], (kind, statuses, proc.stderr)
    assert _compare_dirs(tmp_path / "dcmtk", tmp_path / "fastscp") == 1
