"""Host access control (+ac): the system's TCP wrappers library (libwrap)
decides, as it does for storescp.

storescp asks libwrap about each connection right after accept(), before
any PDU: daemon name ``storescp``; the client's reverse DNS name as its
resolver returned it (not checked against the forward mapping, so the
PARANOID pattern never matches), its dotted address if it has no name
(getnameinfo's answer: such a client is KNOWN, not UNKNOWN), or
``unknown`` with -dhl; its dotted address; user ``unknown``.  Calling the same library
with the same request makes the rule language exactly the platform's
(hosts_access(5), hosts_options(5), the distribution's patches), read
afresh for every connection.  Where there is no libwrap, storescp is built
without it and has no +ac; fastscp refuses +ac there (`UNAVAILABLE`).

libwrap keeps its state in process globals (table paths, the jump buffer
of the allow/deny options), so calls are serialised.  Rule options run as
in storescp (``spawn`` forks a shell and waits for it; ``umask``,
``setenv``, ``user``... change the whole process) with one exception:
``twist`` would replace the process by a shell (storescp: for the first
connection, which closes stdin and ends the server with status 0); fastscp
marks itself resident at load, so libwrap refuses twist and denies the
connection instead, as storescp does from its second connection on.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Optional

from fastscp.hostnames import Lookup, short_name

from fastscp.log import APP_LOGGER

log = logging.getLogger(APP_LOGGER)

#: the daemon name storescp's rules are written for
DAEMON = "storescp"
#: libwrap's STRING_UNKNOWN: a name, address or user that is not known
UNKNOWN = "unknown"
#: the tables libwrap reads by default
ALLOW_TABLE = "/etc/hosts.allow"
DENY_TABLE = "/etc/hosts.deny"
#: the refusal of +ac (CLI and ServerConfig.validate) where libwrap cannot be loaded
UNAVAILABLE = ("option --access-control is not available: this system has no TCP "
               "wrapper library (libwrap), as storescp built without it has no +ac")
#: storescp's condition text for a denied connection (DULC_TCPWRAPPER)
DENIED = "Receiving Association failed: 0006:0324 TCP wrapper: denied connection from %s (%s)"

#: the soname storescp links; the plain name where the platform names it so
_LIBRARY_NAMES = ("libwrap.so.0", "wrap")

_lock = threading.Lock()
_library: "Optional[ctypes.CDLL]" = None
_loaded = False


def _load() -> "Optional[ctypes.CDLL]":
    """libwrap, loaded once and made resident (see the module text); None
    if this system has none."""
    global _library, _loaded
    with _lock:
        if not _loaded:
            _loaded = True
            try:
                _library = _open_library()
            except (OSError, AttributeError, ValueError) as exc:
                log.debug("no TCP wrapper library: %s", exc)
    return _library


def _open_library() -> "ctypes.CDLL":
    last: Exception = OSError("libwrap not found")
    for name in _LIBRARY_NAMES:
        path = name if "." in name else ctypes.util.find_library(name)
        if path is None:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            last = exc
            continue
        lib.hosts_ctl.argtypes = [ctypes.c_char_p] * 4
        lib.hosts_ctl.restype = ctypes.c_int
        # the globals used below must exist before the library is trusted
        for table in ("hosts_allow_table", "hosts_deny_table"):
            ctypes.c_void_p.in_dll(lib, table)
        ctypes.c_int.in_dll(lib, "resident").value = 1
        return lib
    raise last


def available() -> bool:
    """Whether host access control can run here (libwrap can be loaded)."""
    return _load() is not None


class HostsAccess:
    """The access decision for one daemon name and pair of tables (by
    default storescp's: /etc/hosts.allow, /etc/hosts.deny)."""

    def __init__(self, allow_table: str = ALLOW_TABLE, deny_table: str = DENY_TABLE,
                 daemon: str = DAEMON):
        lib = _load()
        if lib is None:
            raise OSError(UNAVAILABLE)
        self._lib = lib
        self.daemon = daemon
        # libwrap keeps pointers to these: they live as long as this object
        self._allow = ctypes.create_string_buffer(allow_table.encode())
        self._deny = ctypes.create_string_buffer(deny_table.encode())
        self.allow_table, self.deny_table = allow_table, deny_table

    def permits(self, host_name: Optional[str], address: str) -> bool:
        """libwrap's verdict for a client of `address` whose reverse DNS
        name is `host_name` (None: unknown, as with -dhl)."""
        name = (host_name or UNKNOWN).encode(errors="surrogateescape")
        lib = self._lib
        with _lock:
            ctypes.c_void_p.in_dll(lib, "hosts_allow_table").value = ctypes.addressof(self._allow)
            ctypes.c_void_p.in_dll(lib, "hosts_deny_table").value = ctypes.addressof(self._deny)
            return bool(lib.hosts_ctl(self.daemon.encode(), name, address.encode(),
                                      UNKNOWN.encode()))

    def admits(self, address: str, lookup: Optional[Lookup]) -> bool:
        """The server's check of a new connection (before any byte of it
        is read): waits for the host name lookup (None: -dhl), asks
        libwrap, and logs a denial as storescp does."""
        if lookup is None:                          # -dhl
            name, shown = UNKNOWN, address
        else:
            # storescp looks the name up before it checks, however long it takes
            lookup.done.wait()
            # its getnameinfo() answers the address in digits if there is no name
            name = lookup.full_name or address
            shown = short_name(name, address)
        if self.permits(name, address):
            return True
        # storescp's network layer logs this line before it checks; here
        # the association logs it for the connections that pass
        log.debug("Association Received: %s", shown)
        log.error(DENIED, name, address)
        return False
