"""Fuzz target: fastscp._pdv's PDVAssembler, driven through its only entry,
fastscp._pdu.PDUReader, and the DIMSE command codec (decode_command,
encode_command, COMMAND_VR: fastscp._dimse, or fastscp._pdv in the layout
before that module was split out; CallbackSink likewise from fastscp._sink
or fastscp._pdv).

Input layout:

  byte 0   mode (byte % 3):
           0  decode_command(bytes 1..), then the round trip below
           1  a PDV sequence, sent in P-DATA-TF PDUs to a PDUReader (format below)
           2  encode_command on elements built from bytes 1.., then decode

Oracles:

* only fastscp.errors.ProtocolError may escape decode_command / next_event;
* round trip (mode 0): the association answers with values taken from a
  decoded command (association.py: _respond(encode_command([...cmd[...]...]))),
  and encode_command's docstring promises int -> US/UL, str -> padded text.
  So for every command decode_command accepts, with d = decode_command(raw):
  encode_command(sorted(d.items() without (0000,0000))) must succeed and
  decode back to d with (0000,0000) = the new group length (a U+FFFD that
  decode_command made of a non-ASCII byte may come back as "?": FINDINGS.md F1);
* mode 2: decode_command(encode_command(elements)) gives every element back
  (text without its trailing padding, as decode_command documents);
* mode 1: the events of PDUReader.next_event() (CommandReceived /
  DatasetReceived), its ProtocolErrors and the bytes the sink receives
  against a small reference model of the assembler written from its
  docstrings (command fragments collected per context up to command_cap,
  data set fragments only after expect_dataset, on that context, streamed to
  the sink, one call and one dataset_fragments count per PDV; message control
  header bits other than 0x01/0x02 refused), checked whenever next_event()
  returns.

PDV sequence format (mode 1), after byte 0:
  byte 1   command_cap = 16 * (byte + 1) (PDUReader's command_cap)
  then records: [op] ...
    op & 0xC0 == 0xC0: control record, op & 3: 0 reset(), 1 expect_dataset on
                       context (next byte), 2/3 decode + expect as the
                       association would for the last command
    else: a PDV: context id = next byte, header = op & 0x3F (bits beyond 0x03
          are invalid), length = next byte, then that many payload bytes;
          op & 0xC0 == 0x40: the PDV goes into the same P-DATA-TF PDU as the
          one before, else it starts a new PDU
  A control record takes effect when the reader next stops (next_event()
  returns an event, or None at the end of the PDU), as an association can
  only act then: between PDUs at once, inside a PDU after the next event.
"""
from __future__ import annotations

import os
import struct
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzutil  # noqa: E402
from fuzzutil import Finding, check  # noqa: E402

with atheris.instrument_imports(include=["fastscp"]):
    import fastscp._pdu as _pdu
    import fastscp._pdv as _pdv
    from fastscp.errors import ProtocolError
    _dimse, _sink = fuzzutil.command_and_sink_modules()

US, UL = 1, 2
#: P-DATA-TF PDUs up to 1 MiB: larger than any input (fuzz/run.sh: -max_len=4096)
MAX_PDATA = 1 << 20


def _known_non_ascii(d):
    """FINDINGS.md F1: decode_command decodes text with errors='replace'
    (U+FFFD), which encode_command cannot encode again."""
    return any(isinstance(v, str) and not v.isascii() for v in d.values())


def decode_round_trip(raw: bytes) -> None:
    try:
        d = _dimse.decode_command(raw)
    except ProtocolError:
        return
    check(isinstance(d, dict) and d, "decode_command returned %r" % (d,))
    for tag, value in d.items():
        check(0 <= tag <= 0xFFFF, "tag %#x outside group 0000" % tag)
        vr = _dimse.COMMAND_VR.get(tag, 0)
        if vr == US:
            check(isinstance(value, int) and 0 <= value <= 0xFFFF, "US %#x = %r" % (tag, value))
        elif vr == UL:
            check(isinstance(value, int) and 0 <= value <= 0xFFFFFFFF, "UL %#x = %r" % (tag, value))
        elif vr:
            check(isinstance(value, str), "text %#x = %r" % (tag, value))
        else:
            check(isinstance(value, bytes), "other %#x = %r" % (tag, value))
    elements = sorted((t, v) for t, v in d.items() if t != 0)
    try:
        raw2 = _dimse.encode_command(elements)
    except UnicodeEncodeError as exc:
        if fuzzutil.ALLOW_KNOWN and _known_non_ascii(d):
            return
        raise Finding("encode_command cannot encode what decode_command returned for %r: %s: %s"
                      % (raw[:200], type(exc).__name__, exc)) from exc
    d2 = _dimse.decode_command(raw2)
    # a U+FFFD of the decoded text may be sent back as "?" (errors="replace")
    want = {t: (v.encode("ascii", "replace").decode("ascii") if isinstance(v, str) else v)
            for t, v in elements}
    want[0] = len(raw2) - 12
    check(d2 == want, "round trip changed the command:\n  %r\n  %r" % (want, d2))


