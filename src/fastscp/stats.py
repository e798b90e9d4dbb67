"""What a server has done so far: `Stats`, the snapshot ``server.stats()``
returns, and `CounterTable`, the shared counters it is read from.

The counters are rows of 64-bit integers in an anonymous shared mapping
(`fastscp._counters`) made before any process is forked: each process adds
to its own row only (no locks, no system calls), children that have exited
leave their rows behind, and a reader -- ``stats()``, the metrics endpoint,
the ``-v`` summary -- sums the rows in use.  A process parent gives each
child a free row when it forks it (`RowAllocator`); the one-process
`Server` uses a single row for all its threads.
"""
from __future__ import annotations

import mmap
from typing import Dict, List, Optional, Tuple

from fastscp import _counters as c
from fastscp._counters import Counters
from fastscp.record import Record, field

#: the end-of-study reasons (`CompletedStudy.reason`) and their columns
STUDY_END_COLUMNS = {"next-study": c.STUDY_NEXT, "timeout": c.STUDY_TIMEOUT,
                     "shutdown": c.STUDY_SHUTDOWN}
#: the commands (-xcr, -xcs) and their (started, failed) columns
COMMAND_COLUMNS = {"xcr": (c.XCR_STARTED, c.XCR_FAILED), "xcs": (c.XCS_STARTED, c.XCS_FAILED)}
#: the latency histogram's bucket upper bounds in seconds (the last is +Inf)
LATENCY_BOUNDS: Tuple[float, ...] = tuple(ns / 1e9 for ns in c.LATENCY_BOUNDS_NS) + (float("inf"),)


class LatencyHistogram(Record, frozen=True):
    """Per-object store latency: from the C-STORE-RQ command (the data set's
    first PDV follows it) to the response, for every C-STORE answered."""

    #: upper bounds of the buckets, seconds; the last is infinity
    bounds: Tuple[float, ...]
    #: C-STOREs with a latency at most each bound (cumulative, as Prometheus counts)
    counts: Tuple[int, ...]
    #: the latencies added up, seconds
    sum: float

    @property
    def count(self) -> int:
        """C-STOREs answered (any status)."""
        return self.counts[-1] if self.counts else 0


class Stats(Record, frozen=True):
    """Counts since the server started, over all its threads and processes
    (worker processes and --fork children included, also those that ended)."""

    #: associations acknowledged (A-ASSOCIATE-AC)
    associations_accepted: int = 0
    #: association requests answered with A-ASSOCIATE-RJ
    associations_rejected: int = 0
    #: accepted associations that ended with A-RELEASE
    associations_released: int = 0
    #: accepted associations that ended otherwise: A-ABORT from either side, the
    #: peer closing, a timeout, a shutdown (or a worker process that died)
    associations_aborted: int = 0
    #: accepted associations in progress
    associations_active: int = 0
    #: C-STOREs answered with a success or warning status (a file was stored;
    #: with --ignore nothing is written and bytes_stored stays 0)
    objects_stored: int = 0
    #: the size of the files of those objects, bytes as written (file meta included)
    bytes_stored: int = 0
    #: C-STOREs answered with a failure status: {status: count}
    store_failures: Dict[int, int] = field(default_factory=dict)
    #: failures whose status did not fit the per-process table of 16 statuses
    store_failures_unlisted: int = 0
    store_latency: LatencyHistogram = field(
        default_factory=lambda: LatencyHistogram(LATENCY_BOUNDS, (0,) * len(LATENCY_BOUNDS), 0.0))
    #: studies ended, by reason: "next-study", "timeout" (-tos), "shutdown"
    studies_ended: Dict[str, int] = field(default_factory=dict)
    #: -xcr/-xcs commands started: {"xcr": n, "xcs": n}
    commands_started: Dict[str, int] = field(default_factory=dict)
    #: of those, commands that could not be started or exited with a non-zero
    #: status or by a signal (known once they ended)
    commands_failed: Dict[str, int] = field(default_factory=dict)

    @property
    def store_failures_total(self) -> int:
        return sum(self.store_failures.values()) + self.store_failures_unlisted


class CounterTable:
    """The shared counters of one server: `rows` rows, row 0 for the
    process that made the table."""

    def __init__(self, rows: int = 1) -> None:
        self.rows = max(1, rows)
        self._memory = mmap.mmap(-1, 8 * (c.HEADER_WORDS + self.rows * c.ROW_WORDS))
        self._header = memoryview(self._memory).cast("q")
        self.rows_in_use = 1

    @property
    def rows_in_use(self) -> int:
        """The rows ever used (kept in the shared memory: readers in other
        processes see the parent's updates)."""
        return int(self._header[0])

    @rows_in_use.setter
    def rows_in_use(self, n: int) -> None:
        self._header[0] = n

    def row(self, index: int) -> Counters:
        """The writer of row `index` (for the process that owns it)."""
        return Counters(self._memory, index)

    def snapshot(self) -> Stats:
        sums, statuses = c.totals(self._memory, self.rows_in_use)
        cumulative: List[int] = []
        running = 0
        for n in sums[c.BUCKETS:c.BUCKETS + len(LATENCY_BOUNDS)]:
            running += n
            cumulative.append(running)

        def named(columns: Dict[str, int]) -> Dict[str, int]:
            return {name: sums[col] for name, col in columns.items() if sums[col]}
        return Stats(
            associations_accepted=sums[c.ACCEPTED], associations_rejected=sums[c.REJECTED],
            associations_released=sums[c.RELEASED], associations_aborted=sums[c.ABORTED],
            associations_active=max(0, sums[c.ACTIVE]),
            objects_stored=sums[c.OBJECTS], bytes_stored=sums[c.BYTES],
            store_failures=dict(sorted(statuses.items())),
            store_failures_unlisted=sums[c.FAILURES_UNLISTED],
            store_latency=LatencyHistogram(LATENCY_BOUNDS, tuple(cumulative), sums[c.LATENCY_NS] / 1e9),
            studies_ended=named(STUDY_END_COLUMNS),
            commands_started=named({k: v[0] for k, v in COMMAND_COLUMNS.items()}),
            commands_failed=named({k: v[1] for k, v in COMMAND_COLUMNS.items()}))


class RowAllocator:
    """A process parent's bookkeeping of the table's rows: a child gets a
    free row when it is forked; when it has been reaped, the row is settled
    (associations it left active count as aborted) and given to a later
    child, which adds on to the counts already there."""

    def __init__(self, table: CounterTable) -> None:
        self.table = table
        self._free = list(range(table.rows - 1, 0, -1))     # row 0 is the parent's
        self._by_pid: Dict[int, int] = {}

    def take(self) -> Optional[int]:
        if not self._free:
            return None
        row = self._free.pop()
        if row >= self.table.rows_in_use:
            self.table.rows_in_use = row + 1
        return row

    def assign(self, pid: int, row: int) -> None:
        self._by_pid[pid] = row

    def give_back(self, row: int) -> None:
        """A row taken for a child that could not be forked."""
        self._free.append(row)

    def reaped(self, pid: int) -> None:
        row = self._by_pid.pop(pid, None)
        if row is not None:
            self.table.row(row).settle()
            self._free.append(row)
