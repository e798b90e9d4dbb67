# cython: language_level=3
"""The counters behind `fastscp.stats` and ``--metrics-port``: rows of 64-bit
integers in memory shared by the processes of one server.

Each process (a worker, a --fork child, the one process of `Server`) adds
only to its own row, so no row has two writing processes and nothing is
locked; a reader sums the rows.  Within a process, several threads (the
association threads of `Server`, the -tos timer, the command reaper) add to
the same row: every addition here is C code run while holding the GIL,
which no other Python thread can interrupt, so none is lost.  An object
costs one call (`Counters.stored`): a handful of additions, no system call.

The layout of a row (column numbers below) is the one fact both sides use;
`fastscp.stats` names the columns for readers.
"""
from libc.stdint cimport int64_t

#: the header: word 0 = rows in use (a high-water mark, set by the parent)
HEADER_WORDS = 8
# association columns (written by the association's process)
ACCEPTED = 0
REJECTED = 1
RELEASED = 2
ABORTED = 3
ACTIVE = 4
# C-STORE columns
OBJECTS = 5
BYTES = 6
LATENCY_NS = 7
FAILURES_UNLISTED = 8
# events (end of study by reason; -xcr/-xcs commands)
STUDY_NEXT = 9
STUDY_TIMEOUT = 10
STUDY_SHUTDOWN = 11
XCR_STARTED = 12
XCR_FAILED = 13
XCS_STARTED = 14
XCS_FAILED = 15
#: upper bounds of the latency histogram's buckets, nanoseconds (then +Inf)
LATENCY_BOUNDS_NS = (
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000,
    10000000000, 30000000000, 60000000000,
)
cdef enum:
    N_BOUNDS = 17
    N_STATUSES = 16
BUCKETS = 16                               # first bucket column; N_BOUNDS + 1 buckets
#: failure statuses counted per row: N_STATUSES (status, count) pairs; more
#: distinct ones are added to FAILURES_UNLISTED
STATUS_PAIRS = BUCKETS + N_BOUNDS + 1
ROW_WORDS = STATUS_PAIRS + 2 * N_STATUSES

cdef int64_t BOUNDS[N_BOUNDS]
for _i, _b in enumerate(LATENCY_BOUNDS_NS):
    BOUNDS[_i] = _b
assert len(LATENCY_BOUNDS_NS) == N_BOUNDS

cdef Py_ssize_t C_ACCEPTED = ACCEPTED, C_REJECTED = REJECTED, C_RELEASED = RELEASED
cdef Py_ssize_t C_ABORTED = ABORTED, C_ACTIVE = ACTIVE, C_OBJECTS = OBJECTS, C_BYTES = BYTES
cdef Py_ssize_t C_LATENCY = LATENCY_NS, C_UNLISTED = FAILURES_UNLISTED
cdef Py_ssize_t C_BUCKETS = BUCKETS, C_STATUS = STATUS_PAIRS, C_ROW = ROW_WORDS
cdef Py_ssize_t C_HEADER = HEADER_WORDS


cdef class Counters:
    """One row of a shared table (`memory`: a writable buffer of 64-bit
    words, e.g. an anonymous shared mmap made before forking)."""

    cdef int64_t *row
    cdef object _view          # keeps the buffer exported (and so mapped)

    def __cinit__(self, memory, Py_ssize_t row):
        cdef int64_t[::1] view = memoryview(memory).cast("B").cast("q")
        if row < 0 or C_HEADER + (row + 1) * C_ROW > view.shape[0]:
            raise IndexError("counter row %d outside the table" % row)
        self._view = view
        self.row = &view[0] + C_HEADER + row * C_ROW

    def accepted(self):
        """An association was accepted (it is active until released/aborted)."""
        self.row[C_ACCEPTED] += 1
        self.row[C_ACTIVE] += 1

    def rejected(self):
        self.row[C_REJECTED] += 1

    def ended(self, bint released):
        """An accepted association ended: released, or aborted."""
        self.row[C_RELEASED if released else C_ABORTED] += 1
        self.row[C_ACTIVE] -= 1

    def stored(self, int status, bint failed, int64_t nbytes, int64_t latency_ns):
        """A C-STORE was answered with `status` after `latency_ns`; a success
        or warning stored `nbytes` (the file's size)."""
        cdef int64_t *row = self.row
        cdef int i = 0
        while i < N_BOUNDS and latency_ns > BOUNDS[i]:
            i += 1
        row[C_BUCKETS + i] += 1
        row[C_LATENCY] += latency_ns
        if not failed:
            row[C_OBJECTS] += 1
            row[C_BYTES] += nbytes
            return
        cdef int64_t *pairs = row + C_STATUS
        for i in range(N_STATUSES):
            if pairs[2 * i + 1] == 0:          # a free pair (a status is counted from 1 on)
                pairs[2 * i] = status
            if pairs[2 * i] == status:
                pairs[2 * i + 1] += 1
                return
        row[C_UNLISTED] += 1

    def add(self, Py_ssize_t column, int64_t n=1):
        """Add `n` to one of the event columns."""
        if column < 0 or column >= C_BUCKETS:
            raise IndexError("no counter column %d" % column)
        self.row[column] += n

    def settle(self):
        """The row's process died: its associations still counted active were
        aborted with it.  Returns how many.  (Only once the process is gone.)"""
        cdef int64_t active = self.row[C_ACTIVE]
        if active > 0:
            self.row[C_ABORTED] += active
        self.row[C_ACTIVE] = 0
        return active


def totals(memory, Py_ssize_t rows):
    """The sums over the first `rows` rows: (list of the ROW_WORDS column sums
    with the status pairs left at zero, {failure status: count})."""
    cdef int64_t[::1] view = memoryview(memory).cast("B").cast("q")
    cdef Py_ssize_t limit = (view.shape[0] - C_HEADER) // C_ROW
    if rows > limit:
        rows = limit
    cdef int64_t *base = &view[0] + C_HEADER
    cdef int64_t *row
    sums = [0] * C_ROW
    statuses = {}
    cdef Py_ssize_t r, c
    cdef int64_t count
    for r in range(rows):
        row = base + r * C_ROW
        for c in range(C_STATUS):
            if row[c]:
                sums[c] += row[c]
        for c in range(N_STATUSES):
            count = row[C_STATUS + 2 * c + 1]
            if count:
                status = row[C_STATUS + 2 * c]
                statuses[status] = statuses.get(status, 0) + count
    return sums, statuses
