"""log4cplus appenders and filters as `logging.Handler` / `logging.Filter` classes.

Each appender kind reads its properties as DCMTK's log4cplus (1.1) does
(`from_properties`); the ones every appender has are read by
`Appender.configure`: ``layout`` (+ ``layout.*``), ``Threshold`` (the
handler's level) and ``filters.1``, ``filters.2``... (a filter chain).

=============================  =================================================
ConsoleAppender                stdout, or stderr with ``logToStdErr=true`` (the
                               property name is case-sensitive, as in log4cplus);
                               ``ImmediateFlush``
NullAppender                   discards everything
FileAppender                   ``File``, ``Append`` (default false: truncate),
                               ``ImmediateFlush`` (default true)
RollingFileAppender            a file appender (appending by default) that
                               rolls over once the file exceeds ``MaxFileSize``
                               (bytes, or with KB/MB; default 10MB, at least
                               200KB): FILE.1 ... FILE.``MaxBackupIndex``
                               (default 1, at least 1)
DailyRollingFileAppender       rolls over when a period of ``Schedule``
                               (MONTHLY, WEEKLY, DAILY (default), TWICE_DAILY,
                               HOURLY, MINUTELY) has passed, and when closed:
                               FILE is renamed to FILE.<period start>, earlier
                               ones to FILE.<period start>.1 ...
                               ``MaxBackupIndex`` (default 10)
SysLogAppender                 ``facility`` (default user), ``ident``; with
                               ``host`` (and ``port``, default 514) RFC 5424
                               datagrams over UDP, else the local syslog(3)
=============================  =================================================
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import time
from typing import IO, Any, Callable, Dict, List, Optional

from .log import FATAL, LEVELS, log4cplus_name, loglog
from .loglayout import PatternLayout, SimpleLayout, TTCCLayout, format_time, qualified_hostname
from .logproperties import Properties

#: DCMTK's log4cplus level names (``Threshold``, filters, loggers), upper case
_LEVEL_NAMES = {name.upper(): level for name, level in LEVELS.items()}
_LEVEL_NAMES["ALL"] = LEVELS["trace"]
#: log4cplus' NOT_SET
NOT_SET = 0


def level_from_string(text: str) -> int:
    """log4cplus' LogLevelManager::fromString: a level name in any case;
    NOT_SET for anything else."""
    return _LEVEL_NAMES.get(text.upper(), NOT_SET)


# ---------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------

ACCEPT, NEUTRAL, DENY = 1, 0, -1

#: one filter: decides ACCEPT, NEUTRAL or DENY for a record
Decide = Callable[[logging.LogRecord], int]


def _deny_all(props: Properties) -> Decide:
    return lambda record: DENY


def _level_match(props: Properties) -> Decide:
    accept = props.get_bool("AcceptOnMatch") or False
    level = level_from_string(props.get("LogLevelToMatch"))

    def decide(record: logging.LogRecord) -> int:
        if level == NOT_SET or record.levelno != level:
            return NEUTRAL
        return ACCEPT if accept else DENY
    return decide


def _level_range(props: Properties) -> Decide:
    accept = props.get_bool("AcceptOnMatch") or False
    low = level_from_string(props.get("LogLevelMin"))
    high = level_from_string(props.get("LogLevelMax"))

    def decide(record: logging.LogRecord) -> int:
        if low != NOT_SET and record.levelno < low:
            return DENY
        if high != NOT_SET and record.levelno > high:
            return DENY
        return ACCEPT if accept else NEUTRAL
    return decide


def _string_match(props: Properties) -> Decide:
    accept = props.get_bool("AcceptOnMatch") or False
    wanted = props.get("StringToMatch")

    def decide(record: logging.LogRecord) -> int:
        message = record.getMessage()
        if not wanted or not message or wanted not in message:
            return NEUTRAL
        return ACCEPT if accept else DENY
    return decide


FILTERS = {
    "log4cplus::spi::DenyAllFilter": _deny_all,
    "log4cplus::spi::LogLevelMatchFilter": _level_match,
    "log4cplus::spi::LogLevelRangeFilter": _level_range,
    "log4cplus::spi::StringMatchFilter": _string_match,
}


class FilterChain(logging.Filter):
    """log4cplus' filter chain: the first filter that is not NEUTRAL decides;
    a record all filters are neutral about passes."""

    def __init__(self, filters: List[Decide]) -> None:
        super().__init__()
        self.filters = filters

    def filter(self, record: logging.LogRecord) -> bool:
        for decide in self.filters:
            result = decide(record)
            if result != NEUTRAL:
                return result == ACCEPT
        return True


# ---------------------------------------------------------------------------
# appenders
# ---------------------------------------------------------------------------

LAYOUTS = ("log4cplus::SimpleLayout", "log4cplus::TTCCLayout", "log4cplus::PatternLayout")


def layout_from_properties(kind: str, props: Properties) -> Optional[logging.Formatter]:
    """The layout ``kind`` configured by ``props`` (the ``layout.`` subset)."""
    if kind == "log4cplus::SimpleLayout":
        return SimpleLayout()
    if kind == "log4cplus::TTCCLayout":
        return TTCCLayout(props.get("DateFormat"), props.get_bool("Use_gmtime") or False)
    if kind == "log4cplus::PatternLayout":
        each_line = props.get_bool("FormatEachLine")
        pattern = props.get("ConversionPattern", props.get("Pattern"))
        if "Pattern" in props:
            loglog.warn("PatternLayout- the \"Pattern\" property has been deprecated.  "
                        "Use \"ConversionPattern\" instead.")
        if "ConversionPattern" not in props and "Pattern" not in props:
            loglog.error("ConversionPattern not specified in properties")
            return None
        return PatternLayout(pattern, True if each_line is None else each_line)
    loglog.error("Cannot find LayoutFactory: \"%s\"" % kind)
    return None


class Appender(logging.Handler):
    """What every appender has: layout (default SimpleLayout), threshold,
    filters; `write` puts the formatted text out."""

    _fastscp_appender = True

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(SimpleLayout())
        self._reported = False

    def configure(self, props: Properties) -> "Appender":
        """Read the properties every appender has."""
        if "layout" in props:
            layout = layout_from_properties(props.get("layout"), props.subset("layout."))
            if layout is not None:
                self.setFormatter(layout)
        if "Threshold" in props:
            self.setLevel(level_from_string(props.get("Threshold")))
        filters = props.subset("filters.")
        chain: List[Decide] = []
        n = 1
        while str(n) in filters:
            kind = filters.get(str(n))
            make = FILTERS.get(kind)
            if make is None:
                loglog.error("Appender::ctor()- Cannot find FilterFactory: " + kind)
            else:
                chain.append(make(filters.subset("%d." % n)))
            n += 1
        if chain:
            self.addFilter(FilterChain(chain))
        return self

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record), record)
        except Exception:
            self.handleError(record)

    def write(self, text: str, record: logging.LogRecord) -> None:
        raise NotImplementedError

    def report_once(self, message: str) -> None:
        """log4cplus' OnlyOnceErrorHandler: an appender's first error only."""
        if not self._reported:
            self._reported = True
            loglog.error(message)


class NullAppender(Appender):
    """Discards everything."""

    def write(self, text: str, record: logging.LogRecord) -> None:
        pass

    @classmethod
    def from_properties(cls, props: Properties, appname: str) -> "NullAppender":
        return cls()


class ConsoleAppender(Appender):
    """stdout or stderr, looked up at each message (so redirections made
    after set-up, e.g. by test frameworks, are honoured), unless a stream
    is given."""

    #: True for the handler `fastscp.log.setup_logging` installs
    _fastscp_console = False

    def __init__(self, to_stderr: bool = False, immediate_flush: bool = False,
                 stream: Optional[IO[str]] = None) -> None:
        super().__init__()
        self.to_stderr = to_stderr
        self.immediate_flush = immediate_flush
        self.stream = stream

    def write(self, text: str, record: logging.LogRecord) -> None:
        out = self.stream or (sys.stderr if self.to_stderr else sys.stdout)
        out.write(text)
        if self.immediate_flush:
            out.flush()

    def flush(self) -> None:
        out = self.stream or (sys.stderr if self.to_stderr else sys.stdout)
        if out is not None and hasattr(out, "flush"):
            out.flush()

    @classmethod
    def from_properties(cls, props: Properties, appname: str) -> "ConsoleAppender":
        return cls(props.get_bool("logToStdErr") or False, props.get_bool("ImmediateFlush") or False)


def _rename(source: str, target: str) -> None:
    """Rename, reporting failures other than a missing source (log4cplus)."""
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            loglog.error("Failed to rename file from %s to %s; error %d" % (source, target, exc.errno or 0))


def roll_backups(filename: str, count: int) -> None:
    """FILE.count is removed, FILE.i becomes FILE.i+1 (log4cplus' rolloverFiles)."""
    try:
        os.remove("%s.%d" % (filename, count))
    except OSError:
        pass
    for i in range(count - 1, 0, -1):
        _rename("%s.%d" % (filename, i), "%s.%d" % (filename, i + 1))


class FileAppender(Appender):
    """A file, opened when the appender is made (relative names: from the
    working directory at that time)."""

    def __init__(self, filename: str, append: bool = False, immediate_flush: bool = True) -> None:
        super().__init__()
        self.filename = filename
        self.immediate_flush = immediate_flush
        self.file: Optional[IO[bytes]] = None
        self.open("ab" if append else "wb")

    def open(self, mode: str) -> None:
        try:
            self.file = open(self.filename, mode)
        except OSError:
            self.file = None
            self.report_once("Unable to open file: " + self.filename)

    def write(self, text: str, record: logging.LogRecord) -> None:
        if self.file is None:
            self.open("ab")
            if self.file is None:
                return
            self._reported = False
        self.file.write(text.encode("utf-8", "surrogateescape"))
        if self.immediate_flush:
            self.file.flush()

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        self.acquire()
        try:
            if self.file is not None:
                self.file.close()
                self.file = None
        finally:
            self.release()
        super().close()

    #: ``Append``'s default for the kind
    APPEND = False

    @classmethod
    def from_properties(cls, props: Properties, appname: str) -> Optional["FileAppender"]:
        """``File``, ``Append``, ``ImmediateFlush`` and the kind's own (`kind_settings`)."""
        name = props.get("File")
        if not name:
            loglog.error("Invalid filename")
            return None
        append = props.get_bool("Append")
        flush = props.get_bool("ImmediateFlush")
        return cls(name, cls.APPEND if append is None else append, True if flush is None else flush,
                   **cls.kind_settings(props))

    @classmethod
    def kind_settings(cls, props: Properties) -> Dict[str, Any]:
        return {}


DEFAULT_ROLLING_SIZE = 10 * 1024 * 1024
MINIMUM_ROLLING_SIZE = 200 * 1024


def parse_size(text: str) -> int:
    """``MaxFileSize``: a number (C's atoi), times 1024 with KB or 1024*1024
    with MB; at least 200KB."""
    from .options import c_long
    upper = text.upper()
    size = c_long(upper) or 0
    if size != 0 and len(upper) > 2:
        if upper.endswith("MB"):
            size *= 1024 * 1024
        elif upper.endswith("KB"):
            size *= 1024
    return max(size, MINIMUM_ROLLING_SIZE)


class RollingFileAppender(FileAppender):
    """Rolls over once the file is larger than ``max_size`` bytes, keeping
    ``max_backups`` older files FILE.1 (newest) ... FILE.n."""

    APPEND = True

    def __init__(self, filename: str, append: bool = True, immediate_flush: bool = True,
                 max_size: int = DEFAULT_ROLLING_SIZE, max_backups: int = 1) -> None:
        super().__init__(filename, append, immediate_flush)
        if max_size < MINIMUM_ROLLING_SIZE:
            loglog.warn("RollingFileAppender: MaxFileSize property value is too small. "
                        "Resetting to %d." % MINIMUM_ROLLING_SIZE)
            max_size = MINIMUM_ROLLING_SIZE
        self.max_size = max_size
        self.max_backups = max(max_backups, 1)

    def write(self, text: str, record: logging.LogRecord) -> None:
        super().write(text, record)
        if self.file is not None and self.file.tell() > self.max_size:
            self.rollover()

    def rollover(self) -> None:
        if self.file is not None:
            self.file.close()
        roll_backups(self.filename, self.max_backups)
        _rename(self.filename, self.filename + ".1")
        self.open("wb")

    @classmethod
    def kind_settings(cls, props: Properties) -> Dict[str, Any]:
        size_text = props.get("MaxFileSize")
        backups = props.get_int("MaxBackupIndex")
        return {"max_size": parse_size(size_text) if size_text else DEFAULT_ROLLING_SIZE,
                "max_backups": 1 if backups is None else backups}


#: Schedule -> the strftime suffix of the rolled-over file names
SCHEDULES = {
    "MONTHLY": "%Y-%m",
    "WEEKLY": "%Y-%W",
    "DAILY": "%Y-%m-%d",
    "TWICE_DAILY": "%Y-%m-%d-%p",
    "HOURLY": "%Y-%m-%d-%H",
    "MINUTELY": "%Y-%m-%d-%H-%M",
}
_PERIODS = {"WEEKLY": 7 * 86400, "DAILY": 86400, "TWICE_DAILY": 12 * 3600,
            "HOURLY": 3600, "MINUTELY": 60}


def period_start(now: float, schedule: str) -> float:
    """The start of the period of ``schedule`` that ``now`` is in (local time)."""
    import datetime     # here: only daily rolling files need it (start-up time)
    t = datetime.datetime.fromtimestamp(int(now)).replace(second=0)
    if schedule == "MONTHLY":
        t = t.replace(day=1, hour=0, minute=0)
    elif schedule == "WEEKLY":
        t = t.replace(hour=0, minute=0) - datetime.timedelta(days=(t.weekday() + 1) % 7)
    elif schedule == "DAILY":
        t = t.replace(hour=0, minute=0)
    elif schedule == "TWICE_DAILY":
        t = t.replace(hour=12 if t.hour >= 12 else 0, minute=0)
    elif schedule == "HOURLY":
        t = t.replace(minute=0)
    return t.timestamp()


def next_rollover(start: float, schedule: str) -> float:
    """When the period that ``start`` begins ends."""
    if schedule == "MONTHLY":
        import datetime
        t = datetime.datetime.fromtimestamp(start)
        year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
        try:
            return t.replace(year=year, month=month).timestamp()
        except ValueError:              # no such day in the next month
            return start + 2678400

    return start + _PERIODS[schedule]


class DailyRollingFileAppender(FileAppender):
    """Rolls over at the end of each period of ``schedule``, and when closed."""

    APPEND = True

    def __init__(self, filename: str, append: bool = True, immediate_flush: bool = True,
                 schedule: str = "DAILY", max_backups: int = 10) -> None:
        super().__init__(filename, append, immediate_flush)
        self.schedule = schedule
        self.max_backups = max_backups
        start = period_start(self.now(), schedule)
        self.scheduled = self.dated_name(start)
        self.next = next_rollover(start, schedule)

    @staticmethod
    def now() -> float:
        return time.time()

    def dated_name(self, t: float) -> str:
        return self.filename + "." + format_time(t, SCHEDULES[self.schedule], False)

    def write(self, text: str, record: logging.LogRecord) -> None:
        if record.created >= self.next:
            self.rollover()
        super().write(text, record)

    def rollover(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        roll_backups(self.scheduled, self.max_backups)
        _rename(self.scheduled, self.scheduled + ".1")
        _rename(self.filename, self.scheduled)
        self.open("wb")
        now = self.now()
        if now >= self.next:
            # as log4cplus: the new period counts from now, not from its start
            self.scheduled = self.dated_name(now)
            self.next = next_rollover(now, self.schedule)

    def close(self) -> None:
        self.acquire()
        try:
            if self.file is not None:
                self.rollover()
        finally:
            self.release()
        super().close()

    @classmethod
    def kind_settings(cls, props: Properties) -> Dict[str, Any]:
        schedule = props.get("Schedule").upper()
        if schedule not in SCHEDULES:
            loglog.warn("DailyRollingFileAppender::ctor()- \"Schedule\" not valid: "
                        + props.get("Schedule"))
            schedule = "DAILY"
        backups = props.get_int("MaxBackupIndex")
        return {"schedule": schedule, "max_backups": 10 if backups is None else backups}


#: syslog(3) priorities
LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_ALERT = 2, 3, 4, 6, 7, 1


def syslog_priority(levelno: int) -> int:
    """log4cplus' getSysLogLevel."""
    if levelno < logging.INFO:
        return LOG_DEBUG
    if levelno < logging.WARNING:
        return LOG_INFO
    if levelno < logging.ERROR:
        return LOG_WARNING
    if levelno < FATAL:
        return LOG_ERR
    return LOG_CRIT if levelno == FATAL else LOG_ALERT


def syslog_facility(name: str) -> int:
    """A facility name (lower case) as this platform's syslog.h defines it;
    ``user`` for an empty or unknown one (reported)."""
    import syslog
    if name and hasattr(syslog, "LOG_" + name.upper()) and name.isalnum():
        return int(getattr(syslog, "LOG_" + name.upper()))
    if name:
        loglog.error("Unknown syslog facility: " + name)
    return int(syslog.LOG_USER)


class SysLogAppender(Appender):
    """The local syslog(3), or with ``host`` a remote syslog over UDP
    (``<PRI>1 TIME HOST IDENT PID LOGGER - text``)."""

    def __init__(self, ident: str, facility: int, host: str = "", port: int = 514) -> None:
        super().__init__()
        self.ident = ident
        self.facility = facility
        self.host = host
        self.port = port
        self.sock: Optional[socket.socket] = None
        self.hostname = qualified_hostname()
        if host:
            self.connect()
        else:
            import syslog
            syslog.openlog(ident, 0, 0)

    def connect(self) -> None:
        try:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.connect((self.host, self.port))
        except OSError:
            self.sock = None

    def write(self, text: str, record: logging.LogRecord) -> None:
        priority = syslog_priority(record.levelno) | self.facility
        if not self.host:
            import syslog
            syslog.syslog(priority, text)
            return
        header = "<%d>1 %s %s %s %d %s - " % (
            priority, format_time(record.created, "%Y-%m-%dT%H:%M:%S.%qZ", True), self.hostname,
            self.ident, os.getpid(), log4cplus_name(record.name))
        try:
            if self.sock is None:
                raise OSError("not connected")
            self.sock.send((header + text).encode("utf-8", "surrogateescape"))
        except OSError:
            loglog.warn("SysLogAppender::appendRemote- socket write failed")
            self.connect()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        super().close()

    @classmethod
    def from_properties(cls, props: Properties, appname: str) -> "SysLogAppender":
        host = props.get("host")
        port = props.get_int("port") if host else None
        # log4cplus passes an empty ident to openlog() as NULL: the program name
        ident = props.get("ident") or (appname if not host else "")
        return cls(ident, syslog_facility(props.get("facility").lower()), host,
                   514 if port is None else port)


#: the appender kinds fastscp has, by log4cplus' factory name
APPENDERS = {
    "log4cplus::ConsoleAppender": ConsoleAppender,
    "log4cplus::NullAppender": NullAppender,
    "log4cplus::FileAppender": FileAppender,
    "log4cplus::RollingFileAppender": RollingFileAppender,
    "log4cplus::DailyRollingFileAppender": DailyRollingFileAppender,
    "log4cplus::SysLogAppender": SysLogAppender,
}
#: log4cplus appenders fastscp does not have (reported as such)
UNSUPPORTED = ("log4cplus::SocketAppender", "log4cplus::Log4jUdpAppender",
               "log4cplus::AsyncAppender", "log4cplus::NTEventLogAppender",
               "log4cplus::Win32ConsoleAppender", "log4cplus::Win32DebugAppender")


def make_appender(kind: str, props: Properties, appname: str) -> Optional[Appender]:
    """The appender of factory name ``kind`` configured by ``props``; None
    (reported) if there is no such kind or it could not be made."""
    cls = APPENDERS.get(kind)
    if cls is None:
        if kind in UNSUPPORTED:
            loglog.error("PropertyConfigurator::configureAppenders()- fastscp does not "
                         "support %s" % kind)
        else:
            loglog.error("PropertyConfigurator::configureAppenders()- Cannot find "
                         "AppenderFactory: " + kind)
        return None
    appender: Optional[Appender] = cls.from_properties(props, appname)  # type: ignore[attr-defined]
    return None if appender is None else appender.configure(props)
