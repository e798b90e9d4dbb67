"""A real super-server for tests and benchmarks: Debian's xinetd, started in
the foreground with its own configuration file, serving commands on
loopback ports (one process per connection, the socket on standard input,
output and error -- what ``--inetd`` is for).

Written for the tests; fastscp never uses this code.
"""
from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
# LISTEN state read from /proc: a probe connection would start a server process
from run import is_listening  # noqa: E402

XINETD = "/usr/sbin/xinetd"


class Service:
    """One service: ``argv`` started per connection (absolute program path;
    xinetd splits the arguments at white space, so none may contain any)."""

    def __init__(self, name: str, port: int, argv: Sequence[str],
                 env: Optional[Dict[str, str]] = None):
        assert os.path.isabs(argv[0]) and not any(re.search(r"\s", a) for a in argv), argv
        self.name, self.port, self.argv, self.env = name, port, list(argv), dict(env or {})

    def config(self, log_file: Path) -> str:
        lines = [
            "service %s" % self.name, "{",
            "    type           = UNLISTED",
            "    socket_type    = stream",
            "    protocol       = tcp",
            "    wait           = no",
            "    user           = %s" % getpass.getuser(),
            "    bind           = 127.0.0.1",
            "    port           = %d" % self.port,
            "    server         = %s" % self.argv[0],
            # no rate limit: xinetd's default (50 connections/s) pauses the service for 10 s
            "    cps            = 100000 1",
            "    instances      = UNLIMITED",
            "    per_source     = UNLIMITED",
            "    log_type       = FILE %s" % log_file,
            "    log_on_success = PID EXIT",
            "    log_on_failure = HOST",
        ]
        if len(self.argv) > 1:
            lines.append("    server_args    = %s" % " ".join(self.argv[1:]))
        if self.env:
            lines.append("    env            = %s" % " ".join("%s=%s" % kv for kv in self.env.items()))
        return "\n".join(lines + ["}", ""])


class Xinetd:
    """xinetd serving ``services`` until `stop` (a context manager too)."""

    def __init__(self, workdir: Path, services: Sequence[Service], start_timeout: float = 20.0):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.services = list(services)
        self.log_file = self.workdir / "xinetd.log"
        conf = self.workdir / "xinetd.conf"
        conf.write_text("".join(s.config(self.log_file) for s in self.services))
        self.output = open(self.workdir / "xinetd.out", "wb")
        self.proc = subprocess.Popen(
            [XINETD, "-dontfork", "-f", str(conf), "-pidfile", str(self.workdir / "xinetd.pid")],
            stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_timeout
        while not all(is_listening(s.port) for s in self.services):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("xinetd did not start listening: %s"
                                   % (self.workdir / "xinetd.out").read_text(errors="replace"))
            time.sleep(0.02)

    def exits(self, service: str) -> List[Tuple[int, int]]:
        """(pid, exit status) of the server processes of ``service`` that ended, in order."""
        if not self.log_file.exists():
            return []
        pattern = re.compile(r"EXIT: %s status=(-?\d+) pid=(\d+)" % re.escape(service))
        return [(int(m.group(2)), int(m.group(1)))
                for m in pattern.finditer(self.log_file.read_text(errors="replace"))]

    def wait_exits(self, service: str, count: int, timeout: float = 20.0) -> List[Tuple[int, int]]:
        """`exits`, once there are at least ``count`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        while len(self.exits(service)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.exits(service)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.output.close()

    def __enter__(self) -> "Xinetd":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
