"""Console logging in DCMTK's layout.

Every module logs through ``logging.getLogger("fastscp")`` or a child such
as ``fastscp.assoc``.  :func:`setup_logging` gives that logger one handler
writing ``L: message`` lines, where ``L`` is one of ``F E W I D T``; each
line of a multi-line message carries the prefix, as DCMTK's ``%P: %m%n``
pattern does.  Levels are DCMTK's: fatal, error, warn, info, debug, trace
(trace being below Python's DEBUG), plus ``off`` and ``all``.
"""
from __future__ import annotations

import logging
import sys
from typing import IO, Any, Optional

#: the logger every fastscp module logs to (children: fastscp.assoc, ...)
LOGGER_NAME = "fastscp"

#: custom level below DEBUG for DCMTK's TRACE
TRACE = 5
#: DCMTK's FATAL is Python's CRITICAL
FATAL = logging.CRITICAL
#: above every level: nothing is logged
OFF = logging.CRITICAL + 10

logging.addLevelName(TRACE, "TRACE")

#: DCMTK level name -> Python level
LEVELS = {
    "off": OFF,
    "fatal": FATAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
    "all": 1,
}

_LETTERS = (
    (logging.CRITICAL, "F"),
    (logging.ERROR, "E"),
    (logging.WARNING, "W"),
    (logging.INFO, "I"),
    (logging.DEBUG, "D"),
)


def level_letter(levelno: int) -> str:
    """The one-letter tag DCMTK prints for a level."""
    for threshold, letter in _LETTERS:
        if levelno >= threshold:
            return letter
    return "T"


class DcmtkFormatter(logging.Formatter):
    """``L: message``, the prefix repeated on every line."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = text + "\n" + record.exc_text if text else record.exc_text
        if record.stack_info:
            text = text + "\n" + self.formatStack(record.stack_info)
        prefix = level_letter(record.levelno) + ": "
        return "\n".join(prefix + line for line in text.split("\n"))


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Stream handler; with no explicit stream it writes to whatever
    ``sys.stderr`` is at the time of each message (so redirections made
    after set-up, e.g. by test frameworks, are honoured)."""

    _fastscp_console = True

    def __init__(self, stream: Optional[IO[str]] = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._follow_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def parse_level(level: str) -> int:
    """Python level number of a DCMTK level name (case-insensitive)."""
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError("invalid log level %r (expected one of %s)"
                         % (level, ", ".join(LEVELS))) from None


def setup_logging(level: str = "warn", stream: Optional[IO[str]] = None) -> logging.Logger:
    """Configure the ``fastscp`` logger for console output.

    ``level`` is a DCMTK level name (fatal, error, warn, info, debug, trace,
    off, all).  ``stream`` defaults to the current ``sys.stderr``.  Calling
    again replaces the handler installed before (no duplicate lines).
    """
    levelno = parse_level(level)
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if getattr(handler, "_fastscp_console", False):
            logger.removeHandler(handler)
            handler.close()
    handler = _ConsoleHandler(stream)
    handler.setFormatter(DcmtkFormatter())
    logger.addHandler(handler)
    logger.setLevel(levelno)
    # our handler prints everything; do not print it again via root handlers
    logger.propagate = False
    return logger


def trace(logger: logging.Logger, msg: str, *args: object, **kwargs: Any) -> None:
    """Log at TRACE level."""
    if logger.isEnabledFor(TRACE):
        logger._log(TRACE, msg, args, **kwargs)
