"""Fuzz target: fastscp._pdv's PDVAssembler and the DIMSE command codec
(decode_command, encode_command, COMMAND_VR: fastscp._dimse, or fastscp._pdv
in the layout before that module was split out; CallbackSink likewise from
fastscp._sink or fastscp._pdv).

Input layout:

  byte 0   mode (byte % 3):
           0  decode_command(bytes 1..), then the round trip below
           1  a PDV sequence for PDVAssembler.add_pdv (format below)
           2  encode_command on elements built from bytes 1.., then decode

Oracles:

* only fastscp.errors.ProtocolError may escape decode_command / add_pdv;
* round trip (mode 0): the association answers with values taken from a
  decoded command (association.py: _respond(encode_command([...cmd[...]...]))),
  and encode_command's docstring promises int -> US/UL, str -> padded text.
  So for every command decode_command accepts, with d = decode_command(raw):
  encode_command(sorted(d.items() without (0000,0000))) must succeed and
  decode back to d with (0000,0000) = the new group length (a U+FFFD that
  decode_command made of a non-ASCII byte may come back as "?": FINDINGS.md F1);
* mode 2: decode_command(encode_command(elements)) gives every element back
  (text without its trailing padding, as decode_command documents);
* mode 1: PDVAssembler against a small reference model written from its
  docstrings (command fragments collected per context up to command_cap,
  data set fragments only after expect_dataset, on that context, streamed to
  the sink; message control header bits other than 0x01/0x02 refused).

PDV sequence format (mode 1), after byte 0:
  byte 1   command_cap = 16 * (byte + 1)
  then records: [op] ...
    op & 0xC0 == 0xC0: control record, op & 3: 0 reset(), 1 expect_dataset on
                       context (next byte), 2/3 decode + expect as the
                       association would for the last command
    else: a PDV: context id = next byte, header = op & 0x3F (bits beyond 0x03
          are invalid), length = next byte, then that many payload bytes
"""
from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzutil  # noqa: E402
from fuzzutil import Finding, check  # noqa: E402

with atheris.instrument_imports(include=["fastscp"]):
    import fastscp._pdv as _pdv
    from fastscp.errors import ProtocolError
    _dimse, _sink = fuzzutil.command_and_sink_modules()

US, UL = 1, 2


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


def assembler_sequence(body: bytes) -> None:
    if not body:
        return
    cap = 16 * (body[0] + 1)
    asm = _pdv.PDVAssembler(cap)
    model = Model(cap)
    got = []
    sink = _sink.CallbackSink(got.append)
    last_command = None
    pos = 1
    step = 0
    while pos < len(body):
        op = body[pos]
        pos += 1
        step += 1
        if op & 0xC0 == 0xC0:
            what = op & 3
            if what == 0:
                asm.reset()
                model.__init__(cap)
                got.clear()
            else:
                if what == 1:
                    if pos >= len(body):
                        return
                    ctx = body[pos]
                    pos += 1
                else:
                    if last_command is None:
                        continue
                    try:
                        cmd = _dimse.decode_command(last_command[2])
                    except ProtocolError:
                        continue
                    if cmd.get(0x0800, 0x0101) == 0x0101:
                        continue
                    ctx = last_command[1]
                asm.expect_dataset(ctx, sink)
                model.sink, model.dataset_ctx = True, ctx
                model.received = []
                got.clear()
                check(asm.expecting_dataset and asm.dataset_bytes == 0 and asm.dataset_fragments == 0,
                      "expect_dataset did not reset the counters")
            continue
        if pos + 2 > len(body):
            return
        ctx, n = body[pos], body[pos + 1]
        pos += 2
        payload = body[pos:pos + n]
        pos += n
        header = op & 0x3F
        try:
            want = model.add(ctx, header, payload)
        except ProtocolError:
            want = ProtocolError
        try:
            ev = _event_tuple(asm.add_pdv(ctx, header, payload))
        except ProtocolError as exc:
            check(want is ProtocolError,
                  "step %d: add_pdv(%d, %#x, %d bytes) raised %r; the model expects %r"
                  % (step, ctx, header, len(payload), exc, want))
            return      # the association aborts here: nothing more is defined
        check(want is not ProtocolError,
              "step %d: add_pdv(%d, %#x, %d bytes) returned %r; the model expects ProtocolError"
              % (step, ctx, header, len(payload), ev))
        check(ev == want, "step %d: add_pdv returned %r, the model %r" % (step, ev, want))
        check(asm.sink_error is None, "CallbackSink failed: %r" % (asm.sink_error,))
        if ev is not None and ev[0] == "command":
            last_command = ev
        check(b"".join(got) == b"".join(model.received),
              "step %d: the sink received %d bytes, the model %d"
              % (step, len(b"".join(got)), len(b"".join(model.received))))
        check(asm.expecting_dataset == model.sink, "step %d: expecting_dataset %r, model %r"
              % (step, asm.expecting_dataset, model.sink))
        if model.sink or (ev is not None and ev[0] == "dataset"):
            check(asm.dataset_bytes == len(b"".join(model.received))
                  and asm.dataset_fragments == len(model.received),
                  "step %d: dataset_bytes %d / fragments %d, model %d / %d"
                  % (step, asm.dataset_bytes, asm.dataset_fragments,
                     len(b"".join(model.received)), len(model.received)))


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
