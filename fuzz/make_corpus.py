"""Build the seed corpora in fuzz/corpus/<target>/ from real data.

  .venv-test/bin/python fuzz/make_corpus.py

* writer: the data sets (bytes after the file meta, as tests/dicomfile.py's
  split_file cuts them) of small files of pydicom's test_files directory,
  in their transfer syntax (other encapsulated syntaxes fed as JPEG
  baseline, which has the same encapsulated layout; deflated ones as raw
  deflate input), plus tests/test_writer.py's crafted_cases, each under a
  few output configurations;
* pdu: PDU streams made with tests/dicomnet.py's encoders (A-ASSOCIATE-RQ
  with every user information sub-item, P-DATA-TF with commands and data
  sets, release, abort) and A-ASSOCIATE-RQ bodies for parse_associate_rq;
* pdv: command sets (tests/dicomnet.py and fastscp's encode_command), PDV
  sequences for the assembler, element lists for encode_command.

The script is deterministic; it rewrites the three directories.  The whole
corpus is kept well under 2 MB (files above MAX_FILE bytes are skipped).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

import dicomnet as net  # noqa: E402
from dicomfile import split_file  # noqa: E402

MAX_FILE = 40 * 1024
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
CT = "1.2.840.10008.5.1.4.1.1.2"

# pydicom test files used for the writer corpus (small, varied)
WRITER_FILES = [
    "MR_small_implicit.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "CT_small.dcm",
    "rtplan.dcm", "rtstruct.dcm", "rtdose_1frame.dcm", "rtdose_expb_1frame.dcm",
    "nested_priv_SQ.dcm", "priv_SQ.dcm", "UN_sequence.dcm", "empty_charset_LEI.dcm",
    "reportsi.dcm", "test-SR.dcm", "SC_rgb_small_odd.dcm", "SC_rgb_small_odd_big_endian.dcm",
    "SC_rgb_small_odd_jpeg.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm", "JPEG2000.dcm",
    "JPEG2000-embedded-sequence-delimiter.dcm", "JPEGLSNearLossless_08.dcm",
    "rtplan_truncated.dcm", "MR_truncated.dcm", "image_dfl.dcm", "no_meta_group_length.dcm",
    "meta_missing_tsyntax.dcm", "badVR.dcm", "waveform_ecg.dcm",
]
NO_META = {"ExplVR_LitEndNoMeta.dcm": EXPLICIT, "ExplVR_BigEndNoMeta.dcm": BIG}

# writer header: byte0 = in_ts | out_ts<<2 | gl<<4 | undef<<6 | convert_un<<7,
# byte1 = old_vrs | bitpres<<1 | no_meta<<2 | padding<<3 | deflate<<5, byte2 = seed, byte3
WRITER_CONFIGS = [
    (0x00, 0x00, 7, 0x00),          # defaults, storescp-like
    (0x04 | 0x40, 0x08, 3, 0x00),   # +te -e, padding (16, 8)
    (0x08 | 0x10 | 0x80, 0x01, 5, 0x00),  # +tb +g +uc -u
    (0x0C | 0x20, 0x04, 11, 0x00),  # +ti -g -F
    (0x00, 0x02, 2, 0x00),          # +B
    (0x00, 0x20, 9, 0x3F),          # +td
    (0x00, 0x10, 13, 0x48),         # padding from byte 3
]
IN_INDEX = {IMPLICIT: 0, EXPLICIT: 1, BIG: 2}


def out(target, name, data, written):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:8]
    if h in written:
        return
    written.add(h)
    with open(os.path.join(d, "%s-%s" % (name, h)), "wb") as f:
        f.write(data)


def writer_corpus():
    import pydicom.data
    base = os.path.join(os.path.dirname(pydicom.data.__file__), "test_files")
    written = set()
    k = 0
    for name in WRITER_FILES + sorted(NO_META):
        path = os.path.join(base, name)
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_FILE:
            continue
        if name in NO_META:
            ts, ds = NO_META[name], open(path, "rb").read()
        else:
            try:
                meta, ds = split_file(path)
            except AssertionError:
                continue
            ts = meta.get(0x0010, (b"UI", EXPLICIT.encode()))[1].rstrip(b"\0 ").decode()
        stem = name.rsplit(".", 1)[0]
        if ts == DEFLATED:
            # raw deflate stream as received, stored as received and as explicit LE
            out("writer", stem + "-dfl", bytes((0x00, 0x40, 5, 0xFF)) + ds, written)
            out("writer", stem + "-dfl-te", bytes((0x04, 0x40, 0, 0xFF)) + ds, written)
            plain = zlib.decompress(ds, -zlib.MAX_WBITS)
            out("writer", stem + "-inflated", bytes((0x01, 0x00, 3, 0x00)) + plain, written)
            continue
        in_index = IN_INDEX.get(ts, 3)   # every other (encapsulated) syntax: as JPEG baseline
        configs = WRITER_CONFIGS[k % len(WRITER_CONFIGS)], WRITER_CONFIGS[(k + 3) % len(WRITER_CONFIGS)]
        k += 1
        for b0, b1, seed, b3 in configs:
            if in_index == 3 and b0 & 0x0C:
                b0 &= ~0x0C      # keep the seed convertible: encapsulated stays as received
            out("writer", stem, bytes((b0 | in_index, b1, seed, b3)) + ds, written)
    try:
        import test_writer
    except Exception as exc:   # pytest/hypothesis missing: the pydicom seeds still do
        print("crafted cases skipped: %s" % exc)
        return
    for tsk, index in (("el", 1), ("il", 0), ("eb", 2)):
        for case, ds in sorted(test_writer.crafted_cases(tsk).items()):
            if len(ds) > MAX_FILE:
                continue
            b0, b1, seed, b3 = WRITER_CONFIGS[k % len(WRITER_CONFIGS)]
            k += 1
            out("writer", "crafted-%s-%s" % (tsk, case), bytes((b0 | index, b1, seed, b3)) + ds, written)


def small_dataset():
    import pydicom.data
    _, ds = split_file(os.path.join(os.path.dirname(pydicom.data.__file__), "test_files",
                                    "nested_priv_SQ.dcm"))
    return ds


def pdu_corpus():
    from fastscp._pdu import encode_pdata
    written = set()
    user = (net.item(0x55, b"FUZZ_VERSION") + net.item(0x53, struct.pack(">HH", 1, 1))
            + net.item(0x54, struct.pack(">H", len(CT)) + CT.encode() + b"\1\1")
            + net.item(0x56, struct.pack(">H", len(CT)) + CT.encode() + b"\1\0\1")
            + net.item(0x57, struct.pack(">H", len(CT)) + CT.encode() + b"\0\0\0\0")
            + net.item(0x58, b"\1\0\0\4user\0\0"))
    rq_full = net.associate_rq([(1, net.VERIFICATION, [net.ILE]), (3, CT, [net.ELE, net.ILE, net.EBE]),
                                (5, CT, ["1.2.840.10008.1.2.4.50"])], extra_user=user)
    rq_plain = net.associate_rq([(1, CT, [net.ILE])])
    rq_odd = net.associate_rq([(1, CT, [net.ILE])], max_length=None, impl_uid=None, version=2,
                              called=b"", calling=b"X" * 20)
    for name, rq in (("full", rq_full), ("plain", rq_plain), ("odd", rq_odd)):
        out("pdu", "parse-" + name, b"\x00\x00" + rq[6:], written)
    ds = small_dataset()
    store = net.store_rq(CT, "1.2.3.4.5")
    echo = net.echo_rq(7)
    # b0: mode 1, bit2 pdata_allowed, bit3 get_buffer path, bits4-7 max pdata index
    # b1: bits0-3 max other index, bits4-7 chunk seed
    session = (rq_full + net.pdata(1, echo, True)
               + net.pdata(3, store[:20], True, last=False) + net.pdata(3, store[20:], True)
               + net.pdata(3, ds[:100], False, last=False) + net.pdata(3, ds[100:], False)
               + net.release_rq())
    out("pdu", "session", bytes((0xA1, 0x0A | 0x30)) + session, written)
    out("pdu", "session-buffered", bytes((0xA9, 0x0A | 0x70)) + session, written)
    small = (encode_pdata(3, store, True, 64) + encode_pdata(3, ds, False, 64))
    out("pdu", "pdata-small-pdus", bytes((0x75, 0x0A | 0x10)) + rq_plain + small, written)
    out("pdu", "pdata-allowed", bytes((0xAD, 0x0A | 0x20)) + small + net.abort_pdu(2, 1), written)
    out("pdu", "unexpected-pdus", bytes((0x91, 0x0A | 0x50))
        + net.pdata(1, echo, True) + net.pdu(0x02, b"\0" * 68) + net.pdu(0x03, b"\0\1\1\1")
        + net.pdu(0x06, b"\0" * 4) + rq_odd + net.abort_pdu(), written)
    two = (net.pdu(0x04, struct.pack(">I", len(store) + 2) + b"\x03\x03" + store
                   + struct.pack(">I", 102) + b"\x03\x00" + ds[:100])
           + net.pdata(3, ds[100:], False))
    out("pdu", "two-pdvs-one-pdu", bytes((0xA5, 0x0A | 0x40)) + two, written)


def pdv_corpus():
    sys.path.insert(0, HERE)
    import fuzzutil
    encode_command = fuzzutil.command_and_sink_modules()[0].encode_command
    written = set()
    store = net.store_rq(CT, "1.2.3.4.5", 3)
    echo = net.echo_rq(1)
    move_store = encode_command([(0x0002, CT), (0x0100, 1), (0x0110, 9), (0x0700, 2), (0x0800, 0),
                                 (0x1000, "1.2.3.4.5.6"), (0x1030, "MOVESCU"), (0x1031, 77)])
    rsp = encode_command([(0x0002, CT), (0x0100, 0x8001), (0x0120, 9), (0x0800, 0x0101),
                          (0x0900, 0xB006), (0x0902, "error comment"), (0x1000, "1.2.3")])
    odd = net.command_set([(0x0002, b"1.2.3 \0"), (0x0100, b"\1\0"), (0x4000, b"\xff\xfe\xfd"),
                           (0x0600, b"AE TITLE ")])
    for name, cmd in (("store", store), ("echo", echo), ("store-move", move_store), ("rsp", rsp),
                      ("odd", odd)):
        out("pdv", "decode-" + name, b"\x00" + cmd, written)

    def pdv(header, ctx, payload):
        assert len(payload) < 256
        return bytes((header, ctx, len(payload))) + payload

    ds = small_dataset()
    seq = (bytes((15,)) + pdv(1, 3, store[:40]) + pdv(3, 3, store[40:]) + b"\xC2"
           + pdv(0, 3, ds[:200]) + pdv(2, 3, ds[200:255]) + pdv(3, 3, echo))
    out("pdv", "assembler-store", b"\x01" + seq, written)
    seq2 = (bytes((3,)) + pdv(1, 1, echo) + pdv(1, 1, echo) + pdv(3, 2, echo) + b"\xC0"
            + b"\xC1\x05" + pdv(0, 5, ds[:30]) + pdv(4, 5, b"") + pdv(2, 5, ds[30:31]))
    out("pdv", "assembler-mixed", b"\x01" + seq2, written)
    # the same store in one P-DATA-TF PDU (0x40: the PDV joins the PDU before),
    # the data set expected right after the command's event, inside the PDU
    seq3 = (bytes((15,)) + pdv(1, 3, store[:40]) + pdv(0x43, 3, store[40:]) + b"\xC2"
            + pdv(0x40, 3, ds[:200]) + pdv(0x42, 3, ds[200:255]) + pdv(3, 3, echo))
    out("pdv", "assembler-one-pdu", b"\x01" + seq3, written)

    def el(sel, hi, kind, value):
        return bytes((sel, hi, kind, len(value))) + value

    lst = (el(1, 0, 1, CT.encode()) + el(3, 0, 0, b"\1\0") + el(5, 0, 0, b"\5\0")
           + el(0x10, 0, 1, b"1.2.3.4") + el(0x21, 0x90, 0, b"raw") + el(0x10, 0, 0, b"1.2 \0"))
    out("pdv", "encode-list", b"\x02" + lst, written)


def proxy_corpus():
    """PROXY protocol headers (byte 0: chunking seed), each followed by
    the first bytes of an A-ASSOCIATE-RQ."""
    import ipaddress
    written = set()
    after = b"\x01\x00\x00\x00\x00\xcd\x00\x01"
    sig = b"\r\n\r\n\x00\r\nQUIT\n"

    def v2(ver_cmd, fam, block):
        return sig + bytes([ver_cmd, fam]) + struct.pack(">H", len(block)) + block

    def inet(src, dst):
        a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        return a.packed + b.packed + struct.pack(">HH", 40000, 104)

    tlvs = b"\x01\x00\x05dicom" + b"\x04\x00\x00" + b"\x20\x00\x05\x01\x00\x00\x00\x00"
    cases = {
        "v1-tcp4": b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 104\r\n",
        "v1-tcp6": b"PROXY TCP6 2001:db8::7 ::ffff:192.0.2.1 65535 0\r\n",
        "v1-unknown": b"PROXY UNKNOWN\r\n",
        "v1-unknown-long": b"PROXY UNKNOWN " + b"f" * 90 + b"\r\n",
        "v1-lf-only": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "v2-tcp4": v2(0x21, 0x11, inet("192.0.2.7", "198.51.100.1")),
        "v2-tcp6-tlv": v2(0x21, 0x21, inet("2001:db8::7", "2001:db8::1") + tlvs),
        "v2-udp4": v2(0x21, 0x12, inet("192.0.2.7", "198.51.100.1")),
        "v2-local": v2(0x20, 0x00, b""),
        "v2-local-block": v2(0x20, 0x11, inet("127.0.0.1", "127.0.0.1")),
        "v2-unix": v2(0x21, 0x31, b"/run/a".ljust(108, b"\x00") + b"/run/b".ljust(108, b"\x00")),
        "v2-unspec": v2(0x21, 0x00, b"xyz"),
        "v2-short": v2(0x21, 0x21, b"\x00" * 12),
        "no-header": b"",
    }
    for name, header in sorted(cases.items()):
        for seed in (0, 1, 5):
            out("proxy", "%s-s%d" % (name, seed), bytes([seed]) + header + after, written)


def main():
    for target in ("writer", "pdu", "pdv", "proxy"):
        shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)
    writer_corpus()
    pdu_corpus()
    pdv_corpus()
    proxy_corpus()
    total = 0
    for target in ("writer", "pdu", "pdv", "proxy"):
        d = os.path.join(HERE, "corpus", target)
        files = os.listdir(d)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
        total += size
        print("%-6s %3d files %8d bytes" % (target, len(files), size))
    print("total  %8d bytes" % total)


if __name__ == "__main__":
    main()
