"""Logger names, levels and the default console set-up, in DCMTK's terms.

fastscp's Python loggers mirror the log4cplus logger names DCMTK uses, under
``fastscp``: the log4cplus root logger is ``fastscp`` and log4cplus logger
``N`` is ``fastscp.N``.  So a log4cplus properties file (``-lc``,
`fastscp.logconfig`) that configures ``dcmtk.apps.storescp`` configures the
logger fastscp's application messages go to.  Which messages go where:

=================================  ==============================================
``dcmtk.apps.storescp``            everything the application logs (as storescp)
``dcmtk.apps.storescp.progress``   nothing is logged; its level decides the
                                   progress dots on stdout (exactly INFO: shown)
``dcmtk.dcmnet``                   the network layer's debug lines (peer host)
``dcmtk.dcmdata``                  data dictionary problems (DCMDICTPATH)
root (``fastscp``)                 ``--arguments``
=================================  ==============================================

Levels are DCMTK's: fatal, error, warn, info, debug, trace (trace being below
Python's DEBUG), plus ``off`` and ``all``.  :func:`setup_logging` installs
DCMTK's default: one console handler on the root writing ``%P: %m%n`` to
stderr (``I: message``, the prefix on every line of a message), with each line's
syslog priority in front when stderr is systemd's journal (`fastscp.journal`).
"""
from __future__ import annotations

import logging
import sys
from typing import IO, Any, Optional

#: the log4cplus root logger: every fastscp logger is below it
ROOT_LOGGER = "fastscp"
LOGGER_NAME = ROOT_LOGGER
#: the application's messages (storescp's logger)
APP_LOGGER = ROOT_LOGGER + ".dcmtk.apps.storescp"
#: only its level counts: progress dots when exactly INFO
PROGRESS_LOGGER = APP_LOGGER + ".progress"
#: the network layer's messages
NET_LOGGER = ROOT_LOGGER + ".dcmtk.dcmnet"
#: the data dictionary's messages
DATA_LOGGER = ROOT_LOGGER + ".dcmtk.dcmdata"

#: DCMTK's default console pattern
DEFAULT_PATTERN = "%P: %m%n"

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

#: log4cplus' level names (%p), most severe first, with their lowest Python level
_NAMES = (
    (logging.CRITICAL, "FATAL"),
    (logging.ERROR, "ERROR"),
    (logging.WARNING, "WARN"),
    (logging.INFO, "INFO"),
    (logging.DEBUG, "DEBUG"),
)


def level_name(levelno: int) -> str:
    """log4cplus' name of a level (``%p``): FATAL ERROR WARN INFO DEBUG TRACE."""
    for threshold, name in _NAMES:
        if levelno >= threshold:
            return name
    return "TRACE"


def level_letter(levelno: int) -> str:
    """The one-letter tag DCMTK prints for a level (``%P``)."""
    return level_name(levelno)[0]


def level_of(logger: logging.Logger) -> str:
    """The DCMTK level name of a logger's effective level."""
    levelno = logger.getEffectiveLevel()
    for name in ("off", "fatal", "error", "warn", "info", "debug"):
        if levelno >= LEVELS[name]:
            return name
    return "trace"


def log4cplus_name(python_name: str) -> str:
    """The log4cplus name of a fastscp logger (``%c``): root for ``fastscp``."""
    if python_name == ROOT_LOGGER:
        return "root"
    if python_name.startswith(ROOT_LOGGER + "."):
        return python_name[len(ROOT_LOGGER) + 1:]
    return python_name


def python_name(log4cplus_logger: str) -> str:
    """The fastscp logger a log4cplus logger name configures."""
    return ROOT_LOGGER + "." + log4cplus_logger


def parse_level(level: str) -> int:
    """Python level number of a DCMTK level name (case-insensitive)."""
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError("invalid log level %r (expected one of %s)"
                         % (level, ", ".join(LEVELS))) from None


def flush_output() -> None:
    """Flush every logging handler (an appender may buffer: ImmediateFlush
    false) and stdout/stderr.  Before a fork, or a child writes the parent's
    buffered lines again; before a child leaves with os._exit, or its own
    are lost."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = {h for logger in loggers if isinstance(logger, logging.Logger) for h in logger.handlers}
    for handler in handlers:
        try:
            handler.flush()
        except Exception:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def remove_handlers(logger: logging.Logger) -> None:
    """Take off and close the handlers fastscp installed on ``logger``
    (others, e.g. a test framework's, stay)."""
    for handler in list(logger.handlers):
        if getattr(handler, "_fastscp_console", False) or getattr(handler, "_fastscp_appender", False):
            logger.removeHandler(handler)
            handler.close()


def setup_logging(level: str = "warn", stream: Optional[IO[str]] = None) -> logging.Logger:
    """Configure fastscp's loggers for console output, as storescp without
    ``-lc``: the root logger at ``level`` with one handler writing
    ``L: message`` lines.

    ``level`` is a DCMTK level name (fatal, error, warn, info, debug, trace,
    off, all).  ``stream`` defaults to the current ``sys.stderr`` (looked up
    at each message).  Calling again replaces the handler installed before
    (no duplicate lines).
    """
    from .logappenders import ConsoleAppender
    from .journal import JournalLayout, stderr_is_journal
    from .loglayout import PatternLayout
    levelno = parse_level(level)
    logger = logging.getLogger(ROOT_LOGGER)
    remove_handlers(logger)
    handler = ConsoleAppender(to_stderr=True, immediate_flush=True, stream=stream)
    handler._fastscp_console = True
    if stream is None and stderr_is_journal():
        handler.setFormatter(JournalLayout(DEFAULT_PATTERN))
    else:
        handler.setFormatter(PatternLayout(DEFAULT_PATTERN))
    logger.addHandler(handler)
    logger.setLevel(levelno)
    # our handler prints everything; do not print it again via root handlers
    logger.propagate = False
    return logger


def forced_log(logger: logging.Logger, levelno: int, message: str) -> None:
    """Log whatever the logger's level (log4cplus' forcedLog: storescp's
    ``--arguments``); appender thresholds still apply."""
    logger.handle(logger.makeRecord(logger.name, levelno, "(forced)", 0, message, (), None))


def trace(logger: logging.Logger, msg: str, *args: object, **kwargs: Any) -> None:
    """Log at TRACE level."""
    if logger.isEnabledFor(TRACE):
        logger._log(TRACE, msg, args, **kwargs)


class _LogLog:
    """log4cplus' own diagnostics (``log4cplus:ERROR ...``) on stderr, for
    problems in a configuration file or with its appenders; quiet mode
    (set as storescp sets it) silences them."""

    quiet = False

    def _write(self, prefix: str, message: str) -> None:
        if not self.quiet:
            sys.stderr.write(prefix + message + "\n")
            sys.stderr.flush()

    def error(self, message: str) -> None:
        self._write("log4cplus:ERROR ", message)

    def warn(self, message: str) -> None:
        self._write("log4cplus:WARN ", message)


#: the one instance
loglog = _LogLog()
