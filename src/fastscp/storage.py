"""Where a received object goes, and how it gets there atomically.

Every object is written to a file without a name (Linux O_TMPFILE) or
under a hidden temporary name, in its destination file system, and gets
its final name only when it was received and written completely (linkat,
or rename).  An aborted association, a full disk or a crash never leaves a
partial file under a final name; a file without a name cannot even be left
behind.  `Storage` owns the placement
state (`fastscp.placement`: file names, sort directories, the current
study) and is the one place that renames objects into place.
"""
from __future__ import annotations

import errno
import itertools
import logging
import os
import re
from fastscp.record import Record
from typing import TYPE_CHECKING, Callable, Optional, Set, Tuple, TypeVar
from fastscp.log import APP_LOGGER

if TYPE_CHECKING:
    from fastscp.config import ServerConfig
    from fastscp.placement import Study
    from fastscp.records import AssociationInfo


log = logging.getLogger(APP_LOGGER)

TEMP_PREFIX = ".fastscp-"
TEMP_SUFFIX = ".part"
T = TypeVar("T")
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
#: an unnamed file in a directory's file system (Linux; 0 = not available)
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
#: errors of open(O_TMPFILE) meaning "not on this file system or kernel"
_NO_TMPFILE_ERRNOS = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}

# Characters kept in a name component taken from received data (as Debian's
# storescp); everything else becomes '_', so no value can add a path level.
UNUSUAL_NAME_CHARS = re.compile(r"[^A-Za-z0-9.:@_-]")


def sanitize_component(value: str, what: str) -> str:
    """Make a received value safe as (part of) one file name component."""
    clean = UNUSUAL_NAME_CHARS.sub("_", value)
    if clean != value:
        log.warning('Sanitized unusual characters in %s, converted from "%s" to "%s".',
                    what, value.encode("ascii", "backslashreplace").decode("ascii"), clean)
    return clean


def display_directory(path: str) -> str:
    """The output directory as storescp shows it in logs and '#p' (no trailing '/')."""
    return path.rstrip("/") or "/"


class Placed(Record, frozen=True):
    """Where `Storage.place` put an object."""
    directory: str
    final_path: str
    #: the study that ended because this object belongs to another one
    ended_study: Optional["Study"]


class PlacementFailed(Exception):
    """An object storescp refuses to place (0xC000); carries the directory
    and the (stale) file name storescp then substitutes for #p and #f."""

    def __init__(self, message: str, directory: str, name: str) -> None:
        super().__init__(message)
        self.directory = directory
        self.name = name


