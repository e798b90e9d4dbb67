# C-level interface of the dataset stream writer, shared with _pdv.
#
# A DatasetSink receives the data set fragments (PDV payloads) of one
# C-STORE, in order, straight from the receive buffer.  _pdv calls
# `feed` at C speed; Python code uses the `def` wrappers.

cdef class DatasetSink:
    # Consume n bytes at data (valid only for the duration of the call).
    # Raise (return -1) on any error; the association is then aborted.
    cdef int feed(self, const unsigned char* data, Py_ssize_t n) except -1
