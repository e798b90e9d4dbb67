#!/usr/bin/env python3
"""Connection-edge benchmark: fastscp vs DCMTK storescp, same run.

* ``connect-close``: N TCP connections opened and closed at once (what a
  load balancer's health check or a port scan does), then one C-ECHO; wall
  time until the echo is answered (the server has dealt with every
  connection) and the server's CPU during that time.
* ``associations``: N full associations (A-ASSOCIATE, C-ECHO, A-RELEASE),
  then the server's open descriptors and resident memory.

    python benchmarks/connect_close.py [--connections 3000] [--associations 10000] [--repeat 5]

Runs are interleaved (storescp, fastscp, storescp, ...), medians reported.
Needs the fastscp package importable by this Python (pip install .).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port, is_listening, stop_process, tree_cpu_seconds  # noqa: E402

VERIFICATION = b"1.2.840.10008.1.1"
ILE = b"1.2.840.10008.1.2"


def _item(kind: int, body: bytes) -> bytes:
    return bytes((kind, 0)) + struct.pack(">H", len(body)) + body


def _associate_rq() -> bytes:
    body = struct.pack(">HH", 1, 0) + b"STORESCP".ljust(16) + b"BENCH".ljust(16) + b"\0" * 32
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    body += _item(0x20, b"\x01\0\0\0" + _item(0x30, VERIFICATION) + _item(0x40, ILE))
    body += _item(0x50, _item(0x51, struct.pack(">I", 16384)) + _item(0x52, b"1.2.3.4"))
    return b"\x01\0" + struct.pack(">I", len(body)) + body


def _echo_rq() -> bytes:
    def el(tag, value):
        return struct.pack("<HHI", 0, tag, len(value)) + value
    body = el(2, VERIFICATION + b"\0") + el(0x100, b"\x30\0") + el(0x110, b"\1\0") + el(0x800, b"\x01\x01")
    cmd = el(0, struct.pack("<I", len(body))) + body
    pdv = struct.pack(">I", len(cmd) + 2) + b"\x01\x03" + cmd
    return b"\x04\0" + struct.pack(">I", len(pdv)) + pdv


RQ, ECHO, RELEASE = _associate_rq(), _echo_rq(), b"\x05\0\0\0\0\x04\0\0\0\0"


def _read_pdu(sock: socket.socket) -> bytes:
    head = b""
    while len(head) < 6:
        chunk = sock.recv(6 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    length = struct.unpack(">I", head[2:6])[0]
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return head + body


def association(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(RQ)
        if _read_pdu(s)[0] != 2:
            raise RuntimeError("association not accepted")
        s.sendall(ECHO)
        _read_pdu(s)
        s.sendall(RELEASE)
        _read_pdu(s)


def start(kind: str, outdir: str) -> tuple:
    port = free_port()
    if kind == "storescp":
        argv, env = ["/usr/bin/storescp", "-od", outdir, str(port)], dict(os.environ, TCP_NODELAY="1")
    else:
        argv, env = [sys.executable, "-m", "fastscp", "-od", outdir, str(port)], None
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while not is_listening(port):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("%s did not start" % kind)
        time.sleep(0.01)
    return proc, port


def run_connect_close(kind: str, n: int) -> tuple:
    with tempfile.TemporaryDirectory() as out:
        proc, port = start(kind, out)
        try:
            association(port)                   # warm: the server is serving
            cpu0 = sum(tree_cpu_seconds(proc.pid))
            t0 = time.monotonic()
            for _ in range(n):
                socket.create_connection(("127.0.0.1", port)).close()
            association(port)                   # answered once everything before it is dealt with
            wall = time.monotonic() - t0
            cpu = sum(tree_cpu_seconds(proc.pid)) - cpu0
        finally:
            stop_process(proc)
    return wall, cpu


def _process_state(pid: int) -> tuple:
    """(open descriptors, resident MB) of the server process."""
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    return fds, rss


def run_associations(kind: str, n: int) -> tuple:
    """Wall time of n associations; descriptors and RSS after n/10 and after n."""
    with tempfile.TemporaryDirectory() as out:
        proc, port = start(kind, out)
        try:
            t0 = time.monotonic()
            for i in range(n):
                association(port)
                if i + 1 == n // 10:
                    early = _process_state(proc.pid)
            wall = time.monotonic() - t0
            late = _process_state(proc.pid)
        finally:
            stop_process(proc)
    return wall, early, late


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=3000)
    ap.add_argument("--associations", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    kinds = ("storescp", "fastscp")
    cc = {k: [] for k in kinds}
    for _ in range(args.repeat):
        for k in kinds:
            cc[k].append(run_connect_close(k, args.connections))
    print("## %d connect-and-close, then one C-ECHO (median of %d interleaved runs)\n" % (args.connections, args.repeat))
    print("| server | wall s | server CPU s | wall vs storescp |")
    print("|---|---|---|---|")
    base = statistics.median(w for w, _ in cc["storescp"])
    for k in kinds:
        wall = statistics.median(w for w, _ in cc[k])
        cpu = statistics.median(c for _, c in cc[k])
        print("| %s | %.2f | %.2f | %.2fx |" % (k, wall, cpu, wall / base))
    if args.associations:
        print("\n## %d associations (A-ASSOCIATE, C-ECHO, A-RELEASE), then the server process\n" % args.associations)
        print("| server | wall s | descriptors after %d / %d | RSS MB after %d / %d |"
              % ((args.associations // 10, args.associations) * 2))
        print("|---|---|---|---|")
        for k in kinds:
            wall, (fds0, rss0), (fds1, rss1) = run_associations(k, args.associations)
            print("| %s | %.2f | %d / %d | %.1f / %.1f |" % (k, wall, fds0, fds1, rss0, rss1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
