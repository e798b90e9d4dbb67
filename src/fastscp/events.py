"""What happens after objects arrive: storescp's ``-xcr``/``-xcs`` commands,
``-rns`` renaming and end-of-study detection (``-tos``), and the Python
callbacks of the embedding API.

Commands run as ``/bin/sh -c <command>`` (as storescp), in the background
unless ``-xs``; a reaper thread collects finished background children so no
zombies pile up.  Every value fastscp substitutes into a command is
sanitised first (see :func:`substitute`).
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

from fastscp.storage import UNUSUAL_NAME_CHARS

log = logging.getLogger("fastscp")

#: characters kept in AE titles substituted for #a/#c (DCMTK 3.6.9); the
#: value is then wrapped in double quotes
_AE_UNUSUAL = re.compile(r"[^A-Za-z0-9 .:@-]")
#: the host name substituted for #r (not quoted) keeps what a file name
#: component keeps (storage.UNUSUAL_NAME_CHARS)


# -- the Python API's event records ------------------------------------------------

@dataclass(frozen=True)
class StoreRequest:
    """What an ``on_store_request`` callback receives: a C-STORE-RQ command
    that just arrived, before any byte of its data set."""
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    #: the association it came in (fastscp.service.AssociationInfo)
    association: object
    #: where fastscp would store it (directory decided later in sort mode)
    default_name: str


@dataclass(frozen=True)
class CompletedStudy:
    """What an ``on_study_complete`` callback receives."""
    study_instance_uid: str
    #: the study's directory (the output directory without a sort option)
    directory: str
    #: the study's files in completion order, under their final names
    #: (after -rns); files an on_store_request hook placed elsewhere included
    files: Tuple[str, ...]
    #: "next-study" (an object of another study arrived), "timeout" (-tos /
    #: eostudy_timeout) or "shutdown" (the server stopped cleanly)
    reason: str
    #: the association the end was detected in (next-study), or that of the
    #: study's last object (fastscp.service.AssociationInfo)
    association: object


#: on_store_request's answer: None = store as usual; a path (relative to the
#: output directory, or absolute) = store exactly there; an int = refuse
#: with that DIMSE failure status (0xA000-0xAFFF, 0xC000-0xCFFF, 0x01xx, 0x02xx)
StoreDecision = Union[None, str, "os.PathLike[str]", int]


def is_failure_status(status: int) -> bool:
    return (0xA000 <= status <= 0xAFFF or 0xC000 <= status <= 0xCFFF
            or 0x0100 <= status <= 0x02FF)


# -- commands --------------------------------------------------------------------------

def sanitize_ae(value: str, what: str, warn: bool) -> str:
    clean = _AE_UNUSUAL.sub("_", value)
    if warn and clean != value:
        log.warning('Sanitized unusual characters in %s, converted from "%s" to "%s".',
                    what, value.encode("ascii", "backslashreplace").decode("ascii"), clean)
    return clean


def substitute(command: str, *, path: Optional[str], filename: Optional[str],
               info, warn: bool) -> str:
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


class CommandRunner:
    """Runs commands through /bin/sh; waits for them with -xs, otherwise
    leaves them running and reaps them from a small thread."""

    def __init__(self, synchronous: bool = False) -> None:
        self.synchronous = synchronous
        self._children: List[subprocess.Popen] = []
        self._cond = threading.Condition()
        self._reaper: Optional[threading.Thread] = None
        self._closed = False

    def run(self, command: str) -> None:
        log.debug("executing command: %s", command)
        try:
            child = subprocess.Popen(["/bin/sh", "-c", command], close_fds=True)
        except OSError as exc:
            log.error("cannot execute command '%s' (fork failed): %s", command, exc)
            return
        if self.synchronous:
            child.wait()
            return
        with self._cond:
            if self._closed:
                _wait_in_background([child])
                return
            self._children.append(child)
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="fastscp-reaper",
                                                daemon=True)
                self._reaper.start()
            self._cond.notify()

    def _reap(self) -> None:
        with self._cond:
            while not self._closed:
                self._children = [c for c in self._children if c.poll() is None]
                # poll while children run (bounded zombie lifetime), sleep otherwise
                self._cond.wait(0.2 if self._children else None)

    def close(self) -> None:
        """Stop the reaper; children still running finish on their own and
        are waited for by a daemon thread (no zombie in a process that goes on)."""
        with self._cond:
            self._children = [c for c in self._children if c.poll() is None]
            self._closed = True
            self._cond.notify()
            if self._children:
                _wait_in_background(self._children)
                self._children = []

    @property
    def running(self) -> int:
        with self._cond:
            return sum(1 for c in self._children if c.poll() is None)


def _wait_in_background(children: List[subprocess.Popen]) -> None:
    def wait_all() -> None:
        for child in children:
            child.wait()
    threading.Thread(target=wait_all, name="fastscp-reaper", daemon=True).start()


def rename_study_files(directory: str, names: List[str], timenames: bool) -> dict:
    """-rns: rename the study's files to <2-char prefix><6-digit number> in
    reception order (storescp: POSIX rename, a failure only warns and the
    number is used up).  Returns {old name: new name} of the renamed ones."""
    renamed = {}
    for counter, name in enumerate(names, start=1):
        kind = name.split(".", 1)[1] if timenames and "." in name else name
        new = "%s%06d" % (kind[:2], counter)
        old_path = os.path.join(directory, name)
        new_path = os.path.join(directory, new)
        try:
            os.rename(old_path, new_path)
        except OSError:
            log.warning("cannot rename file '%s' to '%s'", old_path, new_path)
            continue
        renamed[name] = new
    return renamed


def call_hook(hook: Optional[Callable], arg, what: str) -> bool:
    """Call a user callback; log (never raise) if it fails.  True if it ran cleanly."""
    if hook is None:
        return True
    try:
        hook(arg)
        return True
    except Exception:
        log.exception("%s hook failed", what)
        return False


class StudyTimer:
    """-tos: ends the current study after `timeout` seconds without objects
    (no C-STORE in progress and none completed or begun meanwhile)."""

    def __init__(self, timeout: float, on_expire: Callable[[], None]) -> None:
        self.timeout = timeout
        self._on_expire = on_expire
        self._cond = threading.Condition()
        self._in_progress = 0
        self._last = time.monotonic()
        self._armed = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="fastscp-eostudy", daemon=True)
        self._thread.start()

    def begin(self) -> None:
        with self._cond:
            self._in_progress += 1
            self._last = time.monotonic()

    def end(self, stored: bool) -> None:
        with self._cond:
            self._in_progress -= 1
            self._last = time.monotonic()
            if stored:
                self._armed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._armed:
                    self._cond.wait()
                    continue
                remaining = self._last + self.timeout - time.monotonic()
                if self._in_progress > 0 or remaining > 0:
                    self._cond.wait(max(remaining, 0.05) if self._in_progress == 0 else None)
                    continue
                self._armed = False
                self._cond.release()
                try:
                    self._on_expire()
                except Exception:
                    log.exception("end-of-study processing failed")
                finally:
                    self._cond.acquire()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)
