"""Unit tests of the compiled PDU framer and PDV reassembler, fed bytes."""
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fastscp import _dimse, _pdu, _sink
from fastscp.errors import ProtocolError

import dicomnet as dn


class Collect:
    """Drives a PDUReader like the association does, collecting events and data."""

    def __init__(self, max_pdu=16384):
        self.reader = _pdu.PDUReader(max_pdu)
        self.reader.pdata_allowed = True
        self.events = []
        self.datasets = []

    def feed(self, data):
        self.reader.feed(data)
        while True:
            ev = self.reader.next_event()
            if ev is None:
                return
            self.events.append(ev)
            if isinstance(ev, _pdu.CommandReceived):
                cmd = _dimse.decode_command(ev.command)
                if cmd.get(0x0800) != 0x0101:
                    self.sink = ListSink()
                    self.reader.assembler.expect_dataset(ev.context_id, self.sink)
            elif isinstance(ev, _pdu.DatasetReceived):
                self.datasets.append(bytes(self.sink.data))

    def kinds(self):
        return [type(ev).__name__ for ev in self.events]


class ListSink(_sink.CallbackSink):
    def __init__(self):
        self.data = bytearray()
        super().__init__(self.data.extend)


def _stream(dataset_sizes, max_pdu=16384):
    out = [dn.associate_rq([(1, dn.CT_IMAGE, [dn.ELE])])]
    datasets = []
    for i, size in enumerate(dataset_sizes):
        ds = bytes((i + j) & 0xFF for j in range(size))
        datasets.append(ds)
        out.append(_pdu.encode_pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3.%d" % i, i + 1), True, max_pdu))
        out.append(_pdu.encode_pdata(1, ds, False, max_pdu))
    out.append(dn.release_rq())
    return b"".join(out), datasets


def _run(stream, cuts):
    c = Collect()
    prev = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        c.feed(stream[prev:cut])
        prev = cut
    return c


def test_whole_stream_events():
    stream, datasets = _stream([0, 1, 40000, 16378, 16379])
    c = _run(stream, [])
    kinds = c.kinds()
    assert kinds[0] == "PDUReceived" and c.events[0].pdu_type == 1
    assert kinds.count("CommandReceived") == 5 and kinds.count("DatasetReceived") == 5
    assert [ev.context_id for ev in c.events[1:-1]] == [1] * 10
    assert kinds[-1] == "PDUReceived" and c.events[-1].pdu_type == 5
    assert c.datasets == datasets


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=70000), max_size=40))
def test_events_independent_of_chunking(cuts):
    stream, datasets = _stream([10, 33000, 7])
    c = _run(stream, [x % len(stream) for x in cuts])
    assert c.datasets == datasets
    assert c.kinds() == _run(stream, []).kinds()


def test_pdata_longer_than_maximum_is_refused():
    c = Collect(max_pdu=4096)
    with pytest.raises(ProtocolError, match="Illegal PDU Length 4097.  Max expected 4096"):
        c.feed(dn.pdu(4, b"\0" * 4097))


@pytest.mark.parametrize("data, message", [
    (b"\x47ET / HTTP/1.1\r\n\r\n", "Unrecognized PDU type: 71"),
    (b"\x00\x00\x00\x00\x00\x04abcd", "Unrecognized PDU type: 0"),
    (dn.pdu(1, b"") [:2] + struct.pack(">I", 2 * 1024 * 1024), "too large"),
    (dn.pdu(4, struct.pack(">I", 1) + b"\x01\x03"), "too short"),
    (dn.pdu(4, struct.pack(">I", 100) + b"\x01\x03"), "overruns"),
    (dn.pdu(4, b"\x00\x00"), "truncated"),
    (dn.pdu(4, b""), "without PDV"),
    (dn.pdata(1, b"abcd", command=False), "without a command"),
    (dn.pdata(1, b"abcd", command=True).replace(b"\x01\x03abcd", b"\x01\x07abcd"), "message control header"),
])
def test_malformed_pdus_raise_protocol_error(data, message):
    c = Collect()
    with pytest.raises(ProtocolError, match=message):
        c.feed(data)


def test_command_set_cap():
    c = Collect(max_pdu=131072)
    with pytest.raises(ProtocolError, match="command set larger"):
        for _ in range(10):
            c.feed(dn.pdata(1, b"\0" * 10000, command=True, last=False))


def test_command_cap_is_the_readers():
    reader = _pdu.PDUReader(16384, command_cap=100)
    reader.pdata_allowed = True
    reader.feed(dn.pdata(1, b"\0" * 100, command=True, last=False))
    assert reader.next_event() is None
    reader.feed(dn.pdata(1, b"\0", command=True))
    with pytest.raises(ProtocolError, match="command set larger than 100 bytes"):
        reader.next_event()


