"""Connections relayed by a TCP load balancer (``--proxy-protocol``, a
fastscp extension).

A connection whose TCP peer is one of the configured balancer addresses
must begin with a PROXY protocol header (`fastscp.proxyheader`); the
sender's address in it then stands for the peer everywhere: log lines,
``#r`` and host name lookups, the +ac check, `AssociationInfo.peer_address`.
Connections from other peers are served as usual.  The header is read
before anything else (the +ac check, a TLS handshake, the A-ASSOCIATE-RQ)
and byte-exactly: what follows it is left on the socket for the
association.  A header that is malformed, cut short or not complete within
the ACSE timeout closes the connection with an error line; a balancer
connection that closes before sending a byte (a TCP health check) is logged
at debug level only.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import time
from typing import Iterable, Optional, Tuple, Union

from fastscp.log import APP_LOGGER
from fastscp.proxyheader import HeaderParser, ProxyHeaderError

log = logging.getLogger(APP_LOGGER)

Address = Tuple[str, int]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class ClosedBeforeHeader(Exception):
    """The balancer closed the connection before sending a byte (a health check)."""


def parse_networks(items: Iterable[str]) -> Tuple[Network, ...]:
    """The balancers' addresses (``192.0.2.1``, ``2001:db8::1``) or networks
    (``10.0.0.0/24``); ValueError naming the first item that is neither."""
    networks = []
    for item in items:
        try:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(item)
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(item) from None
    return tuple(networks)


class Balancers:
    """Which peers are load balancers that must send a PROXY header."""

    def __init__(self, items: Iterable[str]) -> None:
        self.networks = parse_networks(items)

    @classmethod
    def of(cls, items: Iterable[str]) -> "Optional[Balancers]":
        """The balancers of ServerConfig.proxy_protocol; None if there are none."""
        balancers = cls(items)
        return balancers if balancers.networks else None

    def relays(self, address: str) -> bool:
        """Whether connections from `address` (a peer address as accept()
        gives it) come through a balancer."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False        # no IP peer (an inetd socket pair)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)


class HeaderRead:
    """One balancer connection's header, read off its socket without taking
    a byte past it (bytes are peeked, then only the header's are taken)."""

    def __init__(self, peer: Address) -> None:
        self.peer = peer
        self.parser = HeaderParser()

    def read_some(self, conn: socket.socket) -> bool:
        """Take what has arrived of the header; True once it is complete.
        Raises ProxyHeaderError (malformed, or closed part-way),
        ClosedBeforeHeader, and the socket's errors (BlockingIOError on a
        non-blocking socket with nothing to read, socket.timeout)."""
        try:
            data = conn.recv(self.parser.wanted(), socket.MSG_PEEK)
        except (BlockingIOError, socket.timeout):
            raise
        except OSError:
            data = b""          # reset by the balancer: as a close
        if not data:
            if self.parser.received:
                raise ProxyHeaderError("connection closed after %d bytes of the header"
                                       % self.parser.received)
            raise ClosedBeforeHeader()
        count = self.parser.feed(data)
        try:
            while count:        # the peeked bytes are there: this does not block
                taken = conn.recv(count)
                if not taken:
                    raise ConnectionResetError()
                count -= len(taken)
        except OSError:
            raise ProxyHeaderError("connection lost while its header was read") from None
        return self.parser.header is not None

    def sender(self) -> Address:
        """The sender's address and port: the header's source, or the
        balancer's own for a header without one (LOCAL, UNKNOWN)."""
        header = self.parser.header
        assert header is not None
        address = header.source or self.peer
        log.debug("PROXY protocol v%d header (%s) from load balancer %s: peer %s port %d",
                  header.version, header.kind, self.peer[0], address[0], address[1])
        return address

    def expired(self, seconds: float) -> None:
        """Log that the header did not arrive within `seconds`."""
        refused(self.peer, ProxyHeaderError(
            "no complete header within %g seconds (%d bytes received)"
            % (seconds, self.parser.received)))


def refused(peer: Address, exc: Exception) -> None:
    """Log the end of a balancer connection without a usable header."""
    if isinstance(exc, ClosedBeforeHeader):
        log.debug("connection from load balancer %s closed before a PROXY protocol header",
                  peer[0])
    else:
        log.error("PROXY protocol header from load balancer %s refused: %s; connection closed",
                  peer[0], exc)


def read_header(conn: socket.socket, peer: Address, deadline: float,
                seconds: float) -> Optional[Address]:
    """Read a balancer connection's header (blocking) by `deadline` (a
    time.monotonic() time, `seconds` after the connection came); the
    sender's address, or None if the connection is to be closed (logged)."""
    reader = HeaderRead(peer)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reader.expired(seconds)
                return None
            conn.settimeout(remaining)
            try:
                if reader.read_some(conn):
                    return reader.sender()
            except socket.timeout:
                continue
    except (ProxyHeaderError, ClosedBeforeHeader) as exc:
        refused(peer, exc)
        return None
    finally:
        conn.settimeout(None)
