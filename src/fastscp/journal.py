"""Standard error as systemd's journal: each line gets the syslog priority
of its level (``<3>E: message``), which journald reads and strips
(sd-daemon(3)), so ``journalctl -p warning`` selects fastscp's warnings.

systemd says a stream is the journal through ``JOURNAL_STREAM``
(``device:inode`` of the stream it connected); a redirection of standard
error since then (``2>file`` in ExecStart's shell) no longer matches, and
the lines stay as they are.  The console lines carry no time stamp (the
default pattern is ``%P: %m%n``), so the journal's own time is the only one;
a ``-lc`` file's patterns are used unchanged.
"""
from __future__ import annotations

import logging
import os
import sys

from .log import FATAL
from .loglayout import PatternLayout

#: syslog priorities (sys/syslog.h) of the levels, most severe first
_PRIORITIES = (
    (FATAL, 2),                 # LOG_CRIT
    (logging.ERROR, 3),         # LOG_ERR
    (logging.WARNING, 4),       # LOG_WARNING
    (logging.INFO, 6),          # LOG_INFO
)
_LOG_DEBUG = 7


def stderr_is_journal() -> bool:
    """Whether standard error is the stream systemd connected to the journal."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    try:
        stat = os.fstat(sys.stderr.fileno())
        return (int(device), int(inode)) == (stat.st_dev, stat.st_ino)
    except (ValueError, OSError, AttributeError):
        # no variable, a malformed one, or a stderr without a descriptor
        return False


def priority(levelno: int) -> int:
    """The syslog priority of a Python log level."""
    for threshold, value in _PRIORITIES:
        if levelno >= threshold:
            return value
    return _LOG_DEBUG


class JournalLayout(PatternLayout):
    """A pattern layout whose every line starts with its priority."""

    def format_line(self, record: logging.LogRecord, message: str) -> str:
        return "<%d>%s" % (priority(record.levelno), super().format_line(record, message))