def _decoded(tag, raw):
    """What decode_command gives for raw value bytes of tag."""
    vr = _dimse.COMMAND_VR.get(tag, 0)
    if vr == US:
        return int.from_bytes(raw, "little")
    if vr == UL:
        return int.from_bytes(raw, "little")
    if vr:
        return raw.rstrip(b"\0 ").decode("ascii", "replace")
    return raw


def encode_then_decode(body: bytes) -> None:
    # elements: [tag lo][tag hi][kind][len][value...]
    tags = sorted(_dimse.COMMAND_VR)
    pos, elements = 0, {}
    while pos + 4 <= len(body) and len(elements) < 40:
        sel, hi, kind, n = body[pos], body[pos + 1], body[pos + 2], body[pos + 3]
        pos += 4
        tag = tags[sel % len(tags)] if hi & 0x80 == 0 else ((hi & 0x7F) << 8 | sel)
        if tag == 0:
            continue
        vr = _dimse.COMMAND_VR.get(tag, 0)
        chunk = body[pos:pos + n]
        pos += n
        if vr == US:
            elements[tag] = int.from_bytes(chunk[:2].ljust(2, b"\0"), "little")
        elif vr == UL:
            elements[tag] = int.from_bytes(chunk[:4].ljust(4, b"\0"), "little")
        elif kind & 1:
            elements[tag] = bytes(c & 0x7F for c in chunk).decode("ascii")
        else:
            elements[tag] = bytes(chunk)
    items = sorted(elements.items())
    raw = _dimse.encode_command(items)
    check(len(raw) >= 12 and raw[:8] == b"\0\0\0\0\4\0\0\0", "no group length first: %r" % raw[:12])
    d = _dimse.decode_command(raw)
    want = {0: len(raw) - 12}
    for tag, value in items:
        vr = _dimse.COMMAND_VR.get(tag, 0)
        if isinstance(value, str):
            enc = value.encode("ascii")
            if len(enc) & 1:
                enc += b"\0" if vr == 3 else b" "
        elif isinstance(value, int):
            enc = value.to_bytes(2 if vr == US else 4, "little")
        else:
            enc = value
        want[tag] = _decoded(tag, enc)
    check(d == want, "encode/decode changed the elements:\n  %r\n  %r" % (want, d))


class Model:
    """Reference behaviour of PDVAssembler, from its docstrings."""

    def __init__(self, cap):
        self.cap = cap
        self.command = b""
        self.command_ctx = -1
        self.sink = False
        self.dataset_ctx = -1
        self.received = []

    def add(self, ctx, header, data):
        if header & ~3:
            raise ProtocolError("header")
        if header & 1:
            if self.sink:
                raise ProtocolError("command while data set")
            if self.command_ctx == -1:
                self.command_ctx = ctx
            elif ctx != self.command_ctx:
                raise ProtocolError("command ctx")
            if len(self.command) + len(data) > self.cap:
                raise ProtocolError("cap")
            self.command += data
            if header & 2:
                cmd, self.command, self.command_ctx = self.command, b"", -1
                return ("command", ctx, cmd)
            return None
        if not self.sink:
            raise ProtocolError("no sink")
        if ctx != self.dataset_ctx:
            raise ProtocolError("dataset ctx")
        self.received.append(data)
        if header & 2:
            self.sink = False
            self.dataset_ctx = -1
            return ("dataset", ctx)
        return None


def _event_tuple(ev):
    """An event of the assembler as the model's tuple; its shape checked."""
    if ev is None:
        return None
    if type(ev) is _pdv.CommandReceived:
        check(type(ev.command) is bytes and 0 <= ev.context_id <= 255, "command event %r" % (ev,))
        return ("command", ev.context_id, ev.command)
    check(type(ev) is _pdv.DatasetReceived and 0 <= ev.context_id <= 255,
          "%r is neither a CommandReceived nor a DatasetReceived" % (ev,))
    return ("dataset", ev.context_id)


def _records(body: bytes):
    """The records of a mode 1 input: ("pdv", ctx, header, payload, joins)
    and ("control", what, ctx)."""
    pos, out = 0, []
    while pos < len(body):
        op = body[pos]
        pos += 1
        if op & 0xC0 == 0xC0:
            ctx = None
            if op & 3 == 1:
                if pos >= len(body):
                    break
                ctx = body[pos]
                pos += 1
            out.append(("control", op & 3, ctx))
            continue
        if pos + 2 > len(body):
            break
        ctx, n = body[pos], body[pos + 1]
        pos += 2
        out.append(("pdv", ctx, op & 0x3F, body[pos:pos + n], bool(op & 0x40)))
        pos += n
    return out


