cimport cython
from fastscp._sink cimport DatasetSink

# The events of a P-DATA-TF stream (PDUReader.next_event() hands them to Python)
@cython.final
cdef class CommandReceived:
    cdef readonly int context_id     # presentation context of the command
    cdef readonly bytes command      # the complete command set (group 0000)

@cython.final
cdef class DatasetReceived:
    cdef readonly int context_id     # presentation context of the data set

cdef class PDVAssembler:
    cdef bytearray _command          # command fragments of the message in progress
    cdef int _command_ctx            # context id of that command, -1 = none yet
    cdef Py_ssize_t _command_cap     # hard cap on a command set's size
    cdef DatasetSink _sink           # where data set fragments go, None = not expected
    cdef int _dataset_ctx            # context id the data set must arrive on
    cdef public object sink_error    # first exception raised by the sink (then drained)
    cdef public unsigned long dataset_fragments    # data set PDVs seen for the current message

    # Returns None, a CommandReceived or a DatasetReceived
    cdef object add(self, int ctx, int header, const unsigned char* data, Py_ssize_t n)
