"""Storing objects received in Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99).

storescp (default ``+t=``) writes such an object deflated again: file meta
information with that transfer syntax, then the data set -- parsed and
re-encoded as for explicit VR little endian -- compressed with zlib's raw
deflate at level 6 (``+cl`` default; window 15 bits, memory level 8, default
strategy).  Measured: recompressing the inflated data set of a storescp file
that way gives storescp's bytes exactly.

`DeflatedWriter` does the same with bounded memory:

1. each received fragment is inflated in slices of at most
   ``INFLATE_SLICE`` bytes and streamed into a `DatasetWriter` for explicit
   VR little endian, which writes an ordinary (uncompressed) DICOM file into
   an anonymous temporary file next to the destination;
2. at the end the file meta information is copied with the transfer syntax
   replaced, and the data set is deflated from the temporary file into the
   real file in slices.
"""
from __future__ import annotations

import os
import struct
import tempfile
import zlib
from typing import Optional

from fastscp._pdv import CallbackSink
from fastscp._writer import DatasetWriter
from fastscp.errors import DatasetError
from fastscp.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN

#: largest slice inflated or deflated at once
INFLATE_SLICE = 256 * 1024
#: storescp's default deflate level (+cl 6)
COMPRESSION_LEVEL = 6
#: slices of the plain data set handed to the compressor (see _deflate_file)
DEFLATE_FIRST_SLICE = 64 * 1024
DEFLATE_SLICE = 32 * 1024


class DeflatedWriter(CallbackSink):
    """A data set sink for the deflated transfer syntax; same interface as
    :class:`fastscp._writer.DatasetWriter` (``finish()`` returns its result)."""

    def __init__(self, fd: int, transfer_syntax: str = DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, *,
                 temp_dir: Optional[str] = None, compression_level: int = COMPRESSION_LEVEL,
                 **writer_options):
        super().__init__(self._fragment)
        if transfer_syntax != DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
            raise ValueError("DeflatedWriter is for %s only" % DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        self.fd = fd
        self.level = compression_level
        self._plain = tempfile.TemporaryFile(dir=temp_dir)
        try:
            # the meta names the deflated syntax already, so that +p pads the
            # file as it will be (meta + uncompressed data set), as storescp
            self._writer = DatasetWriter(self._plain.fileno(), EXPLICIT_VR_LITTLE_ENDIAN,
                                         meta_transfer_syntax=DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
                                         **writer_options)
        except BaseException:
            self._plain.close()
            raise
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.bytes_received = 0

    # -- receiving ---------------------------------------------------------
    def _fragment(self, data: bytes) -> None:
        self.bytes_received += len(data)
        self._inflate(data)

    def _inflate(self, data: bytes) -> None:
        inflater = self._inflater
        try:
            while data and not inflater.eof:
                out = inflater.decompress(data, INFLATE_SLICE)
                if out:
                    self._writer.write(out)
                data = inflater.unconsumed_tail
        except zlib.error as exc:
            raise DatasetError("deflated data set cannot be inflated: %s" % exc) from None
        # bytes after the end of the deflate stream (a pad byte) are ignored

    # -- completing ----------------------------------------------------------
    def finish(self) -> dict:
        try:
            try:
                tail = self._inflater.flush()
            except zlib.error as exc:
                raise DatasetError("deflated data set cannot be inflated: %s" % exc) from None
            if tail:
                self._writer.write(tail)
            if not self._inflater.eof:
                raise DatasetError("deflated data set ends before its deflate stream")
            result = dict(self._writer.finish())
            result["bytes_written"] = self._deflate_file()
            return result
        finally:
            self._plain.close()

    def _deflate_file(self) -> int:
        src = self._plain
        src.seek(0)
        head = src.read(132)
        written = 0
        if len(head) == 132 and head[128:132] == b"DICM":
            meta = self._meta_with_deflated_syntax(src)
            written += self._write(head + meta)
        else:
            src.seek(0)
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -zlib.MAX_WBITS)
        # zlib's output does not depend on how the input is sliced -- except at
        # level 0 (+cl 0), where stored block sizes follow the slices: storescp's
        # are reproduced by a first slice of 64 KiB, then 32 KiB ones
        size = DEFLATE_FIRST_SLICE
        while True:
            chunk = src.read(size)
            if not chunk:
                break
            written += self._write(compressor.compress(chunk))
            size = DEFLATE_SLICE
        written += self._write(compressor.flush())
        return written

    @staticmethod
    def _meta_with_deflated_syntax(src) -> bytes:
        """Group 0002 as written, with (0002,0010) replaced and (0002,0000) updated."""
        first = src.read(12)
        if len(first) != 12 or first[:6] != b"\x02\x00\x00\x00UL":
            raise DatasetError("unexpected file meta information from the writer")
        group_length = struct.unpack("<I", first[8:12])[0]
        body = src.read(group_length)
        out = []
        pos = 0
        while pos + 8 <= len(body):
            element = struct.unpack("<H", body[pos + 2:pos + 4])[0]
            vr = body[pos + 4:pos + 6]
            if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
                length = struct.unpack("<I", body[pos + 8:pos + 12])[0]
                end = pos + 12 + length
            else:
                length = struct.unpack("<H", body[pos + 6:pos + 8])[0]
                end = pos + 8 + length
            if element == 0x0010:
                uid = DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN.encode("ascii")
                if len(uid) % 2:
                    uid += b"\x00"
                out.append(b"\x02\x00\x10\x00UI" + struct.pack("<H", len(uid)) + uid)
            else:
                out.append(body[pos:end])
            pos = end
        meta = b"".join(out)
        return b"\x02\x00\x00\x00UL\x04\x00" + struct.pack("<I", len(meta)) + meta

    def _write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        return len(data)
