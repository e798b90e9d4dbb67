# cython: language_level=3
"""PDV reassembly and the DIMSE command set codec.

Per association, PDVs (presentation data values) arrive in order.  Command
fragments are small: they are collected (with a hard cap) until the last
one, then handed to Python as one bytes object.  Data set fragments are
never collected: they go straight from the receive buffer to the current
`DatasetSink` (the stream writer), at C speed.

The command set codec reads and writes group 0000 in implicit VR little
endian (PS3.7 §6.3.1), the only encoding DIMSE commands use.
"""
from libc.string cimport memcpy
from libc.stdint cimport uint32_t, uint16_t

from fastscp._writer cimport DatasetSink
from fastscp.errors import ProtocolError

# PS3.8 E.2: message control header bits
DEF MCH_COMMAND = 0x01
DEF MCH_LAST = 0x02

DEFAULT_COMMAND_CAP = 65536


cdef class PDVAssembler:
    """Collect command fragments; stream data set fragments to a sink."""

    def __cinit__(self, Py_ssize_t command_cap=DEFAULT_COMMAND_CAP):
        self._command = bytearray()
        self._command_ctx = -1
        self._command_cap = command_cap
        self._sink = None
        self._dataset_ctx = -1
        self.sink_error = None
        self.dataset_bytes = 0
        self.dataset_fragments = 0

    def expect_dataset(self, int context_id, DatasetSink sink not None):
        """Send the data set of the message just received on context_id to sink."""
        self._sink = sink
        self._dataset_ctx = context_id
        self.sink_error = None
        self.dataset_bytes = 0
        self.dataset_fragments = 0

    @property
    def expecting_dataset(self):
        return self._sink is not None

    def reset(self):
        """Forget any partial command and the data set sink."""
        del self._command[:]
        self._command_ctx = -1
        self._sink = None
        self._dataset_ctx = -1

    def add_pdv(self, int context_id, int header, data):
        """Python-level entry for tests: add one PDV's payload."""
        cdef const unsigned char[::1] view = data
        cdef const unsigned char* p = &view[0] if view.shape[0] else <const unsigned char*>b""
        return self.add(context_id, header, p, view.shape[0])

    cdef object add(self, int ctx, int header, const unsigned char* data, Py_ssize_t n):
        cdef bytes cmd
        if header & ~(MCH_COMMAND | MCH_LAST):
            raise ProtocolError("invalid PDV message control header 0x%02x" % header)
        if header & MCH_COMMAND:
            if self._sink is not None:
                raise ProtocolError("command fragment received while a data set was expected")
            if self._command_ctx == -1:
                self._command_ctx = ctx
            elif ctx != self._command_ctx:
                raise ProtocolError(
                    "command fragment on presentation context %d, expected %d" % (ctx, self._command_ctx))
            if len(self._command) + n > self._command_cap:
                raise ProtocolError("command set larger than %d bytes" % self._command_cap)
            self._command.extend(data[:n])
            if header & MCH_LAST:
                cmd = bytes(self._command)
                del self._command[:]
                self._command_ctx = -1
                return ("command", ctx, cmd)
            return None
        # data set fragment
        if self._sink is None:
            raise ProtocolError("data set fragment received without a command expecting one")
        if ctx != self._dataset_ctx:
            raise ProtocolError(
                "data set fragment on presentation context %d, expected %d" % (ctx, self._dataset_ctx))
        self.dataset_bytes += n
        self.dataset_fragments += 1
        if self.sink_error is None:
            try:
                self._sink.feed(data, n)
            except Exception as exc:      # the sink failed: drain the rest, report at the end
                self.sink_error = exc
        if header & MCH_LAST:
            self._sink = None
            self._dataset_ctx = -1
            return ("dataset", ctx)
        return None


# ---------------------------------------------------------------------------
# DIMSE command set codec (group 0000, implicit VR little endian)

