"""log4cplus layouts as `logging.Formatter` classes: how one message becomes text.

`PatternLayout` reads log4cplus' conversion patterns as DCMTK's log4cplus
(1.1, "oflog") reads them: ``%[-][min][.max]X`` with the converters

====  ==========================================================
%m    the message (with a traceback, if any)
%n    a newline
%p    the level name (FATAL ERROR WARN INFO DEBUG TRACE)
%P    its first letter (DCMTK's addition)
%c    the log4cplus logger name (``%c{n}``: its last n components)
%d    the time in UTC, ``%d{strftime format}``; %D the local time;
      the format may use %q (milliseconds, 3 digits), %Q
      (milliseconds with 3 decimals) and %s (seconds since 1970);
      default ``%Y-%m-%d %H:%M:%S``
%r    milliseconds since the program started
%i    the process id; %h the host name; %H its qualified name
%t    the thread id (pthread_self); %T the kernel thread id
%F    the source file; %b its base name; %L the line; %l F:L;
      %M the function
%x    the NDC and %X{key} the MDC: fastscp keeps neither (empty)
%%    a percent sign
====  ==========================================================

A message of several lines is formatted line by line (log4cplus'
``FormatEachLine``, on by default), so each line gets the prefix.
`SimpleLayout` is ``LEVEL - message``; `TTCCLayout` is ``time [thread]
LEVEL logger <> - message``.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from fastscp.record import Record
from typing import Callable, Dict, List, Optional, Tuple

from .log import level_name, log4cplus_name, loglog

#: a converter: the text one %-specifier gives for a record and a message line
Converter = Callable[[logging.LogRecord, str], str]

_DEFAULT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_DIGITS = "0123456789"


def message_text(record: logging.LogRecord) -> str:
    """The message, with the traceback and stack of the record if it has them."""
    text = record.getMessage()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        text = text + "\n" + record.exc_text if text else record.exc_text
    if record.stack_info:
        text = text + "\n" + record.stack_info
    return text


@functools.lru_cache(maxsize=64)
def _compile_time_format(fmt: str) -> Tuple[str, ...]:
    """``fmt`` split into strftime formats and log4cplus' own ``%q``, ``%Q``,
    ``%s`` (odd positions); parsed once per format."""
    parts: List[str] = []
    chunk: List[str] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 == len(fmt):
            break                       # a lone % at the end is dropped
        if c == "%":
            spec = fmt[i + 1]
            i += 2
            if spec in "qQs":
                parts += ["".join(chunk), spec]
                chunk = []
            else:
                chunk.append("%" + spec)
            continue
        chunk.append(c)
        i += 1
    parts.append("".join(chunk))
    return tuple(parts)


def format_time(created: float, fmt: str, utc: bool) -> str:
    """log4cplus' Time::getFormattedTime: strftime plus %q, %Q and %s."""
    if not fmt:
        return ""
    seconds = int(created)
    usec = int(round((created - seconds) * 1_000_000))
    if usec >= 1_000_000:
        seconds, usec = seconds + 1, usec - 1_000_000
    tm = time.gmtime(seconds) if utc else time.localtime(seconds)
    out: List[str] = []
    for n, part in enumerate(_compile_time_format(fmt)):
        if n % 2 == 0:
            out.append(time.strftime(part, tm) if part else "")
        elif part == "q":
            out.append("%03d" % (usec // 1000))
        elif part == "Q":
            out.append("%03d.%03d" % (usec // 1000, usec % 1000))
        else:
            out.append(str(seconds))
    return "".join(out)


def relative_millis(record: logging.LogRecord) -> str:
    """%r and TTCCLayout: milliseconds since the program started (log4cplus
    prints seconds and a 3-digit millisecond part run together)."""
    millis = int(record.relativeCreated)
    seconds, ms = divmod(millis, 1000)
    return "%d%03d" % (seconds, ms) if seconds else str(ms)


def short_hostname() -> str:
    return socket.gethostname()


def qualified_hostname() -> str:
    """gethostname(), then its canonical name (log4cplus' getHostname(true))."""
    name = socket.gethostname()
    try:
        info = socket.getaddrinfo(name, None, 0, 0, 0, socket.AI_CANONNAME)
    except OSError:
        return name
    return info[0][3] or name if info else name


class _Base(logging.Formatter):
    """A layout: formats the record's message, line by line if asked."""

    format_each_line = False

    def format(self, record: logging.LogRecord) -> str:
        text = message_text(record)
        if self.format_each_line and "\n" in text:
            return "".join(self.format_line(record, line) for line in text.split("\n"))
        return self.format_line(record, text)

    def format_line(self, record: logging.LogRecord, message: str) -> str:
        raise NotImplementedError


class SimpleLayout(_Base):
    """``LEVEL - message``."""

    def format_line(self, record: logging.LogRecord, message: str) -> str:
        return "%s - %s\n" % (level_name(record.levelno), message)


class TTCCLayout(_Base):
    """``time [thread] LEVEL logger <NDC> - message``; the time is relative
    (milliseconds since start) unless ``DateFormat`` is given."""

    def __init__(self, date_format: str = "", use_gmtime: bool = False) -> None:
        super().__init__()
        self.date_format = date_format
        self.use_gmtime = use_gmtime

    def format_line(self, record: logging.LogRecord, message: str) -> str:
        if self.date_format:
            stamp = format_time(record.created, self.date_format, self.use_gmtime)
        else:
            stamp = relative_millis(record)
        return "%s [%d] %s %s <> - %s\n" % (stamp, record.thread or 0, level_name(record.levelno),
                                             log4cplus_name(record.name), message)


class _Spec(Record):
    """The formatting of one converter: %[-][min][.max]."""

    left_align: bool = False
    min_len: int = -1
    max_len: int = 0x7FFFFFFF


def _pad(conv: Converter, spec: _Spec) -> Converter:
    """Apply min/max width: longer text keeps its end, shorter is padded."""
    if spec.min_len < 0 and spec.max_len == 0x7FFFFFFF:
        return conv

    def padded(record: logging.LogRecord, message: str) -> str:
        s = conv(record, message)
        if len(s) > spec.max_len:
            return s[len(s) - spec.max_len:]
        if len(s) < spec.min_len:
            fill = " " * (spec.min_len - len(s))
            return s + fill if spec.left_align else fill + s
        return s
    return padded


def _logger_converter(precision: int) -> Converter:
    def convert(record: logging.LogRecord, message: str) -> str:
        name = log4cplus_name(record.name)
        if precision <= 0:
            return name
        parts = name.split(".")
        return name if precision >= len(parts) else ".".join(parts[-precision:])
    return convert


def _date_converter(fmt: str, utc: bool) -> Converter:
    return lambda record, message: format_time(record.created, fmt, utc)


def _literal(text: str) -> Converter:
    return lambda record, message: text



#: the converters that take no {option} and need nothing looked up
_SIMPLE: Dict[str, Converter] = {
    "m": lambda r, m: m,
    "n": lambda r, m: "\n",
    "p": lambda r, m: level_name(r.levelno),
    "P": lambda r, m: level_name(r.levelno)[0],
    "i": lambda r, m: str(os.getpid()),
    "t": lambda r, m: str(r.thread or 0),
    "T": lambda r, m: str(threading.get_native_id()),
    "r": lambda r, m: relative_millis(r),
    "F": lambda r, m: r.pathname,
    "b": lambda r, m: r.filename,
    "L": lambda r, m: str(r.lineno),
    "l": lambda r, m: "%s:%d" % (r.pathname, r.lineno),
    "M": lambda r, m: r.funcName or "",
    "x": lambda r, m: "",
}


class _PatternParser:
    """log4cplus' PatternParser: a state machine over the pattern."""

    LITERAL, CONVERTER, MIN, DOT, MAX = range(5)

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.converters: List[Converter] = []
        self.literal = ""
        self.spec = _Spec()

    def option(self) -> str:
        """The {option} after a converter letter, if any."""
        p = self.pattern
        if self.pos < len(p) and p[self.pos] == "{":
            end = p.find("}", self.pos)
            if end >= 0:
                text = p[self.pos + 1:end]
                self.pos = end + 1
                return text
            loglog.error("No matching '}' found in conversion pattern string \"%s\"" % p)
            self.pos = len(p)
        return ""

    def parse(self) -> List[Converter]:
        p, state = self.pattern, self.LITERAL
        while self.pos < len(p):
            c = p[self.pos]
            self.pos += 1
            if state == self.LITERAL:
                if self.pos == len(p) or c != "%":
                    self.literal += c
                elif p[self.pos] == "%":
                    self.literal += c
                    self.pos += 1
                else:
                    if self.literal:
                        self.converters.append(_literal(self.literal))
                    self.literal = c
                    self.spec = _Spec()
                    state = self.CONVERTER
            elif state == self.CONVERTER:
                self.literal += c
                if c == "-":
                    self.spec.left_align = True
                elif c == ".":
                    state = self.DOT
                elif c in _DIGITS:
                    self.spec.min_len = int(c)
                    state = self.MIN
                else:
                    state = self.finish(c)
            elif state == self.MIN:
                self.literal += c
                if c in _DIGITS:
                    self.spec.min_len = self.spec.min_len * 10 + int(c)
                elif c == ".":
                    state = self.DOT
                else:
                    state = self.finish(c)
            elif state == self.DOT:
                self.literal += c
                if c in _DIGITS:
                    self.spec.max_len = int(c)
                    state = self.MAX
                else:
                    loglog.error("Error occurred in position %d.\n Was expecting digit, "
                                 "instead got char \"%s\"." % (self.pos, c))
                    state = self.LITERAL
            else:  # MAX
                self.literal += c
                if c in _DIGITS:
                    self.spec.max_len = self.spec.max_len * 10 + int(c)
                else:
                    state = self.finish(c)
        if self.literal:
            self.converters.append(_literal(self.literal))
        return self.converters

    def finish(self, c: str) -> int:
        """The converter for letter ``c`` is complete: add it."""
        from .options import c_long
        conv: Optional[Converter] = _SIMPLE.get(c)
        if conv is None and c in "hH":
            # looked up once, when the pattern uses it (a DNS query for %H)
            host = short_hostname() if c == "h" else qualified_hostname()
            conv = _literal(host)
        elif conv is None and c == "c":
            conv = _logger_converter(c_long(self.option()) or 0)
        elif conv is None and c in "dD":
            conv = _date_converter(self.option() or _DEFAULT_DATE_FORMAT, c == "d")
        elif conv is None and c == "X":
            self.option()               # fastscp keeps no MDC
            conv = _literal("")
        if conv is None:
            # log4cplus keeps the text as it was, without width
            loglog.error("Unexpected char [%s] at position %d in conversion pattern."
                         % (c, self.pos))
            self.converters.append(_literal(self.literal))
        else:
            self.converters.append(_pad(conv, self.spec))
        self.literal = ""
        self.spec = _Spec()
        return self.LITERAL


class PatternLayout(_Base):
    """log4cplus' PatternLayout (see the module's documentation)."""

    def __init__(self, pattern: str, format_each_line: bool = True) -> None:
        super().__init__()
        self.pattern = pattern
        self.format_each_line = format_each_line
        self.converters = _PatternParser(pattern).parse()
        if not self.converters:
            loglog.warn("PatternLayout pattern is empty.  Using default...")
            self.converters = [lambda record, message: message]

    def format_line(self, record: logging.LogRecord, message: str) -> str:
        return "".join(conv(record, message) for conv in self.converters)
