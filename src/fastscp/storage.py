"""Where a received object goes, and how it gets there atomically.

Every object is written under a hidden temporary name in its destination
directory and renamed to its final name only when it was received and
written completely.  An aborted association, a full disk or a crash never
leaves a partial file under a final name.
"""
from __future__ import annotations

import logging
import os
import re
import itertools
from typing import Tuple


log = logging.getLogger("fastscp")

TEMP_PREFIX = ".fastscp-"
TEMP_SUFFIX = ".part"
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)

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


class Storage:
    """Default placement: <output directory>/<prefix>.<SOP Instance UID>."""

    def __init__(self, output_directory: str = "."):
        self.directory = display_directory(output_directory)
        # unique temporary names without mkstemp's random-name cost (hot path)
        self._serial = itertools.count()

    def open_temp(self, directory: str) -> Tuple[int, str]:
        """Create a new temporary file in directory; returns (fd, path).

        Mode 0666 & ~umask, like any file the process creates.  O_EXCL: a
        name left by another process is skipped, never reused.
        """
        while True:
            path = os.path.join(directory, "%s%d-%d%s" % (TEMP_PREFIX, os.getpid(), next(self._serial),
                                                          TEMP_SUFFIX))
            try:
                return os.open(path, _TEMP_FLAGS, 0o666), path
            except FileExistsError:
                continue

    @staticmethod
    def commit(temp_path: str, final_path: str) -> None:
        """Give the completed temporary file its final name (replacing any old file)."""
        if os.path.lexists(final_path):
            log.warning("DICOM file already exists, overwriting: %s", final_path)
        os.replace(temp_path, final_path)

    @staticmethod
    def discard(temp_path: str) -> None:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
