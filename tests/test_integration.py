"""fastscp against real peers over loopback: DCMTK echoscu/storescu and pynetdicom."""
import socket
import subprocess
import threading
import time

import pydicom
from pydicom.data import get_testdata_file

from conftest import (DCMTK_ENV, ECHOSCU, all_files, files_being_written, final_files, run_storescu,
                      wait_for)
import dicomnet as dn

CT_SMALL = get_testdata_file("CT_small.dcm")
MR_SMALL = get_testdata_file("MR_small.dcm")


def test_echoscu(server):
    r = subprocess.run([ECHOSCU, "-v", "127.0.0.1", str(server.port)], env=DCMTK_ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Success" in r.stdout + r.stderr


def test_storescu_several_files_one_association(server):
    r = run_storescu(server.port, [CT_SMALL, MR_SMALL])
    assert r.returncode == 0, r.stderr
    names = sorted(f.name for f in final_files(server.directory))
    ct, mr = pydicom.dcmread(CT_SMALL), pydicom.dcmread(MR_SMALL)
    assert names == sorted(["CT." + ct.SOPInstanceUID, "MR." + mr.SOPInstanceUID])
    assert [s.status for s in server.stored] == [0, 0]
    stored = pydicom.dcmread(server.directory / ("CT." + ct.SOPInstanceUID))
    assert stored.PixelData == ct.PixelData
    assert stored.file_meta.SourceApplicationEntityTitle == "STORESCU"
    assert all_files(server.directory) == final_files(server.directory)   # no temp left


def test_cli_process_receives_from_storescu(spawn, tmp_path):
    out = tmp_path / "cli"
    out.mkdir()
    proc = spawn("fastscp", out, "-v")
    r = run_storescu(proc.port, [CT_SMALL])
    assert r.returncode == 0, r.stderr
    assert len(final_files(out)) == 1
    _, err = proc.stop()
    assert "I: Received Store Request (MsgID 1, CT)" in err
    assert "I: storing DICOM file: %s/CT." % out in err


def test_pynetdicom_echo_and_store_dataset(server):
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, Verification
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", server.port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    ds = pydicom.dcmread(CT_SMALL)
    assert assoc.send_c_store(ds).Status == 0
    assoc.release()
    (f,) = final_files(server.directory)
    assert pydicom.dcmread(f).file_meta.SourceApplicationEntityTitle == "PYNETDICOM"


def test_pynetdicom_sends_file_bytes_as_stored(server):
    import pynetdicom._config
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage
    old = pynetdicom._config.STORE_SEND_CHUNKED_DATASET
    pynetdicom._config.STORE_SEND_CHUNKED_DATASET = True
    try:
        ae = AE()
        ae.add_requested_context(CTImageStorage, pydicom.dcmread(CT_SMALL).file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", server.port)
        assert assoc.is_established
        assert assoc.send_c_store(CT_SMALL).Status == 0
        assoc.release()
    finally:
        pynetdicom._config.STORE_SEND_CHUNKED_DATASET = old
    (f,) = final_files(server.directory)
    assert pydicom.dcmread(f).PixelData == pydicom.dcmread(CT_SMALL).PixelData


def test_stalled_peer_does_not_hold_up_others(server):
    """A peer that connects and sends half a PDU must not block other associations."""
    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.sendall(dn.associate_rq([(1, dn.VERIFICATION, [dn.ILE])])[:30])
    half_store = dn.RawPeer(server.port)
    half_store.associate([(1, dn.CT_IMAGE, [dn.ELE])])
    half_store.send(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3.4"), True)
                    + dn.pdata(1, b"\x08\x00", False, last=False))
    try:
        start = time.monotonic()
        r = run_storescu(server.port, [CT_SMALL], timeout=30)
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - start < 10
        assert len(final_files(server.directory)) == 1
    finally:
        stalled.close()
        half_store.close()


def test_many_concurrent_associations(server, tmp_path):
    """Six senders at once, each with objects of its own: every file holds
    exactly what its sender sent (nothing mixed between associations)."""
    sent = {}
    per_sender = []
    for sender in range(6):
        paths = []
        for n, source in enumerate((CT_SMALL, MR_SMALL, CT_SMALL)):
            ds = pydicom.dcmread(source)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.5.%d.%d" % (
                sender, n)
            ds.PatientName = "Sender%d^Object%d" % (sender, n)
            arr = bytearray(ds.PixelData)
            arr[:4] = bytes((sender, n, sender, n))
            ds.PixelData = bytes(arr)
            path = tmp_path / ("s%d-%d.dcm" % (sender, n))
            ds.save_as(path)
            sent[ds.SOPInstanceUID] = (str(ds.PatientName), ds.PixelData)
            paths.append(path)
        per_sender.append(paths)
    results = []

    def send(paths):
        results.append(run_storescu(server.port, paths, timeout=60).returncode)
    threads = [threading.Thread(target=send, args=(paths,)) for paths in per_sender]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert results == [0] * 6
    files = final_files(server.directory)
    assert len(files) == len(sent) == 18 and len(server.stored) == 18
    for f in files:
        ds = pydicom.dcmread(f)
        assert (str(ds.PatientName), ds.PixelData) == sent[ds.SOPInstanceUID], f.name


def test_abort_mid_object_leaves_no_file(server):
    peer = dn.RawPeer(server.port)
    t, _ = peer.associate([(1, dn.CT_IMAGE, [dn.ELE])])
    assert t == 2
    peer.send(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3.4"), True)
              + dn.pdata(1, b"\x08\x00\x16\x00UI\x1a\x00" + b"1" * 26, False, last=False))
    assert wait_for(lambda: len(files_being_written(server.directory)) == 1)  # the temporary file
    peer.send(dn.abort_pdu())
    assert wait_for(lambda: all_files(server.directory) == [] and not files_being_written(server.directory))
    peer.close()


def test_disconnect_mid_object_leaves_no_file(server):
    peer = dn.RawPeer(server.port)
    peer.associate([(1, dn.CT_IMAGE, [dn.ELE])])
    peer.send(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3.4"), True)
              + dn.pdata(1, b"\x08\x00\x16\x00UI\x1a\x00" + b"1" * 26, False, last=False))
    assert wait_for(lambda: len(files_being_written(server.directory)) == 1)  # the temporary file
    peer.close()
    assert wait_for(lambda: all_files(server.directory) == [] and not files_being_written(server.directory))


def test_unwritable_destination_answers_a700(make_server, tmp_path):
    """The output directory vanished: the object cannot be written -> 0xA700, association goes on."""
    srv = make_server()
    srv.directory.rmdir()
    r = run_storescu(srv.port, [CT_SMALL, MR_SMALL], ["-v", "-nh"])
    text = (r.stdout + r.stderr).lower()
    assert text.count("received store response (refused: outofresources)") == 2, text
    assert srv.stored == []


def test_idle_association_is_aborted_after_socket_timeout(make_server):
    srv = make_server(socket_timeout=0.5)
    peer = dn.RawPeer(srv.port)
    t, _ = peer.associate([(1, dn.VERIFICATION, [dn.ILE])])
    assert t == 2
    start = time.monotonic()
    p = peer.read_pdu(timeout=10)
    assert p is not None and p[0] == 7                     # A-ABORT
    assert peer.closed_by_peer(timeout=10)
    assert 0.3 < time.monotonic() - start < 5
    peer.close()


def test_silent_connection_ends_after_acse_timeout(make_server):
    srv = make_server(acse_timeout=0.5)
    peer = dn.RawPeer(srv.port)
    start = time.monotonic()
    assert peer.closed_by_peer(timeout=10)
    assert 0.3 < time.monotonic() - start < 5
    peer.close()
