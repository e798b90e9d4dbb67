"""Fuzz target: fastscp._writer.DatasetWriter under every output configuration,
and fastscp.deflate.DeflatedWriter with small limits.

Input layout (4 header bytes, then the data set as received):

  byte 0  bits 0-1  received transfer syntax: implicit LE, explicit LE,
                    explicit BE, JPEG baseline (1.2.840.10008.1.2.4.50)
          bits 2-3  output_transfer_syntax: None (as received), explicit LE,
                    explicit BE, implicit LE
          bits 4-5  group_length: recalc, create, remove, recalc
          bit  6    undefined_lengths
          bit  7    convert_un
  byte 1  bit  0    new_vrs=False
          bit  1    bit_preserving (then, as fastscp.output.writer_options:
                    only write_file_meta besides it, no output syntax)
          bit  2    write_file_meta=False
          bits 3-4  padding: None, (16, 8), (2*(b3>>4), 2*(b3&15)), (b3, b3>>2)
                    (the last may be odd: no padding at all)
          bits 5-6  DeflatedWriter: 0 no; 1 received syntax as above, stored
                    deflated (+td); 2 received deflated, the data set bytes
                    are the raw deflate stream; 3 received deflated, the data
                    set bytes are deflated here first
  byte 2           chunking seed (fuzzutil.chunks)
  byte 3           padding values (above); DeflatedWriter limits:
                   max_inflated_size = 512 * (1 + (b3 & 15)),
                   max_inflation_ratio = 1 + (b3 >> 4), and the ratio is
                   checked above 1 KiB (deflate.INFLATION_RATIO_FLOOR, patched)

Oracles:

* only fastscp.errors.DatasetError / OutputError may escape (write(),
  finish(), and the constructor for these valid options);
* after a successful finish(): bytes_written equals the file size, and with
  the file meta the file starts with 128 zero bytes and DICM;
* DatasetWriter (not DeflatedWriter) output is independent of the chunking:
  each input is also written in one piece into a second file, and the
  bytes, the finish() result, or the exception (type and message) must be
  the same.  Only inputs below 64 KiB are compared (a value chunk of 64 KiB
  is written directly, which may force the file meta early: documented).

The written file is an unlinked temporary file on one descriptor, truncated
between runs; the random SOP Instance UID of a data set without one is made
deterministic (uuid.uuid4 patched) so that the two runs can be compared.
"""
from __future__ import annotations

import os
import sys
import uuid
import zlib

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzzutil  # noqa: E402
from fuzzutil import Finding, check  # noqa: E402

with atheris.instrument_imports(include=["fastscp"]):
    import fastscp._writer as W
    import fastscp.deflate as deflate
    from fastscp.errors import DatasetError, OutputError

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
JPEG = "1.2.840.10008.1.2.4.50"
DEFLATED = "1.2.840.10008.1.2.1.99"
IN_TS = (IMPLICIT, EXPLICIT, BIG, JPEG)
OUT_TS = (None, EXPLICIT, BIG, IMPLICIT)
GROUP_LENGTH = ("recalc", "create", "remove", "recalc")
EXPECTED = (DatasetError, OutputError)
COMPARE_BELOW = 65536

_FIXED_UUID = uuid.UUID(int=0x1234567890ABCDEF1234567890ABCDEF)
uuid.uuid4 = lambda: _FIXED_UUID
deflate.INFLATION_RATIO_FLOOR = 1024

FD_A = fuzzutil.scratch_fd()
FD_B = fuzzutil.scratch_fd()
TEMP_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

COMMON = dict(calling_ae_title="FUZZSCU", implementation_class_uid="1.2.826.0.1.3680043.10.1",
              implementation_version_name="FASTSCP_FUZZ",
              command_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
              command_sop_instance_uid="1.2.3.4.5")


