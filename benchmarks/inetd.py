#!/usr/bin/env python3
"""inetd benchmark: fastscp --inetd vs DCMTK storescp --inetd, same run.

A super-server starts one process per association, so start-up is the cost:

* ``start-up``: from exec to the first byte of the A-ASSOCIATE-AC.  The
  A-ASSOCIATE-RQ is already waiting on the connection handed over as
  standard input (as inetd hands it over); median and minimum of N starts,
  and the CPU time of each run (echo-less: the peer closes after the AC).
  Beside storescp and fastscp's console script: ``python -m fastscp`` (the
  script's own cost), and the floor CPython sets on this machine -- the same
  venv's interpreter writing the AC's first byte at once (``python -c``,
  and with ``-I -S``: no site, no .pth files).
* ``xinetd``: Debian's xinetd serving both (``tests/superserver.py``) on two
  loopback ports; 200 sequential echoscu associations (one C-ECHO each) and
  200 sequential storescu associations (one small C-STORE each: pydicom's
  CT_small.dcm, 39 KB), wall time per batch; runs interleaved, medians.

    python benchmarks/inetd.py [--associations 200] [--repeat 5] [--starts 30]

Needs fastscp installed in this Python's environment (its console script
``fastscp`` next to the interpreter: a super-server execs a program path),
DCMTK and xinetd.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from connect_close import RQ  # noqa: E402
from run import free_port  # noqa: E402
from superserver import Service, Xinetd  # noqa: E402

STORESCP, STORESCU, ECHOSCU = "/usr/bin/storescp", "/usr/bin/storescu", "/usr/bin/echoscu"
#: storescp writes each PDU with two write()s: without TCP_NODELAY Nagle adds ~40 ms
DCMTK_ENV = {"TCP_NODELAY": "1"}
KINDS = ("storescp", "fastscp")
#: the A-ASSOCIATE-AC's PDU type, written by an interpreter that does nothing else
_FIRST_BYTE = "import os; os.write(0, b'\\x02')"
#: start-up rows beyond KINDS: name -> argv (after the interpreter) and output directory
STARTUP_EXTRA = {
    "python -m fastscp": lambda outdir: ["-m", "fastscp", "--inetd", "-od", outdir],
    "floor: python -c (1st byte only)": lambda outdir: ["-c", _FIRST_BYTE],
    "floor: python -I -S -c (1st byte only)": lambda outdir: ["-I", "-S", "-c", _FIRST_BYTE],
}


def server_argv(kind: str, fastscp: str, outdir: str) -> List[str]:
    if kind in STARTUP_EXTRA:
        # the interpreter of the console script's venv
        return [str(Path(fastscp).parent / "python"), *STARTUP_EXTRA[kind](outdir)]
    return [STORESCP if kind == "storescp" else fastscp, "--inetd", "-od", outdir]


def time_to_ac(argv: Sequence[str], env: Dict[str, str]) -> Tuple[float, float]:
    """Seconds from exec to the first byte of the answer to a waiting
    A-ASSOCIATE-RQ, and the CPU seconds (user + system) of the whole run
    (less sensitive than wall time to what else the machine is doing)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
    with client, conn:
        client.sendall(RQ)
        client.settimeout(30)
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=conn, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=dict(os.environ, **env))
        first = client.recv(1)
        elapsed = time.perf_counter() - t0
    _, _, usage = os.wait4(proc.pid, 0)
    if first != b"\x02":
        raise RuntimeError("%s did not accept the association: %r" % (argv[0], first))
    return elapsed, usage.ru_utime + usage.ru_stime


def batch(argv: Sequence[str], n: int) -> float:
    """Wall seconds of n sequential client runs (each one association)."""
    env = dict(os.environ, **DCMTK_ENV)
    t0 = time.monotonic()
    for _ in range(n):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, timeout=60)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--associations", type=int, default=200, help="0: start-up only")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--starts", type=int, default=50, help="start-ups measured per server")
    ap.add_argument("--fastscp", default=str(Path(sys.executable).parent / "fastscp"),
                    help="the fastscp program (default: the console script next to this Python)")
    ap.add_argument("--results", default=str(HERE / "results" / "inetd.md"))
    args = ap.parse_args()
    from pydicom.data import get_testdata_file
    small = get_testdata_file("CT_small.dcm")
    lines: List[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory() as work:
        out = {k: os.path.join(work, k) for k in KINDS}
        for d in out.values():
            os.mkdir(d)
        envs = {"storescp": DCMTK_ENV, "fastscp": {}}

        started = KINDS + tuple(STARTUP_EXTRA)
        starts: Dict[str, List[Tuple[float, float]]] = {k: [] for k in started}
        for _ in range(args.starts):
            for k in started:
                starts[k].append(time_to_ac(server_argv(k, args.fastscp, out.get(k, out["fastscp"])),
                                            envs.get(k, {})))
        say("## exec to the first byte of the A-ASSOCIATE-AC (%d starts each, interleaved)\n"
            % args.starts)
        say("| server | median ms | min ms | CPU ms of the run (median) |")
        say("|---|---|---|---|")
        for k in started:
            walls_ms = [1e3 * w for w, _ in starts[k]]
            say("| %s | %.1f | %.1f | %.1f |" % (k, statistics.median(walls_ms), min(walls_ms),
                                                 1e3 * statistics.median(c for _, c in starts[k])))

        if not args.associations:
            Path(args.results).write_text("\n".join(lines) + "\n")
            return 0
        ports = {k: free_port() for k in KINDS}
        services = [Service(k, ports[k], server_argv(k, args.fastscp, out[k]), envs[k]) for k in KINDS]
        walls: Dict[str, Dict[str, List[float]]] = {w: {k: [] for k in KINDS} for w in ("echo", "store")}
        with Xinetd(Path(work) / "xinetd", services) as xinetd:
            for _ in range(args.repeat):
                for k in KINDS:
                    host = ["127.0.0.1", str(ports[k])]
                    walls["echo"][k].append(batch([ECHOSCU, *host], args.associations))
                    walls["store"][k].append(batch([STORESCU, *host, small], args.associations))
            exits = {k: xinetd.wait_exits(k, 2 * args.associations * args.repeat) for k in KINDS}
        for k in KINDS:
            bad = [status for _, status in exits[k] if status != 0]
            if len(exits[k]) != 2 * args.associations * args.repeat or bad:
                raise RuntimeError("%s: %d server exits, %d not 0" % (k, len(exits[k]), len(bad)))
        say("\n## %d sequential associations through xinetd (median of %d interleaved runs)\n"
            % (args.associations, args.repeat))
        say("| workload | storescp s | fastscp s | fastscp / storescp |")
        say("|---|---|---|---|")
        for w, title in (("echo", "echoscu: one C-ECHO"), ("store", "storescu: one C-STORE, CT_small.dcm")):
            ref, ours = (statistics.median(walls[w][k]) for k in KINDS)
            say("| %s | %.2f | %.2f | %.2f |" % (title, ref, ours, ours / ref))
    say("\nload average (1, 5, 15 min) at the end: %.2f %.2f %.2f" % os.getloadavg())
    Path(args.results).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