class Storage:
    """Objects under <output directory> (sort subdirectories, names as the
    options say), renamed into place when complete."""

    def __init__(self, config: "ServerConfig") -> None:
        from fastscp.placement import Placement
        self.directory = display_directory(config.output_directory)
        self.placement = Placement(config)
        #: studies are tracked (directories per study, end of study) with a
        #: sort option or for a subscriber (`track_studies`)
        self.tracking = self.placement.sort_mode is not None
        # unique temporary names without mkstemp's random-name cost (hot path)
        self._serial = itertools.count()
        #: directories whose file system refused O_TMPFILE (named temporary files there)
        self._named_only: Set[str] = set()

    def track_studies(self) -> None:
        """Follow studies for the end-of-study logic even without a sort option."""
        self.tracking = True

    def file_name(self, sop_class_uid: str, sop_instance_uid: str) -> str:
        """The object's file name (-uf/+uf/-tn/-fe), decided at its C-STORE-RQ."""
        return self.placement.file_name(sop_class_uid, sop_instance_uid)

    def place(self, temp_path: Optional[str], fd: int, directory: str, name: str, *, chosen: bool,
              study_uid: Optional[str], patient_name: Optional[bytes],
              charset: Optional[str], info: "AssociationInfo", announce: bool) -> Placed:
        """Decide the directory (sort options, study state) unless `chosen`
        (a hook chose the path), give the complete temporary file (`fd`;
        `temp_path` None if it has no name) its final name and record it in
        its study.  Raises PlacementFailed (storescp answers 0xC000) or
        OSError; the temporary file is then still there."""
        if not self.tracking:
            return self._commit_at(temp_path, fd, directory, name, announce, None)
        from fastscp.placement import PlacementError
        placement = self.placement
        with placement.lock:
            try:
                where, ended, study = placement.decide(study_uid, patient_name, charset, info)
            except PlacementError as exc:
                if str(exc):
                    current = placement.current
                    raise PlacementFailed(
                        str(exc), current.directory if current else directory,
                        current.files[-1][1] if current is not None and current.files else name
                    ) from None
                where, ended, study = directory, None, None    # no study UID: not tracked
            placed = self._commit_at(temp_path, fd, directory if chosen else where, name, announce,
                                     ended)
            if study is not None:
                placement.record(study, placed.directory, name)
        return placed

    def _commit_at(self, temp_path: Optional[str], fd: int, directory: str, name: str,
                   announce: bool, ended: Optional["Study"]) -> Placed:
        final_path = os.path.join(directory, name)
        if announce:
            log.info("storing DICOM file: %s", final_path)
        if temp_path is None:
            self.commit_unnamed(fd, final_path)
        else:
            self.commit(temp_path, final_path)
        return Placed(directory, final_path, ended)

    def end_current_study(self) -> Optional["Study"]:
        """End the current study now (-tos timeout, shutdown)."""
        if not self.tracking:
            return None
        with self.placement.lock:
            return self.placement.end_current()

    def open_temp(self, directory: str) -> Tuple[int, Optional[str]]:
        """Create a new temporary file in directory's file system; returns
        (fd, path), path None for a file without a name (O_TMPFILE: no name
        to make, check or remove; `commit_unnamed` links it into place).

        Mode 0666 & ~umask, like any file the process creates.  O_EXCL: a
        name left by another process is skipped, never reused.
        """
        if _O_TMPFILE and directory not in self._named_only:
            try:
                return os.open(directory, _O_TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0),
                               0o666), None
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE_ERRNOS:
                    raise
                self._named_only.add(directory)
        path, fd = self._under_temp_name(directory, lambda p: os.open(p, _TEMP_FLAGS, 0o666))
        return fd, path

    def _under_temp_name(self, directory: str, create: Callable[[str], T]) -> Tuple[str, T]:
        """`create(path)` under a new hidden temporary name in directory;
        a name that exists (left by another process) is skipped, never reused."""
        while True:
            path = os.path.join(directory, "%s%d-%d%s" % (TEMP_PREFIX, os.getpid(), next(self._serial),
                                                          TEMP_SUFFIX))
            try:
                return path, create(path)
            except FileExistsError:
                continue

    @staticmethod
    def commit(temp_path: str, final_path: str) -> None:
        """Give the completed temporary file its final name (replacing any old file)."""
        if os.path.lexists(final_path):
            log.warning("DICOM file already exists, overwriting: %s", final_path)
        os.replace(temp_path, final_path)

    def commit_unnamed(self, fd: int, final_path: str) -> None:
        """Give the completed unnamed file `fd` its final name (replacing any old file)."""
        try:
            # a directory descriptor makes os.link call linkat(AT_SYMLINK_FOLLOW),
            # which links the file behind the /proc link; for the absolute
            # source path the kernel ignores which descriptor it is
            os.link("/proc/self/fd/%d" % fd, final_path, src_dir_fd=fd)
            return
        except FileExistsError:
            pass
        # linkat never replaces a name: link under a temporary one, rename over
        temp_path, _ = self._under_temp_name(
            os.path.dirname(final_path) or ".",
            lambda p: os.link("/proc/self/fd/%d" % fd, p, src_dir_fd=fd))
        try:
            self.commit(temp_path, final_path)
        except OSError:
            self.discard(temp_path)
            raise

    @staticmethod
    def discard(temp_path: str) -> None:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