# VR of the command elements fastscp reads or writes; others are kept as bytes.
_US = 1
_UL = 2
_UI = 3
_AE = 4
_TEXT = 5
COMMAND_VR = {
    0x00000000: _UL, 0x00000002: _UI, 0x00000003: _UI, 0x00000100: _US,
    0x00000110: _US, 0x00000120: _US, 0x00000600: _AE, 0x00000700: _US,
    0x00000800: _US, 0x00000900: _US, 0x00000901: _US, 0x00000902: _TEXT,
    0x00001000: _UI, 0x00001001: _UI, 0x00001005: _US, 0x00001008: _US,
    0x00001020: _US, 0x00001021: _US, 0x00001022: _US, 0x00001023: _US,
    0x00001030: _AE, 0x00001031: _US,
}


cdef inline uint32_t _le32(const unsigned char* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


def decode_command(data):
    """Decode a DIMSE command set into {tag: value}.

    US/UL values become int, UI/AE/text values str (trailing NUL/space
    removed), anything else bytes.  Raises ProtocolError on malformed input.
    """
    cdef const unsigned char[::1] view = data
    cdef Py_ssize_t n = view.shape[0], pos = 0
    cdef uint32_t tag, length
    cdef const unsigned char* p
    cdef dict out = {}
    cdef int vr
    if n == 0:
        raise ProtocolError("empty command set")
    p = &view[0]
    while pos < n:
        if n - pos < 8:
            raise ProtocolError("command set truncated in an element header at offset %d" % pos)
        tag = (<uint32_t>(p[pos] | (p[pos + 1] << 8)) << 16) | (p[pos + 2] | (p[pos + 3] << 8))
        length = _le32(p + pos + 4)
        pos += 8
        if tag >> 16 != 0:
            raise ProtocolError("command set element (%04x,%04x) outside group 0000" % (tag >> 16, tag & 0xFFFF))
        if length > <uint32_t>(n - pos):
            raise ProtocolError("command set element (0000,%04x) length %d overruns the command" % (tag, length))
        vr = COMMAND_VR.get(tag, 0)
        if vr == _US:
            if length != 2:
                raise ProtocolError("command element (0000,%04x) has length %d, expected 2" % (tag, length))
            out[tag] = p[pos] | (p[pos + 1] << 8)
        elif vr == _UL:
            if length != 4:
                raise ProtocolError("command element (0000,%04x) has length %d, expected 4" % (tag, length))
            out[tag] = _le32(p + pos)
        elif vr:
            out[tag] = (<bytes>p[pos:pos + length]).rstrip(b"\x00 ").decode("ascii", "replace")
        else:
            out[tag] = <bytes>p[pos:pos + length]
        pos += length
    return out


def encode_command(elements):
    """Encode [(tag, value), ...] (group 0000, ascending) as a command set.

    int values are written as US or UL according to the element; str values
    are padded to even length (NUL for UI, space otherwise).  The command
    group length (0000,0000) is computed and put first.
    """
    cdef bytearray body = bytearray()
    cdef bytes raw
    for tag, value in elements:
        vr = COMMAND_VR.get(tag, 0)
        if vr == _US:
            raw = (<int>value).to_bytes(2, "little")
        elif vr == _UL:
            raw = (<long long>value).to_bytes(4, "little")
        elif isinstance(value, str):
            raw = value.encode("ascii")
            if len(raw) & 1:
                raw += b"\x00" if vr == _UI else b" "
        else:
            raw = bytes(value)
        body += b"\x00\x00" + (tag & 0xFFFF).to_bytes(2, "little")
        body += len(raw).to_bytes(4, "little") + raw
    return b"\x00\x00\x00\x00\x04\x00\x00\x00" + len(body).to_bytes(4, "little") + bytes(body)


cdef class CallbackSink(DatasetSink):
    """A data set sink that hands each fragment to a Python callable as bytes.

    The slow path, for tests and for applications that want the raw data
    set stream; the file writer is `fastscp._writer.DatasetWriter`.
    """
    cdef object _callback

    def __init__(self, callback):
        self._callback = callback

    cdef int feed(self, const unsigned char* data, Py_ssize_t n) except -1:
        self._callback(<bytes>data[:n])
        return 0
