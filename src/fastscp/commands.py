"""storescp's ``-xcr``/``-xcs`` commands: placeholder substitution and
running them.

Commands run as ``/bin/sh -c <command>`` (as storescp), in the background
unless ``-xs``; a reaper thread collects finished background children so no
zombies pile up.  Every value fastscp substitutes into a command is
sanitised first (see :func:`substitute`).
"""
from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, List, Optional, Tuple

from fastscp._counters import Counters
from fastscp.records import AssociationInfo
from fastscp.stats import COMMAND_COLUMNS
from fastscp.storage import UNUSUAL_NAME_CHARS
from fastscp.log import APP_LOGGER

if TYPE_CHECKING:
    import subprocess

log = logging.getLogger(APP_LOGGER)

#: characters kept in AE titles substituted for #a/#c (DCMTK 3.6.9); the
#: value is then wrapped in double quotes
_AE_UNUSUAL = re.compile(r"[^A-Za-z0-9 .:@-]")
#: the host name substituted for #r (not quoted) keeps what a file name
#: component keeps (storage.UNUSUAL_NAME_CHARS)


def sanitize_ae(value: str, what: str, warn: bool) -> str:
    clean = _AE_UNUSUAL.sub("_", value)
    if warn and clean != value:
        log.warning('Sanitized unusual characters in %s, converted from "%s" to "%s".',
                    what, value.encode("ascii", "backslashreplace").decode("ascii"), clean)
    return clean


def substitute(command: str, *, path: Optional[str], filename: Optional[str],
               info: Optional[AssociationInfo], warn: bool) -> str:
    """storescp's placeholders, in its order over the whole string: #p, #f,
    #a, #c, #r (text inserted earlier is seen by later passes; other #x stay).

    `path`/`filename` None leaves #p/#f as they are (--ignore; -xcs has no #f).
    Values come from sanitised names (only ``A-Z a-z 0-9 . : @ _ -`` besides
    what the operator put in -od, -fe and the sort prefix), AE titles are
    reduced to ``A-Z a-z 0-9 space - . : @`` inside double quotes, the host
    name to ``A-Z a-z 0-9 . : @ _ -``: nothing the shell expands.
    """
    if path is not None:
        command = command.replace("#p", path)
    if filename is not None:
        command = command.replace("#f", filename)
    calling = called = host = ""
    if info is not None:
        calling = '"%s"' % sanitize_ae(info.calling_ae_title, "calling aetitle", warn)
        called = '"%s"' % sanitize_ae(info.called_ae_title, "called aetitle", warn)
        host = UNUSUAL_NAME_CHARS.sub("_", info.peer_host_name or info.peer_address)
    command = command.replace("#a", calling)
    command = command.replace("#c", called)
    return command.replace("#r", host)


#: a command running in the background and its "failed" counter column
_Running = Tuple["subprocess.Popen[bytes]", int]


class CommandRunner:
    """Runs commands through /bin/sh; waits for them with -xs, otherwise
    leaves them running and reaps them from a small thread.  Counts the
    commands started and those that failed (could not be started, or ended
    with a non-zero status or by a signal) by hook, "xcr" or "xcs"."""

    def __init__(self, synchronous: bool = False, counters: Optional[Counters] = None) -> None:
        self.synchronous = synchronous
        self.counters = counters
        self._children: List[_Running] = []
        self._cond = threading.Condition()
        self._reaper: Optional[threading.Thread] = None
        self._closed = False

    def run(self, command: str, hook: str) -> None:
        log.debug("executing command: %s", command)
        import subprocess   # here, not at start-up (inetd starts a process per association)
        started, failed = COMMAND_COLUMNS[hook]
        self._count(started)
        try:
            child = subprocess.Popen(["/bin/sh", "-c", command], close_fds=True)
        except OSError as exc:
            log.error("cannot execute command '%s' (fork failed): %s", command, exc)
            self._count(failed)
            return
        if self.synchronous:
            if child.wait() != 0:
                self._count(failed)
            return
        with self._cond:
            if self._closed:
                self._wait_in_background([(child, failed)])
                return
            self._children.append((child, failed))
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="fastscp-reaper",
                                                daemon=True)
                self._reaper.start()
            self._cond.notify()

    def _count(self, column: int) -> None:
        if self.counters is not None:
            self.counters.add(column)

    def _still_running(self) -> List[_Running]:
        """The children that have not ended; the others are counted and forgotten."""
        running = []
        for child, failed in self._children:
            code = child.poll()
            if code is None:
                running.append((child, failed))
            elif code != 0:
                self._count(failed)
        return running

    def _reap(self) -> None:
        with self._cond:
            while not self._closed:
                self._children = self._still_running()
                # poll while children run (bounded zombie lifetime), sleep otherwise
                self._cond.wait(0.2 if self._children else None)

    def close(self) -> None:
        """Stop the reaper; children still running finish on their own and
        are waited for by a daemon thread (no zombie in a process that goes on)."""
        with self._cond:
            self._children = self._still_running()
            self._closed = True
            self._cond.notify()
            if self._children:
                self._wait_in_background(self._children)
                self._children = []

    @property
    def running(self) -> int:
        with self._cond:
            return sum(1 for c, _ in self._children if c.poll() is None)

    def _wait_in_background(self, children: List[_Running]) -> None:
        def wait_all() -> None:
            for child, failed in children:
                if child.wait() != 0:
                    self._count(failed)
        threading.Thread(target=wait_all, name="fastscp-reaper", daemon=True).start()
