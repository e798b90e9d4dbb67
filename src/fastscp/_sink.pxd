# The data set sink contract, shared by the PDV reassembler (_pdv, which
# calls it) and the writers (_writer, which implement it).
#
# A DatasetSink receives the data set fragments (PDV payloads) of one
# C-STORE, in order, straight from the receive buffer.

cdef class DatasetSink:
    # Consume n bytes at data (valid only for the duration of the call).
    # Raise (return -1) on any error: the rest of the data set is drained
    # and the C-STORE fails.
    cdef int feed(self, const unsigned char* data, Py_ssize_t n) except -1
