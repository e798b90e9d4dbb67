#!/usr/bin/env python3
"""Where fastscp's start-up goes: the imports of an ``--inetd`` run.

Starts ``fastscp --inetd`` N times as `inetd.py` does (an A-ASSOCIATE-RQ
waiting on the connection that is standard input) under ``python -X
importtime`` and keeps, per module, the smallest self time seen (the
least disturbed by whatever else the machine runs).  Standard error is
kept for the report: the launcher stops ``--inetd`` from putting
/dev/null on descriptor 2 (nothing else differs from the console script's
run).  Prints the modules by self time and the sums for the interpreter's
own start (what ``python -c pass`` imports too), the standard library and
fastscp.

    python benchmarks/startup_imports.py [--runs 15] [--top 40]
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from connect_close import RQ  # noqa: E402

#: the console script's work, with descriptor 2 left alone by --inetd
LAUNCHER = """
import os, sys
_dup2 = os.dup2
os.dup2 = lambda fd, fd2, inheritable=True: None if fd2 == 2 else _dup2(fd, fd2, inheritable)
from fastscp.__main__ import run
sys.exit(run())
"""
_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)")


def one_run(python: str, outdir: str) -> List[tuple]:
    """(module, self µs, depth) in import order, for one --inetd start."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
    with client, conn, tempfile.TemporaryFile("w+") as err:
        client.sendall(RQ)
        proc = subprocess.Popen([python, "-X", "importtime", "-c", LAUNCHER, "--inetd", "-od", outdir],
                                stdin=conn, stdout=subprocess.DEVNULL, stderr=err)
        if client.recv(1) != b"\x02":
            raise RuntimeError("fastscp did not accept the association")
        client.close()
        proc.wait(30)
        err.seek(0)
        return [(m.group(3), int(m.group(1)), len(m.group(2)) // 2)
                for m in map(_LINE.match, err) if m]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--python", default=sys.executable, help="the interpreter of fastscp's venv")
    args = ap.parse_args()
    baseline = subprocess.run([args.python, "-X", "importtime", "-c", "pass"], capture_output=True,
                              text=True).stderr
    interpreter = {m.group(3) for m in map(_LINE.match, baseline.splitlines()) if m}
    best: Dict[str, int] = {}
    order: List[str] = []
    with tempfile.TemporaryDirectory() as outdir:
        for _ in range(args.runs):
            for name, self_us, _depth in one_run(args.python, outdir):
                if name not in best:
                    order.append(name)
                best[name] = min(best.get(name, self_us), self_us)
    groups = {"interpreter start (also `python -c pass`)": 0, "standard library": 0, "fastscp": 0}
    for name in order:
        key = ("fastscp" if name.split(".")[0] == "fastscp" else
               "interpreter start (also `python -c pass`)" if name in interpreter else
               "standard library")
        groups[key] += best[name]
    print("| module | self ms (min of %d) |" % args.runs)
    print("|---|---|")
    for name in sorted(order, key=best.__getitem__, reverse=True)[:args.top]:
        print("| %s | %.2f |" % (name, best[name] / 1e3))
    print("\n| imports of | ms (sum of the minimums) |")
    print("|---|---|")
    for key, total in groups.items():
        print("| %s | %.1f |" % (key, total / 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
