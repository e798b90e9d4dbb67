"""``-id``/``--inetd``: serve the one connection a super-server hands over.

inetd and xinetd accept the TCP connection themselves and start one process
per connection with the socket as its standard input (and, usually, as its
standard output and error too).  fastscp then does what storescp does:

1. `take_over_stdio`, right after the command line parsed and before any
   check can print: the socket is kept as a duplicate of descriptor 0, and
   descriptors 0, 1 and 2 are reopened on /dev/null -- so no message can
   reach the peer as bytes of the DICOM connection.  From then on every
   message, command-line errors included, goes to /dev/null; in inetd mode
   storescp logs only through ``-lc``, whose handlers the logging set-up
   installs as in any other mode.  If this fails the exit code is 99.
2. `serve`: one association, through the same code as a worker process of
   the server (`processes.AssociationProcess`: +ac, host lookup, SIGTERM), then exit
   code 0 however it ended -- also when standard input was no connected
   socket, which is logged as storescp logs it.

The rest is as in the server: the options' checks (``-xcs``/``-rns`` are
refused with ``--inetd``, so nothing runs at the end of a study when the
process exits, as in storescp; ``-tos`` still ends a study within the
association), the output directory checks, the host name lookup (``-dhl``).
The port parameter may be left out and is not used (no privilege check).
"""
from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Optional, Tuple, Union

from fastscp.config import ServerConfig
from fastscp.log import APP_LOGGER
from fastscp.negotiation import Negotiator
from fastscp.processes import AssociationProcess

if TYPE_CHECKING:
    from fastscp.tls import ServerTLS

log = logging.getLogger(APP_LOGGER)


def take_over_stdio() -> int:
    """Keep the connection on standard input as a new descriptor (returned;
    not inherited by -xcr commands) and put /dev/null on descriptors 0, 1
    and 2.  OSError if that fails (the command exits with 99)."""
    connection = os.dup(0)
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        null = os.open(os.devnull, flags)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    return connection


def _peer(conn: socket.socket) -> Tuple[str, int]:
    """The peer's address and port; ("", 0) for a peer without one (a
    socket pair, as a test harness may hand over)."""
    name: Union[str, Tuple[str, int]] = conn.getpeername()
    if isinstance(name, tuple):
        return name[0], name[1]
    return "", 0


def serve(config: ServerConfig, fd: int, tls: Optional["ServerTLS"] = None) -> None:
    """Serve the association on the connected socket ``fd`` (closed at the
    end; a TLS handshake first with ``tls``); a failure is logged, never
    raised (the command exits with 0)."""
    conn: Optional[socket.socket] = None
    try:
        conn = socket.socket(fileno=fd)
        address, port = _peer(conn)
    except OSError as exc:
        log.error("Receiving Association failed: 0006:031c TCP Initialization Error: %s, "
                  "getpeername failed on socket %d", exc.strerror or exc, fd)
        if conn is not None:
            conn.close()
        else:
            os.close(fd)
        return
    # the association side of a worker process: host name looked up here,
    # +ac checked, SIGTERM cuts the association off (no partial file left)
    worker = AssociationProcess(config, Negotiator.from_config(config), tls)
    worker.install_signals(on_retire=False)
    try:
        worker.serve(conn, (address, port))
    finally:
        worker.service.close()
