"""The sans-IO association: bytes in, bytes out, no sockets."""
import struct

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from fastscp import pdu_records
from fastscp._pdu import encode_pdata
from fastscp.association import Association
from fastscp.config import ServerConfig
from fastscp.service import StoreService

import dicomnet as dn
from conftest import all_files, files_being_written, final_files


def make_dataset(instance="1.2.826.0.1.3680043.2.1143.1", sop_class=dn.CT_IMAGE):
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = instance
    ds.PatientName = "Test^Patient"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.Modality = "CT"
    return encode_dataset(ds)


def encode_dataset(ds, explicit=True, little=True):
    from pydicom.filewriter import write_dataset
    from pydicom.filebase import DicomBytesIO
    fp = DicomBytesIO()
    fp.is_little_endian = little
    fp.is_implicit_VR = not explicit
    write_dataset(fp, ds)
    return fp.getvalue()


@pytest.fixture
def assoc(tmp_path):
    config = ServerConfig(output_directory=str(tmp_path))
    return Association(config, StoreService(config), "127.0.0.1", 4242)


def establish(assoc, contexts=((1, dn.CT_IMAGE, (dn.ELE,)), (3, dn.VERIFICATION, (dn.ILE,)))):
    assoc.receive(dn.associate_rq(list(contexts)))
    (t, body), = dn.parse_pdus(assoc.data_to_send())
    assert t == pdu_records.A_ASSOCIATE_AC
    return dn.parse_ac_results(body)


def responses(data):
    out = []
    for t, body in dn.parse_pdus(data):
        assert t == pdu_records.P_DATA_TF
        out.append(dn.parse_command(body[6:]))
    return out


def test_accept_and_release(assoc):
    results = establish(assoc)
    assert results == {1: (0, dn.ELE), 3: (0, dn.ILE)}
    assert assoc.state == "Sta6"
    assoc.receive(dn.release_rq())
    assert dn.parse_pdus(assoc.data_to_send()) == [(pdu_records.A_RELEASE_RP, b"\0\0\0\0")]
    assert assoc.state == "Sta13" and assoc.outcome == "released"
    assoc.connection_lost()
    assert assoc.closed


def test_ac_echoes_ae_titles_and_announces_max_length(assoc):
    assoc.receive(dn.associate_rq([(1, dn.VERIFICATION, [dn.ILE])], called=b"ANYTHING  ", calling=b" SCU"))
    (t, body), = dn.parse_pdus(assoc.data_to_send())
    assert body[4:20] == b"ANYTHING        " and body[20:36] == b" SCU            "
    assert struct.pack(">BBHI", 0x51, 0, 4, 16384) in body


@pytest.mark.parametrize("contexts, expected", [
    ([(1, dn.CT_IMAGE, [dn.ILE, dn.EBE])], {1: (0, dn.EBE)}),
    ([(1, dn.CT_IMAGE, [dn.EBE, dn.ELE])], {1: (0, dn.ELE)}),
    ([(1, dn.CT_IMAGE, ["1.2.840.10008.1.2.4.50", dn.ILE])], {1: (0, dn.ILE)}),
    ([(1, dn.CT_IMAGE, ["1.2.840.10008.1.2.5"])], {1: (4, dn.ILE)}),
    ([(1, "1.2.840.10008.5.1.4.1.2.1.1", [dn.ILE])], {1: (3, dn.ILE)}),       # C-FIND model
    ([(1, "1.2.3.4.5.6", [dn.ILE]), (1, dn.CT_IMAGE, [dn.ILE])], {1: (0, dn.ILE)}),
])
def test_default_presentation_context_decisions(assoc, contexts, expected):
    assert establish(assoc, contexts) == expected


def test_echo(assoc):
    establish(assoc)
    assoc.receive(encode_pdata(3, dn.echo_rq(7), True, 0))
    (rsp,) = responses(assoc.data_to_send())
    assert rsp[0x0100] == struct.pack("<H", 0x8030)
    assert rsp[0x0120] == struct.pack("<H", 7) and rsp[0x0900] == b"\0\0"


def test_store_writes_file_and_answers_success(assoc, tmp_path):
    establish(assoc)
    uid = "1.2.826.0.1.3680043.2.1143.1"
    assoc.receive(encode_pdata(1, dn.store_rq(dn.CT_IMAGE, uid, 5), True, 0)
                  + encode_pdata(1, make_dataset(uid), False, 4096))
    (rsp,) = responses(assoc.data_to_send())
    assert rsp[0x0900] == b"\0\0"
    assert rsp[0x1000].rstrip(b"\0").decode() == uid
    files = all_files(tmp_path)
    assert [f.name for f in files] == ["CT." + uid]
    ds = pydicom.dcmread(files[0])
    assert ds.SOPInstanceUID == uid and ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_mismatched_instance_gives_a900(assoc, tmp_path):
    establish(assoc)
    assoc.receive(encode_pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3.9"), True, 0)
                  + encode_pdata(1, make_dataset("1.2.3.8"), False, 0))
    (rsp,) = responses(assoc.data_to_send())
    assert rsp[0x0900] == struct.pack("<H", 0xA900)


