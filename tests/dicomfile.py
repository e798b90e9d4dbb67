"""Test helper: split a DICOM file into its file meta elements and data set bytes."""
import struct
from pathlib import Path
from typing import Dict, Tuple

#: (0002,xxxx) elements that identify the writing implementation; they differ by design.
IMPLEMENTATION_ELEMENTS = {0x0012, 0x0013}


def split_file(path) -> Tuple[Dict[int, bytes], bytes]:
    """({meta element: raw value}, data set bytes) of a file with preamble + DICM."""
    data = Path(path).read_bytes()
    assert data[128:132] == b"DICM", "%s has no DICM prefix" % path
    pos, meta = 132, {}
    while pos + 8 <= len(data):
        group, element = struct.unpack("<HH", data[pos:pos + 4])
        if group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            length = struct.unpack("<I", data[pos + 8:pos + 12])[0]
            start = pos + 12
        else:
            length = struct.unpack("<H", data[pos + 6:pos + 8])[0]
            start = pos + 8
        meta[element] = (vr, data[start:start + length])
        pos = start + length
    return meta, data[pos:]


def comparable_meta(meta):
    return {k: v for k, v in meta.items() if k not in IMPLEMENTATION_ELEMENTS and k != 0x0000}