def test_data_on_other_context_is_refused():
    c = Collect()
    c.feed(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2"), command=True))
    with pytest.raises(ProtocolError, match="context 3, expected 1"):
        c.feed(dn.pdata(3, b"ab", command=False))


def test_pdata_skipped_when_not_allowed():
    reader = _pdu.PDUReader(16384)
    reader.feed(dn.pdata(1, b"abcd", command=True) + dn.release_rq())
    ev = reader.next_event()
    assert isinstance(ev, _pdu.PDUReceived) and (ev.pdu_type, ev.payload) == (4, None)
    ev = reader.next_event()
    assert isinstance(ev, _pdu.PDUReceived) and (ev.pdu_type, ev.payload) == (5, b"\0\0\0\0")
    assert reader.next_event() is None


def test_events_are_typed_and_read_only():
    c = Collect()
    c.feed(dn.pdata(3, dn.echo_rq(), command=True))
    c.feed(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2"), command=True) + dn.pdata(1, b"ab", command=False))
    echo, store, end = c.events
    assert type(echo) is _pdu.CommandReceived and echo.context_id == 3 and echo.command == dn.echo_rq()
    assert type(end) is _pdu.DatasetReceived and end.context_id == 1 and c.datasets == [b"ab"]
    assert repr(echo) == "CommandReceived(context_id=3, command=<%d bytes>)" % len(dn.echo_rq())
    assert repr(end) == "DatasetReceived(context_id=1)"
    with pytest.raises(AttributeError):
        echo.context_id = 5
    assert repr(_pdu.PDUReceived(4, None)) == "PDUReceived(pdu_type=4, payload=None)"
    assert _pdu.DatasetReceived(7).context_id == 7


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_garbage_never_crashes(data):
    c = Collect()
    try:
        c.feed(data)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_pdata_never_crashes(body):
    c = Collect()
    try:
        c.feed(dn.pdu(4, body))
    except ProtocolError:
        pass


def test_large_association_pdu_grows_buffer():
    contexts = [(2 * i + 1, "1.2.840.10008.5.1.4.1.1.%d" % i, [dn.ELE] * 100) for i in range(120)]
    rq = dn.associate_rq(contexts)
    reader = _pdu.PDUReader(4096)
    initial = reader.capacity
    assert len(rq) > initial, "the request must not fit the initial buffer"
    events = []
    for i in range(0, len(rq), 65536):          # as a transport reads: a slice, then the events
        reader.feed(rq[i:i + 65536])
        events.append(reader.next_event())
    assert reader.capacity >= len(rq) > initial
    assert events[:-1] == [None] * (len(events) - 1)
    assert events[-1].pdu_type == 1
    parsed = _pdu.parse_associate_rq(events[-1].payload)
    assert len(parsed.presentation_contexts) == 120


def test_buffer_grows_with_bytes_received_not_announced():
    """A header that announces a 1 MiB PDU costs nothing until the bytes come."""
    reader = _pdu.PDUReader(4096)
    initial = reader.capacity
    reader.feed(b"\x01\x00" + struct.pack(">I", (1 << 20) - 6) + b"\0" * 100)
    assert reader.next_event() is None
    assert reader.capacity == initial
    reader.feed(b"\0" * initial)           # now more than the buffer holds has arrived
    assert initial < reader.capacity <= 4 * initial


# -- A-ASSOCIATE-RQ parsing ------------------------------------------------------

def test_parse_associate_rq_fields():
    roles = dn.item(0x54, struct.pack(">H", 3) + b"1.2" + b"\x01\x00")
    async_ops = dn.item(0x53, struct.pack(">HH", 5, 1))
    version = dn.item(0x55, b"TEST_1")
    ext = dn.item(0x56, struct.pack(">H", 3) + b"1.2" + b"\x01\x02")
    rq = dn.associate_rq([(1, dn.VERIFICATION, [dn.ILE, dn.ELE]), (3, dn.CT_IMAGE, [dn.EBE])],
                         called=b"  CALLED", calling=b"ME", extra_user=roles + async_ops + version + ext)
    p = _pdu.parse_associate_rq(rq[6:])
    assert p.protocol_version == 1
    assert p.called_ae_raw == b"  CALLED        " and p.called_ae == "CALLED"
    assert p.calling_ae == "ME"
    assert p.application_context == dn.APP_CONTEXT
    assert [(c.context_id, c.abstract_syntax, c.transfer_syntaxes) for c in p.presentation_contexts] == [
        (1, dn.VERIFICATION, [dn.ILE, dn.ELE]), (3, dn.CT_IMAGE, [dn.EBE])]
    assert p.user.max_length == 16384
    assert p.user.implementation_class_uid == "1.2.3.4"
    assert p.user.implementation_version_name == "TEST_1"
    assert p.user.async_ops_window == (5, 1)
    assert p.user.roles == {"1.2": (1, 0)}
    assert p.user.extended_negotiation == {"1.2": b"\x01\x02"}


def test_parse_associate_rq_every_truncation_is_an_error():
    rq = dn.associate_rq([(1, dn.VERIFICATION, [dn.ILE])])[6:]
    for n in range(len(rq)):
        body = rq[:n]
        try:
            _pdu.parse_associate_rq(body)
        except ProtocolError:
            continue
        # a cut exactly between two items is a shorter valid RQ
        assert n >= 68


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=68, max_size=400))
def test_parse_associate_rq_garbage(body):
    try:
        _pdu.parse_associate_rq(body)
    except ProtocolError:
        pass


