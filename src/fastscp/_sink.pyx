# cython: language_level=3
"""Data set sinks: where the data set fragments of one C-STORE go.

The contract (``_sink.pxd``) is shared by both sides: the PDV reassembler
(``_pdv``) calls ``feed`` at C speed for every data set fragment, straight
from the receive buffer; the stream writer (``_writer.DatasetWriter``) and
the sinks here implement it.  Python code uses ``write``.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE

__all__ = ["DatasetSink", "DiscardSink", "CallbackSink"]


cdef class DatasetSink:
    """Receives the data set fragments of one C-STORE, in order."""

    cdef int feed(self, const unsigned char* data, Py_ssize_t n) except -1:
        raise NotImplementedError("DatasetSink.feed")

    def write(self, data):
        """Feed a bytes-like object (bytes, bytearray, memoryview ...)."""
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self.feed(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)


cdef class DiscardSink(DatasetSink):
    """Swallows every byte (counts them)."""

    cdef public long long bytes_received

    cdef int feed(self, const unsigned char* data, Py_ssize_t n) except -1:
        self.bytes_received += n
        return 0

    def finish(self):
        return {"bytes_received": self.bytes_received}


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
