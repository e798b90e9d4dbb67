"""log4cplus properties files as DCMTK's log4cplus reads them.

Syntax (log4cplus 1.1 ``Properties``): one ``key = value`` a line; leading
white space is skipped; a line whose first character then is ``#`` is a
comment; a trailing CR is dropped; the key is what precedes the first
``=`` (trailing white space removed), the value what follows (trimmed);
lines without ``=`` are ignored; a later key replaces an earlier one.  There
are no continuation lines and no escapes.

Variables: ``${name}`` in keys and values is replaced by the property
``name`` (full name, e.g. ``${log4cplus.rootLogger}``) or the predefined
``appname``, ``hostname``, ``pid``, ``date`` (YYYYMMDD) and ``time``
(HHMMSS), else by the environment variable ``name``; an unknown name stays
as written.  Replacements are expanded again (recursively), as DCMTK asks.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Dict, Iterator, Optional, Tuple

from .log import loglog

#: variable substitutions at one spot before giving up (a variable that
#: refers to itself would loop for ever in log4cplus)
_MAX_EXPANSIONS = 100


class Properties:
    """An ordered view of key/value pairs with log4cplus' typed getters."""

    def __init__(self, data: Optional[Dict[str, str]] = None) -> None:
        self.data: Dict[str, str] = dict(data or {})

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def names(self) -> Iterator[str]:
        """Keys in log4cplus' order (it keeps them in a sorted map)."""
        return iter(sorted(self.data))

    def get(self, key: str, default: str = "") -> str:
        return self.data.get(key, default)

    def subset(self, prefix: str) -> "Properties":
        """The keys starting with ``prefix``, without it."""
        return Properties({k[len(prefix):]: v for k, v in self.data.items() if k.startswith(prefix)})

    def get_bool(self, key: str) -> Optional[bool]:
        """true/false (any case) or an integer; None if absent or neither."""
        if key not in self.data:
            return None
        words = self.data[key].split()
        if len(words) != 1:
            return None
        word = words[0].lower()
        if word in ("true", "false"):
            return word == "true"
        number = self._int(self.data[key])
        return None if number is None else number != 0

    def get_int(self, key: str) -> Optional[int]:
        """An integer (white space around allowed); None if absent or not one."""
        return self._int(self.data[key]) if key in self.data else None

    @staticmethod
    def _int(text: str) -> Optional[int]:
        try:
            return int(text.strip(" \t\n\r\f\v"))
        except ValueError:
            return None


def parse(text: str) -> Properties:
    """The properties in ``text`` (see the module's documentation)."""
    props = Properties()
    for line in text.split("\n"):
        line = line.lstrip(" \t\n\r\f\v")
        if not line or line[0] == "#":
            continue
        if line[-1] == "\r":
            line = line[:-1]
        key, eq, value = line.partition("=")
        if eq:
            props.data[key.rstrip(" \t\n\r\f\v")] = value.strip(" \t\n\r\f\v")
    return props


def read(path: str) -> Properties:
    """The properties in the file at ``path`` (bytes decoded as the file
    system encodes names, so any byte survives); OSError if unreadable."""
    with open(path, "rb") as fh:
        return parse(os.fsdecode(fh.read()))


def predefined(appname: str) -> Dict[str, str]:
    """The variables DCMTK defines for a configuration file."""
    now = time.localtime()
    return {
        "appname": appname,
        "hostname": socket.gethostname(),
        "pid": str(os.getpid()),
        "date": time.strftime("%Y%m%d", now),
        "time": time.strftime("%H%M%S", now),
    }


def _expand(original: str, lookup: Dict[str, str]) -> Tuple[str, bool]:
    """``original`` with its ${variables} replaced; whether anything changed
    (a ``${`` without ``}`` leaves it all as written, as in log4cplus)."""
    text = original
    i, changed, expansions = 0, False, 0
    while True:
        start = text.find("${", i)
        if start < 0:
            return text, changed
        end = text.find("}", start)
        if end < 0:
            loglog.error("\"%s\" has no closing brace. Opening brace at position %d." % (text, start))
            return original, False
        name = text[start + 2:end]
        value = lookup.get(name) or os.environ.get(name, "")
        if not value or expansions >= _MAX_EXPANSIONS:
            i = end + 1                 # left as written
            continue
        text = text[:start] + value + text[end + 1:]
        changed, expansions = True, expansions + 1
        i = start                       # the replacement is expanded again


def substitute(props: Properties, variables: Dict[str, str]) -> Properties:
    """The properties with the ${variables} in keys and values replaced
    (the predefined ``variables`` are looked up like properties)."""
    lookup = dict(variables)
    lookup.update(props.data)
    out: Dict[str, str] = {}
    for key in props.names():
        new_key, _ = _expand(key, lookup)
        out[new_key] = _expand(props.data[key], lookup)[0]
    return Properties(out)
