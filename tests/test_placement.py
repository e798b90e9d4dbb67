"""Sort subdirectories and file names (-ss -su -sp -uf +uf -tn -fe -rns -tos):
Debian's storescp and fastscp receive the same multi-study, multi-association
workload; their directory trees must match, time stamps and generated UIDs
aside.  Plus units for the patient-name transliteration and hostile names."""
import re
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from conftest import run_storescu, wait_for

CT, MR, SC, SR = ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4",
                  "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.88.33")
CR = "1.2.840.10008.5.1.4.1.1.1"
_ABSENT = object()


def make_object(path, sop_class, study, instance, name=_ABSENT, charset=None):
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = instance
    ds.StudyDate = "20240101"
    ds.Modality = "OT"
    if name is not _ABSENT:
        ds.add_new(0x00100010, "PN", name)
    ds.PatientID = "ID1"
    if study is not None:
        ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1143.9"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = instance
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


S1, S2, S3, S4 = ("1.2.826.0.1.3680043.2.1143.1", "1.2.826.0.1.3680043.2.1143.2",
                  "1.2.826.0.1.3680043.2.1143.3", "1.2.826.0.1.3680043.2.1143.4")
S9 = "1.2.826.0.1.3680043.2.1143.9"


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    """Three associations, four studies; S1 is interrupted by S2 and S3 and resumes."""
    src = tmp_path_factory.mktemp("src")
    latin = "Müller^Hans".encode("latin-1")

    def obj(name, *args, **kw):
        return make_object(src / name, *args, **kw)
    a1 = [obj("s1a", CT, S1, S1 + ".1", latin, "ISO_IR 100"),
          obj("s1b", CT, S1, S1 + ".2", latin, "ISO_IR 100"),
          obj("s2a", MR, S2, S2 + ".1")]                          # name absent
    a2 = [obj("s2b", MR, S2, S2 + ".2"),
          obj("s3a", SC, S3, S3 + ".1", b""),                     # empty name
          obj("s1c", CT, S1, S1 + ".3", latin, "ISO_IR 100")]     # S1 resumes
    a3 = [obj("s4a", SR, S4, S4 + ".1", b"Doe^John"),
          obj("s4b", SC, S4, S4 + ".2", b"Doe^John")]
    # a last study that ends S4 by study change: fastscp ends the pending
    # study at shutdown (-rns, -xcs), storescp never does; its files (CR,
    # found in no other study) are left out of the comparison
    sentinel = [obj("s9", CR, S9, S9 + ".1", b"Zz")]
    return [a1, a2, a3, sentinel]


def normalised_tree(root: Path):
    """Sorted [(directory, file), ...] with time stamps, new UIDs and -rns
    numbers masked.  (Which files share a time-stamped directory is not
    compared: two studies starting within one millisecond share one, in
    storescp as in fastscp.)"""
    def norm(name):
        name = re.sub(r"\d{8}_\d{9}", "<DATE_TIME>", name)
        name = re.sub(r"^\d{17}(_\d{4})?\.", "<TIME>.", name)
        name = re.sub(r"^([A-Z][A-Za-z])\d{6}$", r"\1<N>", name)
        return re.sub(r"\.X\.[0-9.]+?(\.[a-z]+)?$", r".X.<UID>\1", name)
    return sorted((norm(str(p.parent.relative_to(root))), norm(p.name))
                  for p in root.rglob("*") if p.is_file() and "CR" not in p.name)


def run_both(spawn, tmp_path, workload, options, between=None):
    trees = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, *options)
        for i, files in enumerate(workload):
            r = run_storescu(proc.port, files, ["-nh", "-aet", "SCU%d" % i])
            assert r.returncode == 0, r.stderr
            if between is not None:
                between(out, i)
        proc.stop()
        trees[kind] = normalised_tree(out)
    return trees["dcmtk"], trees["fastscp"]


@pytest.mark.parametrize("options", [
    ["-ss", "PFX"], ["-su", "PFX"], ["-su", ""], ["-sp"], ["-ss", ""],
    ["-uf"], ["+uf"], ["+uf", "-fe", ".dcm"], ["-tn"], ["-fe", ".dcm"],
    ["-ss", "S", "-tn", "-fe", ".x"], ["-sp", "-rns"], ["-su", "P", "-rns", "-fe", ".dcm"],
    ["-ss", "P", "-rns", "-tn", "-fe", ".y"], ["-sp", "+uf"],
], ids=lambda o: " ".join(o) or "none")
def test_tree_matches_storescp(spawn, tmp_path, workload, options):
    ref, ours = run_both(spawn, tmp_path, workload, options)
    assert ours == ref
    # 8 files, except -su -rns: S1's resumed part is renamed in the same
    # directory from CT000001 again, replacing a file (storescp does so)
    assert len(ref) == (7 if "-su" in options and "-rns" in options else 8)


def _wait_renamed(out, expected):
    assert wait_for(lambda: sum(1 for p in out.rglob("*") if p.is_file()
                                and re.fullmatch(r"[A-Z][A-Za-z]\d{6}", p.name)) >= expected,
                    timeout=15)


