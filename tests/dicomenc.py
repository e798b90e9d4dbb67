"""Test helper: a minimal raw DICOM element encoder (no pydicom, so that
memory measurements in a subprocess see only fastscp)."""
import struct

LONG_VRS = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"}
UNDEF = 0xFFFFFFFF


class Enc:
    """Element encoder for explicit/implicit VR, little/big endian."""

    def __init__(self, explicit=True, be=False):
        self.explicit, self.be = explicit, be
        self.e = ">" if be else "<"

    def tag(self, t):
        return struct.pack(self.e + "HH", t >> 16, t & 0xFFFF)

    def el(self, t, vr, val, length=None):
        if isinstance(val, str):
            val = val.encode("latin1")
        n = len(val) if length is None else length
        if not self.explicit:
            return self.tag(t) + struct.pack(self.e + "I", n) + val
        vr = vr.encode()
        if vr in LONG_VRS:
            return self.tag(t) + vr + b"\0\0" + struct.pack(self.e + "I", n) + val
        return self.tag(t) + vr + struct.pack(self.e + "H", n) + val

    def ul(self, t, v):
        return self.el(t, "UL", struct.pack(self.e + "I", v))

    def item(self, content, undef=False):
        if undef:
            return (self.tag(0xFFFEE000) + struct.pack(self.e + "I", UNDEF) + content
                    + self.tag(0xFFFEE00D) + b"\0\0\0\0")
        return self.tag(0xFFFEE000) + struct.pack(self.e + "I", len(content)) + content

    def seq(self, t, items, undef=False, vr="SQ"):
        c = b"".join(items)
        if undef:
            return self.el(t, vr, c + self.tag(0xFFFEE0DD) + b"\0\0\0\0", length=UNDEF)
        return self.el(t, vr, c)
