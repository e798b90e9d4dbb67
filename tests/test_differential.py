"""Differential tests: Debian's storescp and fastscp receive the same objects
with default options; the files must have the same names and the same bytes
(file meta apart from the implementation class UID and version name)."""
import functools
from pathlib import Path

import pydicom
import pytest
import pydicom.data
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from conftest import final_files, run_storescu
from dicomfile import comparable_meta, split_file


UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


@functools.lru_cache(maxsize=None)
def pydicom_part10_files():
    """pydicom's shipped test files with a DICM prefix and readable meta, as
    (path, transfer syntax, media storage SOP class) -- read once per run
    (get_testdata_files would try downloads)."""
    out = []
    for p in sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*")):
        if not p.is_file():
            continue
        try:
            with open(p, "rb") as fp:
                fp.seek(128)
                if fp.read(4) != b"DICM":
                    continue
            meta = pydicom.dcmread(p, stop_before_pixels=True).file_meta
            out.append((p, str(meta.TransferSyntaxUID), str(meta.get("MediaStorageSOPClassUID", ""))))
        except Exception:
            continue
    return tuple(out)


def _pydicom_test_files():
    """pydicom's real test files that Debian's storescu can send with its default
    proposal: DICOM files with meta information in an uncompressed transfer syntax
    (it cannot decompress the others)."""
    return tuple(p for p, ts, _ in pydicom_part10_files()
                 if p.suffix.lower() in (".dcm", "") and ts in UNCOMPRESSED)


def _compare_dirs(ref_dir, our_dir):
    ref = {p.name: p for p in final_files(ref_dir)}
    ours = {p.name: p for p in final_files(our_dir)}
    assert sorted(ours) == sorted(ref), "different file names"
    mismatches = []
    for name, ref_path in ref.items():
        ref_meta, ref_ds = split_file(ref_path)
        our_meta, our_ds = split_file(ours[name])
        if comparable_meta(ref_meta) != comparable_meta(our_meta):
            mismatches.append((name, "meta", comparable_meta(ref_meta), comparable_meta(our_meta)))
        elif ref_ds != our_ds:
            at = next((i for i, (a, b) in enumerate(zip(ref_ds, our_ds)) if a != b), min(len(ref_ds), len(our_ds)))
            mismatches.append((name, "dataset", len(ref_ds), len(our_ds), "first difference at", at))
    assert not mismatches, "\n".join(map(str, mismatches))
    return len(ref)


def _send_both(spawn, tmp_path, files, options=()):
    ref_dir, our_dir = tmp_path / "dcmtk", tmp_path / "fastscp"
    ref_dir.mkdir()
    our_dir.mkdir()
    for kind, d in (("dcmtk", ref_dir), ("fastscp", our_dir)):
        proc = spawn(kind, d)
        run_storescu(proc.port, files, ["-nh", *options])
        proc.stop()
    return ref_dir, our_dir


def test_pydicom_files_sent_by_storescu(spawn, tmp_path):
    files = _pydicom_test_files()
    assert len(files) > 30
    ref_dir, our_dir = _send_both(spawn, tmp_path, files)
    count = _compare_dirs(ref_dir, our_dir)
    # several test files share a SOP Instance UID (the last one wins on both sides)
    assert count >= 12, "storescp stored only %d files" % count


@pytest.mark.parametrize("proposal", ["-xi", "-xb", "-xe"])
def test_pydicom_files_in_each_uncompressed_syntax(spawn, tmp_path, proposal):
    ref_dir, our_dir = _send_both(spawn, tmp_path, _pydicom_test_files(), [proposal])
    assert _compare_dirs(ref_dir, our_dir) >= 12


# -- crafted objects sent byte-for-byte as stored (pynetdicom) -----------------------

def _crafted(transfer_syntax, index):
    ds = Dataset()
    ds.add_new(0x00080000, "UL", 1234)                       # wrong group length
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.77.%d" % index
    ds.StudyDate = "20240101"
    ds.add_new(0x00100000, "UL", 0)                          # wrong group length
    ds.PatientName = "Odd^Name"                              # odd length
    ds.PatientID = "ABC"                                     # odd length
    item = Dataset()
    item.add_new(0x00080000, "UL", 99)                       # group length inside an item
    item.CodeValue = "12345"
    item.CodingSchemeDesignator = "DCM"
    inner = Dataset()
    inner.CodeMeaning = "nested"
    item.ConceptNameCodeSequence = Sequence([inner])
    ds.ProcedureCodeSequence = Sequence([item, Dataset()])
    ds.add_new(0x00091010, "LO", "private value")
    ds.add_new(0x00090010, "LO", "FASTSCP TEST")
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.2.1143.77"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1143.77.1"
    ds.Rows = 2
    ds.Columns = 2
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x01\x02\x03"                          # odd length OB/OW
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _write_undefined_lengths(ds, path, transfer_syntax):
    """Write with undefined-length sequences and items."""
    ds["ProcedureCodeSequence"].is_undefined_length = True
    for seq_item in ds.ProcedureCodeSequence:
        seq_item.is_undefined_length_sequence_item = True
    ds.save_as(path, implicit_vr=transfer_syntax == ImplicitVRLittleEndian,
               little_endian=transfer_syntax != ExplicitVRBigEndian, enforce_file_format=True)


def write_crafted_files(directory, transfer_syntax, count=2):
    """count crafted objects with undefined lengths, written to a new directory."""
    directory.mkdir()
    paths = []
    for i in range(count):
        p = directory / ("obj%d.dcm" % i)
        _write_undefined_lengths(_crafted(transfer_syntax, i), p, transfer_syntax)
        paths.append(p)
    return paths


def _pynetdicom_send(port, paths, transfer_syntax=None):
    """pynetdicom sends the files' bytes as stored; the statuses.  Proposed:
    Secondary Capture in ``transfer_syntax``, or (None) each file's own SOP
    class and transfer syntax."""
    import pynetdicom._config
    from pydicom import dcmread
    from pynetdicom import AE
    old = pynetdicom._config.STORE_SEND_CHUNKED_DATASET
    pynetdicom._config.STORE_SEND_CHUNKED_DATASET = True
    try:
        ae = AE()
        if transfer_syntax is not None:
            ae.add_requested_context("1.2.840.10008.5.1.4.1.1.7", transfer_syntax)
        else:
            for p in paths:
                ds = dcmread(p, stop_before_pixels=True)
                ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
        assoc = ae.associate("127.0.0.1", port)
        assert assoc.is_established
        statuses = [assoc.send_c_store(str(p)).Status for p in paths]
        assoc.release()
        return statuses
    finally:
        pynetdicom._config.STORE_SEND_CHUNKED_DATASET = old


@pytest.mark.parametrize("transfer_syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_crafted_objects_sent_as_stored(spawn, tmp_path, transfer_syntax):
    paths = write_crafted_files(tmp_path / "src", transfer_syntax)
    raw = paths[0].read_bytes()
    assert (b"\xfe\xff\xdd\xe0" in raw) or (b"\xff\xfe\xe0\xdd" in raw), "no undefined-length sequence written"
    ref_dir, our_dir = tmp_path / "dcmtk", tmp_path / "fastscp"
    ref_dir.mkdir()
    our_dir.mkdir()
    for kind, d in (("dcmtk", ref_dir), ("fastscp", our_dir)):
        proc = spawn(kind, d)
        statuses = _pynetdicom_send(proc.port, paths, transfer_syntax)
        proc.stop()
        assert statuses == [0, 0], (kind, statuses)
    assert _compare_dirs(ref_dir, our_dir) == 2
