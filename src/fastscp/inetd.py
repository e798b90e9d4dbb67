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
2. `serve`: one association, through the same code as the server's
   (`Association`, `StoreService`, `server.serve_association`), then exit
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
import time
from typing import Callable, Optional, Tuple, Union

from fastscp.association import Association
from fastscp.config import ServerConfig
from fastscp.hostnames import Resolver
from fastscp.negotiation import Negotiator
from fastscp.server import serve_association
from fastscp.service import StoreService

log = logging.getLogger("fastscp")


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


def serve(config: ServerConfig, fd: int) -> None:
    """Serve the association on the connected socket ``fd`` (closed at the
    end); a failure is logged, never raised (the command exits with 0)."""
    request_deadline = time.monotonic() + config.acse_timeout
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
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass                    # not TCP (a socket pair): nothing to tune
    service = StoreService(config)
    resolver: Optional[Resolver] = None
    host_name: Union[str, Callable[[], str]] = address
    if config.host_lookup and address:
        # looked up while the A-ASSOCIATE-RQ arrives, as the server does
        resolver = Resolver(workers=1)
        host_name = resolver.submit(address).result
    try:
        assoc = Association(config, service, address, port, Negotiator.from_config(config),
                            peer_host_name=host_name)
        serve_association(assoc, conn, time.sleep, request_deadline=request_deadline,
                          pdu_timeout=config.pdu_timeout)
    finally:
        conn.close()
        if resolver is not None:
            resolver.close()
        service.close()
