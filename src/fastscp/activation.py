"""Socket activation: the listening socket systemd (or any manager speaking
the ``sd_listen_fds`` protocol) passes, instead of one fastscp binds.

The protocol (sd_listen_fds(3)): the manager opens the sockets, starts the
program with them as descriptors 3, 4, ... and sets ``LISTEN_PID`` to the
program's pid and ``LISTEN_FDS`` to their number.  No libsystemd is needed
to read that.  fastscp takes exactly one socket, a listening TCP socket
(``Accept=no``, the default of a .socket unit); a connected socket
(``Accept=yes``) is refused with a pointer to ``--inetd``, which serves
that case through standard input.  The variables are removed once read, so
worker processes and ``-xcr``/``-xcs`` commands do not inherit them.

storescp has no socket activation: this is a fastscp extension.  With a
passed socket the port parameter is still required (the command line is
storescp's) but not bound: the socket's own address is used, and a
different port is reported as a warning.
"""
from __future__ import annotations

import os
import socket
from typing import Optional

#: the first descriptor a manager passes (SD_LISTEN_FDS_START)
LISTEN_FDS_START = 3
_PID_VARIABLE = "LISTEN_PID"
_COUNT_VARIABLE = "LISTEN_FDS"
#: set by systemd alongside; also removed so children see none of it
_NAMES_VARIABLE = "LISTEN_FDNAMES"


class ActivationError(OSError):
    """The passed descriptors are not a socket fastscp can listen on."""


def _passed_count() -> int:
    """How many descriptors were passed to this process (0: none, or they
    were meant for another process, e.g. our parent)."""
    try:
        pid = int(os.environ.get(_PID_VARIABLE, ""))
        count = int(os.environ.get(_COUNT_VARIABLE, ""))
    except ValueError:
        return 0
    return count if pid == os.getpid() and count > 0 else 0


def is_activated() -> bool:
    """Whether a listening socket was passed to this process (the variables
    are left as they are)."""
    return _passed_count() > 0


def _forget() -> None:
    for name in (_PID_VARIABLE, _COUNT_VARIABLE, _NAMES_VARIABLE):
        os.environ.pop(name, None)


def take_listening_socket() -> Optional[socket.socket]:
    """The listening socket passed to this process, None when there is none.
    Raises ActivationError when what was passed cannot be listened on; the
    environment variables are removed either way."""
    count = _passed_count()
    _forget()
    if count == 0:
        return None
    if count > 1:
        raise ActivationError("fastscp listens on one socket, %d were passed (LISTEN_FDS)" % count)
    fd = LISTEN_FDS_START
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ActivationError("descriptor %d passed by LISTEN_FDS is no socket: %s"
                              % (fd, exc.strerror or exc)) from None
    problem = _unusable(sock)
    if problem:
        sock.detach()               # the descriptor stays the manager's to judge
        raise ActivationError("socket passed by LISTEN_FDS: " + problem)
    # not inherited by -xcr/-xcs commands (the workers are forked, they keep it)
    sock.set_inheritable(False)
    return sock


def _unusable(sock: socket.socket) -> str:
    """Why ``sock`` cannot be fastscp's listening socket ("" if it can)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return "not a TCP/IP socket (family %s)" % sock.family.name
    if sock.type != socket.SOCK_STREAM:
        return "not a stream socket"
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return ("not listening (a unit with Accept=yes passes one connection: "
                "run fastscp --inetd there)")
    return ""
