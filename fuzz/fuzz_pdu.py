"""Fuzz target: fastscp._pdu (PDUReader framing, parse_associate_rq).

Input layout (so that the seed corpus in corpus/pdu/ stays meaningful):

  byte 0   bits 0-1  mode: 0 = parse_associate_rq(bytes 2..), else a PDU stream
           bit  2    pdata_allowed from the start (else only after an
                     A-ASSOCIATE-RQ that parse_associate_rq accepts)
           bit  3    transport path: get_buffer()/buffer_updated() with the
                     events drained after every piece (as the server's
                     BufferedProtocol does), else feed()
           bits 4-7  max_pdata_length, index into MAX_PDATA
  byte 1   bits 0-3  max_other_length, index into MAX_OTHER
           bits 4-7  chunking seed (fuzzutil.chunks)
  bytes 2.. the payload / the byte stream

Stream mode plays the association's part: every A-ASSOCIATE-RQ body goes to
parse_associate_rq, every complete command to decode_command, and a command
whose (0000,0800) announces a data set makes the assembler expect one (into
a CallbackSink).  Oracles:

* only fastscp.errors.ProtocolError may escape (the reader has no documented
  ValueError for bytes off the wire; buffer_updated's ValueError is for a
  caller's bad count, which this target never passes);
* events are well formed (PDUReceived / CommandReceived / DatasetReceived
  with fields of the right types, context ids, one sink call per data set
  PDV the assembler counted (dataset_fragments), the sink never failed);
* the events and the error (type and message) do not depend on how the
  stream is split: every input is run twice, once in the fuzzer-chosen
  pieces and once fed whole.
"""
from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzutil  # noqa: E402
from fuzzutil import Finding, check  # noqa: E402

with atheris.instrument_imports(include=["fastscp"]):
    import fastscp._pdu as _pdu
    from fastscp.errors import ProtocolError
    _dimse, _sink = fuzzutil.command_and_sink_modules()

MAX_PDATA = (0, 1, 2, 6, 8, 16, 64, 128, 1024, 4096, 16384, 16384, 32768, 65536, 131072, 16378)
MAX_OTHER = (0, 4, 6, 16, 68, 100, 256, 1024, 4096, 65536, _pdu.MAX_ASSOCIATION_PDU,
             _pdu.MAX_ASSOCIATION_PDU, _pdu.MAX_ASSOCIATION_PDU, 1 << 16, 1 << 20, 1 << 20)


EVENT_TYPES = (_pdu.PDUReceived, _pdu.CommandReceived, _pdu.DatasetReceived)


def _drain(reader, log, sink_data, sink):
    while True:
        ev = reader.next_event()
        if ev is None:
            return
        kind = type(ev)
        check(kind in EVENT_TYPES, "event %r is of no event type" % (ev,))
        if kind is _pdu.PDUReceived:
            ptype, payload = ev.pdu_type, ev.payload
            check(1 <= ptype <= 7, "pdu event of type %r" % ptype)
            if ptype == 4:
                check(payload is None and not reader.pdata_allowed,
                      "P-DATA-TF reported as a pdu event while pdata_allowed=%r" % reader.pdata_allowed)
                log.append(("pdu", 4))
                continue
            check(type(payload) is bytes, "pdu payload %r" % type(payload))
            entry = ("pdu", ptype, payload)
            if ptype == 1:
                try:
                    rq = _pdu.parse_associate_rq(payload)
                except ProtocolError as exc:
                    entry += ("rq-error", str(exc))
                else:
                    entry += (repr(rq),)
                    reader.pdata_allowed = True
            log.append(entry)
        elif kind is _pdu.CommandReceived:
            ctx, raw = ev.context_id, ev.command
            check(reader.pdata_allowed and 0 <= ctx <= 255 and type(raw) is bytes,
                  "command event %r" % (ev,))
            try:
                cmd = _dimse.decode_command(raw)
            except ProtocolError as exc:
                log.append(("command", ctx, raw, "cmd-error", str(exc)))
                continue
            log.append(("command", ctx, raw))
            if cmd.get(0x0800, 0x0101) != 0x0101:
                sink_data.clear()
                reader.assembler.expect_dataset(ctx, sink)
        else:
            ctx = ev.context_id
            check(reader.pdata_allowed and 0 <= ctx <= 255, "dataset event %r" % (ev,))
            asm = reader.assembler
            check(asm.sink_error is None, "CallbackSink failed: %r" % (asm.sink_error,))
            # one sink call per data set PDV, counted by the assembler
            check(len(sink_data) == asm.dataset_fragments,
                  "data set event after %d sink calls, assembler counted %d PDVs"
                  % (len(sink_data), asm.dataset_fragments))
            got = b"".join(sink_data)
            sink_data.clear()
            log.append(("dataset", ctx, got, asm.dataset_fragments))


def run_stream(stream, max_pdata, max_other, pdata_allowed, seed, use_buffer):
    reader = _pdu.PDUReader(max_pdata, max_other)
    reader.pdata_allowed = pdata_allowed
    log, sink_data = [], []
    sink = _sink.CallbackSink(sink_data.append)
    error = None
    try:
        for piece in fuzzutil.chunks(stream, seed):
            if use_buffer:
                view = memoryview(piece)
                while True:
                    buf = reader.get_buffer()
                    check(len(buf) > 0, "get_buffer() returned an empty view")
                    k = min(len(buf), len(view))
                    buf[:k] = view[:k]
                    del buf
                    reader.buffer_updated(k)
                    view = view[k:]
                    _drain(reader, log, sink_data, sink)
                    if not len(view):
                        break
            else:
                reader.feed(piece)
                _drain(reader, log, sink_data, sink)
    except ProtocolError as exc:
        error = ("ProtocolError", str(exc))
    check(0 <= reader.buffered <= reader.capacity,
          "buffered=%d capacity=%d" % (reader.buffered, reader.capacity))
    return log, error


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    b0, b1 = data[0], data[1]
    body = data[2:]
    if b0 & 3 == 0:
        try:
            rq = _pdu.parse_associate_rq(body)
        except ProtocolError:
            return
        check(len(body) >= 68, "A-ASSOCIATE-RQ of %d bytes accepted" % len(body))
        check(rq.called_ae_raw == body[4:20] and rq.calling_ae_raw == body[20:36],
              "AE title fields not taken from bytes 4..36")
        for pc in rq.presentation_contexts:
            check(0 <= pc.context_id <= 255 and pc.transfer_syntaxes, "context %r" % (pc,))
        return
    max_pdata = MAX_PDATA[b0 >> 4]
    max_other = MAX_OTHER[b1 & 15]
    pdata_allowed = bool(b0 & 4)
    use_buffer = bool(b0 & 8)
    seed = b1 >> 4
    got = run_stream(body, max_pdata, max_other, pdata_allowed, seed, use_buffer)
    if seed != 0 or use_buffer:
        ref = run_stream(body, max_pdata, max_other, pdata_allowed, 0, False)
        if got != ref:
            raise Finding("PDUReader result depends on how the stream is split:\n"
                          "  in pieces (seed %d, get_buffer=%s): %d events, error %r\n"
                          "  whole:                           %d events, error %r\n"
                          "  first difference at event %s"
                          % (seed, use_buffer, len(got[0]), got[1], len(ref[0]), ref[1],
                             next((i for i, (a, b) in enumerate(zip(got[0], ref[0])) if a != b),
                                  min(len(got[0]), len(ref[0])))))


if __name__ == "__main__":
    fuzzutil.instrument_module(globals())
    fuzzutil.main(TestOneInput)