def test_end_of_study_by_timeout_matches_storescp(spawn, tmp_path, workload):
    """-tos 1 -rns: each association's last study is renamed after the
    timeout; S1 coming back after its timeout opens a new directory."""
    renamed = {0: 2, 1: 4, 2: 8}     # S1 x2 | S2 x2 | S3, S1 (new dir), S4 x2

    def between(out, i):
        _wait_renamed(out, renamed[i])
    ref, ours = run_both(spawn, tmp_path, [workload[0][:2], workload[0][2:] + workload[1][:1],
                                           workload[1][1:] + workload[2][:2]],
                         ["-ss", "P", "-rns", "-tos", "1"], between)
    assert ours == ref
    assert len(ref) == 8 and all(re.fullmatch(r"[A-Z][A-Za-z]<N>", f) for _, f in ref)


# -- units -------------------------------------------------------------------------

def test_patient_names_transliterated_as_storescp(caplog):
    from fastscp.placement import patient_dir_name
    assert patient_dir_name("Müller^Hans".encode("latin-1"), "ISO_IR 100") == "Mueller_Hans"
    assert patient_dir_name(b" Doe^John ", None) == "_Doe_John"
    assert patient_dir_name(b"Doe^John\\Smith", None) == "Doe_John"
    assert patient_dir_name("ÆØÅßÿþ×".encode("latin-1"), "ISO_IR 100") == "AOAssy__"
    assert patient_dir_name(b"../../etc/passwd", None) == "______etc_passwd"
    assert patient_dir_name(b"$(touch x)`y`", None) == "__touch_x__y_"
    for raw in (None, b"", b"   ", b"\\Foo"):
        assert patient_dir_name(raw, None) == "ANONYMOUS"
    assert "absent or empty" in caplog.text
    caplog.clear()
    assert patient_dir_name("Müller".encode(), "ISO_IR 192") == "MA_ller"
    assert "Patient name not in Latin-1 (charset: ISO_IR 192)" in caplog.text
    assert len(patient_dir_name(b"A" * 1000, None)) + 19 <= 255


def test_time_names_get_serials():
    from fastscp.config import ServerConfig
    from fastscp.placement import Placement
    p = Placement(ServerConfig(timenames=True, filename_extension=".e"))
    t = 1700000000.5
    names = [p.file_name(CT, "1.2", t), p.file_name(CT, "1.2", t), p.file_name(CT, "1.2", t),
             p.file_name(CT, "1.2", t + 0.002)]
    stamp = names[0].split(".")[0]
    assert names[:3] == [stamp + ".CT.e", stamp + "_0000.CT.e", stamp + "_0001.CT.e"]
    assert re.fullmatch(r"\d{17}\.CT\.e", names[3]) and names[3] != names[0]


def test_dot_only_directory_names_are_refused():
    from fastscp.placement import safe_component
    assert safe_component("..", "Study Instance UID") == "__"
    assert safe_component(".", "x") == "_"
    assert safe_component("1.2", "x") == "1.2"


def test_missing_study_uid_in_sort_mode_matches_storescp(spawn, tmp_path):
    """No Study Instance UID with a sort option: 0xC000 and no file (both)."""
    src = tmp_path / "src"
    src.mkdir()
    files = [make_object(src / "a", CT, S1, S1 + ".1", b"A"), make_object(src / "b", CT, None, "1.2.3.4", b"B"),
             make_object(src / "c", CT, S1, S1 + ".2", b"A")]
    outputs = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, "-ss", "P")
        r = run_storescu(proc.port, files, ["-nh", "-v"])
        proc.stop()
        outputs[kind] = (normalised_tree(out), (r.stdout + r.stderr).count("CannotUnderstand"))
        assert "element StudyInstanceUID (0020,000d) absent or empty in data set" in proc.stderr
    assert outputs["fastscp"] == outputs["dcmtk"]
    assert outputs["dcmtk"][1] == 1 and len(outputs["dcmtk"][0]) == 2


def test_concurrent_associations_lose_nothing(make_server, tmp_path):
    """Four associations at once, each its own study, -ss with -rns: every
    object ends up renamed in a directory of its own study (the studies
    interleave, so a study comes in several directories), none is lost."""
    import subprocess
    src = tmp_path / "src"
    src.mkdir()
    server = make_server(sort_mode="timestamp", sort_prefix="P", rename_on_eostudy=True)
    batches = [[make_object(src / ("%d_%d" % (s, i)), CT, "1.2.99.%d" % s, "1.2.99.%d.%d" % (s, i), b"N")
                for i in range(6)] for s in range(4)]
    procs = [subprocess.Popen(["/usr/bin/storescu", "-nh", "127.0.0.1", str(server.port), *map(str, b)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(__import__("os").environ, TCP_NODELAY="1")) for b in batches]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    server.stop()                            # the last study ends at shutdown
    files = [p for p in server.directory.rglob("*") if p.is_file()]
    assert len(files) == 24
    assert all(re.fullmatch(r"CT\d{6}", p.name) for p in files)
    import pydicom
    for d in {p.parent for p in files}:
        studies = {pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID for p in d.iterdir()}
        assert len(studies) == 1, d
    assert len(server.stored) == 24
