# cython: language_level=3
"""PDV reassembly.

Per association, PDVs (presentation data values) arrive in order.  Command
fragments are small: they are collected (with a hard cap) until the last
one, then handed to Python as one bytes object.  Data set fragments are
never collected: they go straight from the receive buffer to the current
`DatasetSink` (the stream writer), at C speed.  The command set codec is
`fastscp._dimse`.

What Python sees of a P-DATA-TF stream are two event types,
`CommandReceived` and `DatasetReceived`; `fastscp._pdu.PDUReceived` is the
third event `PDUReader.next_event()` returns.
"""
cimport cython

from fastscp._sink cimport DatasetSink
from fastscp.errors import ProtocolError

# PS3.8 E.2: message control header bits
DEF MCH_COMMAND = 0x01
DEF MCH_LAST = 0x02

DEFAULT_COMMAND_CAP = 65536


@cython.final
@cython.freelist(4)
cdef class CommandReceived:
    """A complete command set arrived on a presentation context."""

    def __init__(self, int context_id, bytes command not None):
        self.context_id = context_id
        self.command = command

    def __repr__(self):
        return "CommandReceived(context_id=%d, command=<%d bytes>)" % (self.context_id, len(self.command))


@cython.final
@cython.freelist(4)
cdef class DatasetReceived:
    """The last fragment of a data set went to the sink."""

    def __init__(self, int context_id):
        self.context_id = context_id

    def __repr__(self):
        return "DatasetReceived(context_id=%d)" % self.context_id


cdef class PDVAssembler:
    """Collect command fragments; stream data set fragments to a sink."""

    def __cinit__(self, Py_ssize_t command_cap=DEFAULT_COMMAND_CAP):
        self._command = bytearray()
        self._command_ctx = -1
        self._command_cap = command_cap
        self._sink = None
        self._dataset_ctx = -1
        self.sink_error = None
        self.dataset_fragments = 0

    def expect_dataset(self, int context_id, DatasetSink sink not None):
        """Send the data set of the message just received on context_id to sink."""
        self._sink = sink
        self._dataset_ctx = context_id
        self.sink_error = None
        self.dataset_fragments = 0

    def reset(self):
        """Forget any partial command and the data set sink."""
        del self._command[:]
        self._command_ctx = -1
        self._sink = None
        self._dataset_ctx = -1

    cdef object add(self, int ctx, int header, const unsigned char* data, Py_ssize_t n):
        cdef CommandReceived command
        cdef DatasetReceived dataset
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
                command = CommandReceived.__new__(CommandReceived)
                command.context_id = ctx
                command.command = bytes(self._command)
                del self._command[:]
                self._command_ctx = -1
                return command
            return None
        # data set fragment
        if self._sink is None:
            raise ProtocolError("data set fragment received without a command expecting one")
        if ctx != self._dataset_ctx:
            raise ProtocolError(
                "data set fragment on presentation context %d, expected %d" % (ctx, self._dataset_ctx))
        self.dataset_fragments += 1
        if self.sink_error is None:
            try:
                self._sink.feed(data, n)
            except Exception as exc:      # the sink failed: drain the rest, report at the end
                self.sink_error = exc
        if header & MCH_LAST:
            self._sink = None
            self._dataset_ctx = -1
            dataset = DatasetReceived.__new__(DatasetReceived)
            dataset.context_id = ctx
            return dataset
        return None