def test_abort_mid_object_leaves_no_file(assoc, tmp_path):
    establish(assoc)
    data = make_dataset()
    assoc.receive(encode_pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3"), True, 0)
                  + dn.pdata(1, data[:40], command=False, last=False))
    assert files_being_written(tmp_path)
    assoc.receive(dn.abort_pdu())
    assert assoc.closed and assoc.outcome == "aborted"
    assert all_files(tmp_path) == []


def test_connection_lost_mid_object_leaves_no_file(assoc, tmp_path):
    establish(assoc)
    assoc.receive(encode_pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3"), True, 0)
                  + dn.pdata(1, make_dataset()[:40], command=False, last=False))
    assoc.connection_lost()
    assert assoc.closed and all_files(tmp_path) == []


def _abort_reason(data):
    (t, body), = dn.parse_pdus(data)
    assert t == pdu_records.A_ABORT
    return body[2], body[3]


@pytest.mark.parametrize("pdu", [dn.pdata(1, b"\0\0", True), dn.release_rq(), dn.pdu(2, b"\0" * 4)])
def test_unexpected_pdu_before_association_aborts(assoc, pdu):
    assoc.receive(pdu)
    assert _abort_reason(assoc.data_to_send()) == (2, 2)
    assert assoc.state == "Sta13"


def test_second_associate_rq_aborts(assoc):
    establish(assoc)
    assoc.receive(dn.associate_rq([(1, dn.VERIFICATION, [dn.ILE])]))
    assert _abort_reason(assoc.data_to_send()) == (2, 2)


def test_command_on_unaccepted_context_aborts(assoc):
    establish(assoc)
    assoc.receive(encode_pdata(5, dn.echo_rq(), True, 0))
    assert _abort_reason(assoc.data_to_send()) == (0, 0)


def test_unsupported_dimse_command_aborts(assoc):
    establish(assoc)
    find = dn.command_set([(0x0002, dn.uid(dn.CT_IMAGE)), (0x0100, dn.us(0x20)), (0x0110, dn.us(1)),
                           (0x0800, dn.us(0))])
    assoc.receive(encode_pdata(1, find, True, 0))
    assert _abort_reason(assoc.data_to_send()) == (0, 0)


def test_oversized_pdata_aborts_and_cleans_up(assoc, tmp_path):
    establish(assoc)
    assoc.receive(encode_pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3"), True, 0))
    assoc.receive(dn.pdata(1, b"\0" * 20000, command=False, last=False))
    assert _abort_reason(assoc.data_to_send()) == (2, 6)
    assert all_files(tmp_path) == []


@pytest.mark.parametrize("kwargs, reason", [
    ({"version": 2}, (1, 2, 2)),
    ({"app_context": "1.2.3"}, (1, 1, 2)),
    ({"called": b" " * 16}, (1, 1, 7)),
    ({"calling": b" " * 16}, (1, 1, 3)),
])
def test_rejections(assoc, kwargs, reason):
    assoc.receive(dn.associate_rq([(1, dn.VERIFICATION, [dn.ILE])], **kwargs))
    (t, body), = dn.parse_pdus(assoc.data_to_send())
    assert t == pdu_records.A_ASSOCIATE_RJ and tuple(body[1:4]) == reason
    assert assoc.outcome == "rejected"


def test_no_presentation_contexts_is_rejected(assoc):
    assoc.receive(dn.associate_rq([]))
    (t, body), = dn.parse_pdus(assoc.data_to_send())
    assert t == pdu_records.A_ASSOCIATE_RJ


def test_artim_timeout_before_rq(assoc):
    assert assoc.timeout == 30.0
    assoc.timeout_expired()
    assert assoc.closed and assoc.outcome == "timeout"


def test_idle_association_times_out_with_abort(assoc):
    establish(assoc)
    assert assoc.timeout == 60.0
    assoc.timeout_expired()
    assert _abort_reason(assoc.data_to_send()) == (0, 0)
    assert assoc.closed


def test_undecodable_dataset_gets_failure_status_and_no_file(assoc, tmp_path):
    establish(assoc)
    bad = struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 200) + b"short"
    assoc.receive(encode_pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3"), True, 0)
                  + encode_pdata(1, bad, False, 0))
    (rsp,) = responses(assoc.data_to_send())
    assert struct.unpack("<H", rsp[0x0900])[0] == 0xC000      # a value cut short (storescp aborts)
    assert final_files(tmp_path) == [] and all_files(tmp_path) == []
    assoc.receive(encode_pdata(3, dn.echo_rq(2), True, 0))
    assert responses(assoc.data_to_send())[0][0x0900] == b"\0\0"


def test_receive_takes_input_of_any_size(assoc):
    """One receive() call with far more than the reader's buffer: every
    message is answered (the reader is fed and drained in slices)."""
    echoes = b"".join(dn.pdata(3, dn.echo_rq(i % 65000 + 1), True) for i in range(12000))
    assert len(echoes) > 2 * assoc.reader.capacity
    establish(assoc)
    assoc.receive(echoes)
    got = responses(assoc.data_to_send())
    assert len(got) == 12000
    assert all(r[0x0900] == b"\0\0" for r in got)
