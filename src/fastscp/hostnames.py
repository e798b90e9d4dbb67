"""Peer host names, as storescp shows them (`#r`, log lines): reverse DNS
cut at the first '.', looked up off the association threads so that a slow
resolver never stalls reception (-dhl turns the lookup off).  The whole
name (not cut) is kept for host access control (+ac), which storescp hands
to libwrap as it came from the resolver."""
from __future__ import annotations

import logging
import queue
import socket
import threading
from typing import List, Optional
from fastscp.log import NET_LOGGER

log = logging.getLogger(NET_LOGGER)

#: how long an association waits, when its A-ASSOCIATE-RQ is complete, for
#: the peer's host name (looked up since the connection was accepted);
#: after that the dotted IP stands in, so a slow resolver never stalls it
HOST_LOOKUP_WAIT = 0.5
#: host lookups running at once (the rest queue; each ends with the resolver's own timeout)
HOST_LOOKUP_WORKERS = 4


def reverse_lookup(address: str) -> Optional[str]:
    """The reverse DNS name of `address`, whole (storescp: gethostbyaddr's
    h_name, not checked against the forward mapping); None if it has none."""
    try:
        # as bytes (CPython takes them, typeshed says str): a str is encoded
        # with the "idna" codec, whose import costs start-up time
        return socket.gethostbyaddr(address.encode("ascii"))[0] or None  # type: ignore[arg-type]
    except (OSError, UnicodeError):
        return None


def short_name(full_name: Optional[str], address: str) -> str:
    """The peer name as storescp shows it: the name cut at the first '.',
    or the address itself if there is no name."""
    if not full_name:
        return address
    return full_name.split(".", 1)[0] or address


class Lookup:
    """One peer's host name, looked up by a `Resolver` worker."""

    __slots__ = ("address", "done", "full_name", "name", "wanted")

    def __init__(self, address: str):
        self.address = address
        self.done = threading.Event()
        #: the whole reverse DNS name; None = none (or not looked up yet)
        self.full_name: Optional[str] = None
        #: the name as shown (short_name)
        self.name = address
        self.wanted = True

    def resolve(self) -> None:
        """Look the name up now, in the calling thread, and mark it done."""
        self.full_name = reverse_lookup(self.address)
        self.name = short_name(self.full_name, self.address)
        self.done.set()

    def result(self) -> str:
        """The name, waiting at most HOST_LOOKUP_WAIT; the address if not done by then."""
        if not self.done.wait(HOST_LOOKUP_WAIT):
            log.debug("host name lookup for %s not done: using the address", self.address)
        self.wanted = False
        return self.name


def lookup_now(address: str) -> Lookup:
    """The peer's name looked up in the calling thread (a child process
    serving one association, where nothing else waits for it)."""
    lookup = Lookup(address)
    lookup.resolve()
    return lookup


class Resolver:
    """A few daemon threads doing reverse DNS, so that a slow resolver costs
    neither the association threads nor the process exit (no joins)."""

    def __init__(self, workers: int = HOST_LOOKUP_WORKERS):
        self._queue: "queue.SimpleQueue[Optional[Lookup]]" = queue.SimpleQueue()
        self._workers = workers
        self._threads: List[threading.Thread] = []

    def submit(self, address: str) -> Lookup:
        lookup = Lookup(address)
        if len(self._threads) < self._workers:
            t = threading.Thread(target=self._work, name="fastscp-lookup", daemon=True)
            self._threads.append(t)
            t.start()
        self._queue.put(lookup)
        return lookup

    def _work(self) -> None:
        while True:
            lookup = self._queue.get()
            if lookup is None:
                return
            if lookup.wanted:        # skip peers that are already done with
                try:
                    lookup.resolve()
                except Exception:    # never let one lookup end the worker
                    pass
            lookup.done.set()        # also when skipped or failed: the address stands in

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        self._threads = []
