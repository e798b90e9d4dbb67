"""Typed interface of the shared counters (fastscp._counters)."""
from typing import Dict, List, Tuple

HEADER_WORDS: int
ACCEPTED: int
REJECTED: int
RELEASED: int
ABORTED: int
ACTIVE: int
OBJECTS: int
BYTES: int
LATENCY_NS: int
FAILURES_UNLISTED: int
STUDY_NEXT: int
STUDY_TIMEOUT: int
STUDY_SHUTDOWN: int
XCR_STARTED: int
XCR_FAILED: int
XCS_STARTED: int
XCS_FAILED: int
LATENCY_BOUNDS_NS: Tuple[int, ...]
BUCKETS: int
STATUS_PAIRS: int
ROW_WORDS: int

class Counters:
    """One row of a shared table of 64-bit counters."""

    def __init__(self, memory: object, row: int) -> None: ...
    def accepted(self) -> None: ...
    def rejected(self) -> None: ...
    def ended(self, released: bool) -> None: ...
    def stored(self, status: int, failed: bool, nbytes: int, latency_ns: int) -> None: ...
    def add(self, column: int, n: int = 1) -> None: ...
    def settle(self) -> int: ...

def totals(memory: object, rows: int) -> Tuple[List[int], Dict[int, int]]: ...