def options(b0, b1, b3):
    in_ts = IN_TS[b0 & 3]
    kw = dict(COMMON)
    if b1 & 2:
        kw.update(bit_preserving=True, write_file_meta=not (b1 & 4))
        return in_ts, kw
    out_ts = OUT_TS[(b0 >> 2) & 3]
    if out_ts is not None:
        kw["output_transfer_syntax"] = out_ts
    kw["group_length"] = GROUP_LENGTH[(b0 >> 4) & 3]
    kw["undefined_lengths"] = bool(b0 & 0x40)
    kw["convert_un"] = bool(b0 & 0x80)
    kw["new_vrs"] = not (b1 & 1)
    kw["write_file_meta"] = not (b1 & 4)
    pad = (b1 >> 3) & 3
    if pad == 1:
        kw["padding"] = (16, 8)
    elif pad == 2:
        kw["padding"] = (2 * (b3 >> 4), 2 * (b3 & 15))
    elif pad == 3:
        kw["padding"] = (b3, b3 >> 2)
    return in_ts, kw


def run_writer(fd, ds, in_ts, kw, seed):
    """(file bytes, finish result) or (None, (exception type, message))."""
    fuzzutil.reset_fd(fd)
    w = W.DatasetWriter(fd, in_ts, **kw)
    try:
        for piece in fuzzutil.chunks(ds, seed):
            w.write(piece)
        res = w.finish()
    except EXPECTED as exc:
        return None, (type(exc).__name__, str(exc))
    finally:
        w.close()
    return fuzzutil.read_fd(fd), res


def check_file(out, res, kw, what):
    check(type(res) is W.WriteResult, "%s: finish() returned %r" % (what, res))
    check(res.bytes_written == len(out), "%s: bytes_written %d, file has %d bytes"
          % (what, res.bytes_written, len(out)))
    if kw.get("write_file_meta", True):
        check(out[:132] == b"\0" * 128 + b"DICM", "%s: no preamble/DICM: %r" % (what, out[:132]))


def run_deflated(ds, in_ts, kw, mode, seed, b3):
    kw = dict(kw)
    out_ts = kw.pop("output_transfer_syntax", None)
    limits = dict(max_inflated_size=512 * (1 + (b3 & 15)), max_inflation_ratio=1 + (b3 >> 4),
                  temp_dir=TEMP_DIR)
    if mode == 1:
        ts, out_ts = in_ts, DEFLATED
    else:
        ts = DEFLATED
        if mode == 3:
            co = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            ds = co.compress(ds) + co.flush()
    fuzzutil.reset_fd(FD_A)
    w = deflate.DeflatedWriter(FD_A, ts, output_transfer_syntax=out_ts, **limits, **kw)
    try:
        for piece in fuzzutil.chunks(ds, seed):
            w.write(piece)
        res = w.finish()
    except EXPECTED:
        return
    finally:
        w.close()
    check_file(fuzzutil.read_fd(FD_A), res, kw, "DeflatedWriter")


def TestOneInput(data: bytes) -> None:
    if len(data) < 4:
        return
    b0, b1, seed, b3 = data[0], data[1], data[2], data[3]
    ds = data[4:]
    in_ts, kw = options(b0, b1, b3)
    dmode = (b1 >> 5) & 3
    if dmode and not kw.get("bit_preserving"):
        run_deflated(ds, in_ts, kw, dmode, seed, b3)
        return
    got = run_writer(FD_A, ds, in_ts, kw, seed)
    if got[0] is not None:
        check_file(got[0], got[1], kw, "DatasetWriter")
    if seed != 0 and len(ds) < COMPARE_BELOW:
        ref = run_writer(FD_B, ds, in_ts, kw, 0)
        if got != ref:
            if got[0] is None or ref[0] is None:
                detail = "in pieces: %r\n  whole: %r" % (
                    got[1] if got[0] is None else "ok (%d bytes)" % len(got[0]),
                    ref[1] if ref[0] is None else "ok (%d bytes)" % len(ref[0]))
            elif got[0] != ref[0]:
                i = next((i for i, (a, b) in enumerate(zip(got[0], ref[0])) if a != b),
                         min(len(got[0]), len(ref[0])))
                detail = "files differ at byte %d (%d vs %d bytes)" % (i, len(got[0]), len(ref[0]))
            else:
                detail = "finish() results differ: %r vs %r" % (got[1], ref[1])
            raise Finding("DatasetWriter(%s, %r) output depends on the chunking (seed %d):\n  %s"
                          % (in_ts, {k: v for k, v in kw.items() if k not in COMMON}, seed, detail))


if __name__ == "__main__":
    fuzzutil.instrument_module(globals())
    fuzzutil.main(TestOneInput)
