"""Objects received or stored in Deflated Explicit VR Little Endian
(`fastscp.uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN`).

storescp (default ``+t=``) writes an object received deflated deflated again
(with ``+td`` it deflates whatever it receives): file meta
information with that transfer syntax, then the data set -- parsed and
re-encoded as for explicit VR little endian -- compressed with zlib's raw
deflate at level 6 (``+cl`` default; window 15 bits, memory level 8, default
strategy).  Measured: recompressing the inflated data set of a storescp file
that way gives storescp's bytes exactly.

`DeflatedWriter` does the same with bounded memory:

1. each received fragment (of a deflated data set: inflated in slices of at
   most ``INFLATE_SLICE`` bytes) is streamed into a `DatasetWriter`; when
   the output is deflated it writes explicit VR little endian into an
   anonymous temporary file next to the destination (file meta already
   naming the deflated syntax), otherwise straight into the destination
   (``+te``/``+ti``/``+tb`` of a deflated object);
2. at the end the file meta information is copied and the data set is
   deflated from the temporary file into the real file in slices.
"""
from __future__ import annotations

import os
import struct
import zlib
from typing import Any, BinaryIO, Optional

from fastscp._sink import CallbackSink
from fastscp._writer import DatasetWriter, WriteResult
from fastscp.config import MAX_INFLATED_SIZE, MAX_INFLATION_RATIO
from fastscp.errors import DatasetError, OutputError
from fastscp.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN

#: largest slice inflated or deflated at once
INFLATE_SLICE = 256 * 1024
#: the inflation ratio is not checked below this many inflated bytes: small
#: objects of blank pixels or repeated text compress far beyond any ratio
INFLATION_RATIO_FLOOR = 64 * 1024 * 1024
#: storescp's default deflate level (+cl 6)
COMPRESSION_LEVEL = 6
#: slices of the plain data set handed to the compressor (see _deflate_file)
DEFLATE_FIRST_SLICE = 64 * 1024
DEFLATE_SLICE = 32 * 1024


class _Feeder:
    """Hands received fragments to the writer, inflating them first when the
    input is deflated.  Kept apart from `DeflatedWriter` so that no reference
    cycle keeps a finished writer's buffers alive until the next garbage
    collection."""

    __slots__ = ("writer", "inflater", "received", "inflated", "max_size", "max_ratio")

    def __init__(self, writer: DatasetWriter, inflater: "Optional[zlib._Decompress]", max_size: int,
                 max_ratio: int) -> None:
        self.writer = writer
        self.inflater = inflater
        self.received = 0
        self.inflated = 0
        self.max_size = max_size
        self.max_ratio = max_ratio

    def __call__(self, data: bytes) -> None:
        self.received += len(data)
        inflater = self.inflater
        if inflater is None:
            self.writer.write(data)
            return
        try:
            while data and not inflater.eof:
                out = inflater.decompress(data, INFLATE_SLICE)
                if out:
                    self._check(len(out))
                    self.writer.write(out)
                data = inflater.unconsumed_tail
        except zlib.error as exc:
            raise DatasetError("deflated data set cannot be inflated: %s" % exc) from None
        # bytes after the end of the deflate stream (a pad byte) are ignored

    def _check(self, more: int) -> None:
        """Stop a deflate bomb before the slice is written."""
        self.inflated += more
        if self.inflated > self.max_size:
            raise OutputError("deflated data set inflates beyond %d bytes (--max-inflated-size)"
                              % self.max_size)
        if self.inflated > INFLATION_RATIO_FLOOR and self.inflated > self.max_ratio * self.received:
            raise OutputError("deflated data set inflates beyond %d times its %d bytes received "
                              "(--max-inflation-ratio)" % (self.max_ratio, self.received))


class DeflatedWriter(CallbackSink):
    """A data set sink for objects received or stored (``+td``) in the
    deflated transfer syntax; same interface as
    :class:`fastscp._writer.DatasetWriter` (``finish()`` returns its result).

    ``transfer_syntax`` is the syntax received, ``output_transfer_syntax``
    the one stored (default: the same); at least one is deflated.
    """

    def __init__(self, fd: int, transfer_syntax: str = DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, *,
                 output_transfer_syntax: Optional[str] = None,
                 temp_dir: Optional[str] = None, compression_level: int = COMPRESSION_LEVEL,
                 max_inflated_size: int = MAX_INFLATED_SIZE, max_inflation_ratio: int = MAX_INFLATION_RATIO,
                 **writer_options: Any) -> None:
        out_ts = output_transfer_syntax or transfer_syntax
        self.inflating = transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
        self.deflating = out_ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
        if not (self.inflating or self.deflating):
            raise ValueError("DeflatedWriter: neither %s nor %s is deflated" % (transfer_syntax, out_ts))
        self.fd = fd
        self.level = compression_level
        self._plain = _temporary_file(temp_dir) if self.deflating else None
        try:
            # when deflating, the meta names the deflated syntax already, so
            # that +p pads the file as it will be (meta + uncompressed data
            # set), as storescp does
            self._writer = DatasetWriter(
                self._plain.fileno() if self._plain is not None else fd,
                EXPLICIT_VR_LITTLE_ENDIAN if self.inflating else transfer_syntax,
                output_transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN if self.deflating else out_ts,
                meta_transfer_syntax=out_ts, **writer_options)
        except BaseException:
            self._close_plain()
            raise
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if self.inflating else None
        self._feeder = _Feeder(self._writer, self._inflater, max_inflated_size, max_inflation_ratio)
        super().__init__(self._feeder)

    @property
    def bytes_received(self) -> int:
        return self._feeder.received

    def close(self) -> None:
        """Give back the temporary file at once (the object is abandoned)."""
        self._close_plain()

    def _close_plain(self) -> None:
        if self._plain is not None:
            self._plain.close()

    # -- completing ----------------------------------------------------------
    def finish(self) -> WriteResult:
        try:
            if self._inflater is not None:
                try:
                    tail = self._inflater.flush()
                except zlib.error as exc:
                    raise DatasetError("deflated data set cannot be inflated: %s" % exc) from None
                if tail:
                    self._feeder._check(len(tail))
                    self._writer.write(tail)
                if not self._inflater.eof:
                    raise DatasetError("deflated data set ends before its deflate stream")
            result = self._writer.finish()
            if self.deflating:
                result = result.replace(bytes_written=self._deflate_file())
            return result
        finally:
            self._close_plain()

    def _deflate_file(self) -> int:
        """Copy the preamble and file meta from the plain file, deflate the rest."""
        src = self._plain
        assert src is not None          # only called when deflating
        src.seek(0)
        head = src.read(144)
        written = 0
        if len(head) == 144 and head[128:132] == b"DICM" and head[132:138] == b"\x02\x00\x00\x00UL":
            meta_end = 144 + struct.unpack("<I", head[140:144])[0]
            src.seek(0)
            written += self._write(src.read(meta_end))
        else:
            src.seek(0)    # -F: no meta
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

    def _write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        return len(data)


def _temporary_file(temp_dir: Optional[str]) -> BinaryIO:
    """An unnamed temporary file in `temp_dir` (tempfile is imported here:
    it brings shutil, random, bz2 and lzma into every server process)."""
    import tempfile
    return tempfile.TemporaryFile(dir=temp_dir)