# -- encoders and the command codec --------------------------------------------------

@pytest.mark.parametrize("max_pdu", [0, 4096, 16384])
def test_encode_pdata_respects_peer_maximum(max_pdu):
    data = bytes(range(256)) * 100
    encoded = _pdu.encode_pdata(5, data, False, max_pdu)
    pdus = dn.parse_pdus(encoded)
    payload = b""
    for i, (t, body) in enumerate(pdus):
        assert t == 4
        if max_pdu:
            assert len(body) <= max_pdu
        length = struct.unpack(">I", body[:4])[0]
        assert body[4] == 5 and body[5] == (2 if i == len(pdus) - 1 else 0)
        payload += body[6:4 + length]
    assert payload == data


def test_command_round_trip():
    raw = _dimse.encode_command([(0x0002, "1.2.840.10008.5.1.4.1.1.2"), (0x0100, 0x8001),
                               (0x0120, 7), (0x0800, 0x0101), (0x0900, 0xA700), (0x1000, "1.2.3")])
    cmd = _dimse.decode_command(raw)
    assert cmd == {0x0000: len(raw) - 12, 0x0002: "1.2.840.10008.5.1.4.1.1.2", 0x0100: 0x8001,
                   0x0120: 7, 0x0800: 0x0101, 0x0900: 0xA700, 0x1000: "1.2.3"}
    assert len(raw) % 2 == 0


def test_command_lengths_past_16_mib_round_trip():
    """All four bytes of the little-endian lengths are written: an element
    and a group length of more than 2**24 bytes."""
    big = b"\x01" * (1 << 24) + b"\x02\x03"
    raw = _dimse.encode_command([(0x0100, 0x0030), (0x4000, big)])
    assert struct.unpack_from("<I", raw, 8)[0] == len(raw) - 12 > 1 << 24
    cmd = _dimse.decode_command(raw)
    assert cmd[0x0000] == len(raw) - 12 and cmd[0x0100] == 0x0030 and cmd[0x4000] == big


@pytest.mark.parametrize("raw, message", [
    (b"", "empty"),
    (b"\x00\x00\x00\x01\x02\x00", "truncated"),
    (b"\x08\x00\x16\x00\x02\x00\x00\x001.", "outside group 0000"),
    (b"\x00\x00\x00\x01\x04\x00\x00\x00\x01\x00\x00\x00", "expected 2"),
    (b"\x00\x00\x10\x00\xff\xff\xff\xff", "overruns"),
])
def test_bad_command_sets(raw, message):
    with pytest.raises(ProtocolError, match=message):
        _dimse.decode_command(raw)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_command_garbage_never_crashes(raw):
    try:
        _dimse.decode_command(raw)
    except ProtocolError:
        pass


def test_command_with_non_ascii_uid_round_trips():
    """A UID with a non-ASCII byte decodes (replacement character) and the
    response that echoes it encodes (fuzzing finding)."""
    raw = _dimse.encode_command([(0x0002, "1.2.840.10008.1.1"), (0x0100, 0x0030), (0x0110, 1), (0x0800, 0x0101)])
    raw = raw.replace(b"1.2.840.10008.1.1", b"1.2.840.10008.1.\xe9")
    cmd = _dimse.decode_command(raw)
    assert cmd[0x0002] == "1.2.840.10008.1.\ufffd"
    again = _dimse.decode_command(_dimse.encode_command(sorted((k, v) for k, v in cmd.items() if k)))
    assert again[0x0002] == "1.2.840.10008.1.?"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.text(max_size=70))
def test_store_response_is_the_general_encoding(sop_class, message_id, status, sop_instance):
    """The C-STORE-RSP fast path encodes exactly what encode_command does
    (odd lengths padded, non-ASCII replaced, any status and message ID)."""
    general = _dimse.encode_command([(0x0002, sop_class), (0x0100, 0x8001), (0x0120, message_id),
                                     (0x0800, 0x0101), (0x0900, status), (0x1000, sop_instance)])
    assert _dimse.encode_store_response(sop_class, message_id, status, sop_instance) == general