def _pdata_pdu(pdvs) -> bytes:
    items = b"".join(struct.pack(">I", len(payload) + 2) + bytes((ctx, header)) + payload
                     for ctx, header, payload in pdvs)
    return struct.pack(">BBI", 4, 0, len(items)) + items


class AssemblerRun:
    """Mode 1: P-DATA-TF PDUs through a PDUReader (the assembler's only
    entry), next to the model; the association's actions (control records)
    happen where an association can act: whenever next_event() returns."""

    def __init__(self, cap: int):
        self.cap = cap
        self.reader = _pdu.PDUReader(MAX_PDATA, command_cap=cap)
        self.reader.pdata_allowed = True
        self.model = Model(cap)
        self.got = []
        self.sink = _sink.CallbackSink(self.got.append)
        self.last_command = None

    def control(self, what, ctx) -> None:
        asm, model = self.reader.assembler, self.model
        if what == 0:
            asm.reset()
            model.__init__(self.cap)
            self.got.clear()
            return
        if what != 1:                   # as the association would, for the last command
            if self.last_command is None:
                return
            try:
                cmd = _dimse.decode_command(self.last_command[2])
            except ProtocolError:
                return
            if cmd.get(0x0800, 0x0101) == 0x0101:
                return
            ctx = self.last_command[1]
        asm.expect_dataset(ctx, self.sink)
        model.sink, model.dataset_ctx = True, ctx
        model.received = []
        self.got.clear()
        check(asm.dataset_fragments == 0 and asm.sink_error is None,
              "expect_dataset did not reset the counters")

    def model_walk(self, pdvs, k):
        """What the next next_event() should give: the model walks the PDU's
        PDVs from k to the first event or error (or the end: None)."""
        while k < len(pdvs):
            ctx, header, payload = pdvs[k]
            k += 1
            try:
                ev = self.model.add(ctx, header, payload)
            except ProtocolError:
                return ProtocolError, k
            if ev is not None:
                return ev, k
        return None, k

    def pdu(self, step, pdvs, controls) -> bool:
        """Feed one P-DATA-TF PDU and walk it; False once the association
        would abort (nothing more is defined then)."""
        reader, model = self.reader, self.model
        reader.feed(_pdata_pdu(pdvs))
        k = applied = 0
        while True:
            want, k = self.model_walk(pdvs, k)
            where = "record %d, PDV %d of %d in the PDU" % (step, k, len(pdvs))
            try:
                ev = _event_tuple(reader.next_event())
            except ProtocolError as exc:
                check(want is ProtocolError, "%s: next_event() raised %r; the model expects %r"
                      % (where, exc, want))
                return False
            check(want is not ProtocolError, "%s: next_event() returned %r; the model expects "
                  "ProtocolError" % (where, ev))
            check(ev == want, "%s: next_event() returned %r, the model %r" % (where, ev, want))
            asm = reader.assembler
            check(asm.sink_error is None, "CallbackSink failed: %r" % (asm.sink_error,))
            check(b"".join(self.got) == b"".join(model.received),
                  "%s: the sink received %d bytes, the model %d"
                  % (where, len(b"".join(self.got)), len(b"".join(model.received))))
            if model.sink or (ev is not None and ev[0] == "dataset"):
                check(asm.dataset_fragments == len(self.got) == len(model.received),
                      "%s: dataset_fragments %d, sink calls %d, model %d"
                      % (where, asm.dataset_fragments, len(self.got), len(model.received)))
            if ev is not None and ev[0] == "command":
                self.last_command = ev
            # the reader stopped: the actions after the PDVs walked so far are due
            while applied < len(controls) and controls[applied][0] <= k:
                self.control(*controls[applied][1])
                applied += 1
            if ev is None:
                check(reader.buffered == 0, "%s: %d bytes left after the PDU" % (where, reader.buffered))
                return True


def assembler_sequence(body: bytes) -> None:
    if not body:
        return
    run = AssemblerRun(16 * (body[0] + 1))
    records = _records(body[1:])
    i = 0
    while i < len(records):
        rec = records[i]
        if rec[0] == "control":         # between PDUs: the reader is idle
            run.control(*rec[1:])
            i += 1
            continue
        # one PDU: this PDV, the following ones that join it, and the
        # control records among and after them (each after so many PDVs)
        pdvs, controls, step = [rec[1:4]], [], i
        i += 1
        while i < len(records):
            rec = records[i]
            if rec[0] == "control":
                controls.append((len(pdvs), rec[1:]))
            elif rec[4]:
                pdvs.append(rec[1:4])
            else:
                break
            i += 1
        if not run.pdu(step, pdvs, controls):
            return


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode = data[0] % 3
    body = data[1:]
    if mode == 0:
        decode_round_trip(body)
    elif mode == 1:
        assembler_sequence(body)
    else:
        encode_then_decode(body)


if __name__ == "__main__":
    fuzzutil.instrument_module(globals())
    fuzzutil.main(TestOneInput)
