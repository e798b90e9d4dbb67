#!/usr/bin/env python3
"""Replay of small C-STOREs through the sans-IO core (`Association` and the
real `StoreService`, files written to a temporary directory), no sockets:
the per-object cost of fastscp's own Python and C, which is where a
per-object addition (such as the counters of `fastscp.stats`) shows.

    python benchmarks/replay.py [--objects 2000] [--repeat 7] [--dir /dev/shm]

Prints the median CPU microseconds per object over the repeats (CPU time
of this process: on a busy machine wall time mostly measures the others).
To compare two builds, run it with each one's Python in turn, pinned to one
core (``taskset -c 1``), several times interleaved.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dicomnet import ELE, associate_rq, pdata, release_rq, store_rq  # noqa: E402

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"           # Secondary Capture


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element with a short length."""
    if len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    return struct.pack("<HH", group, element) + vr + struct.pack("<H", len(value)) + value


def small_dataset(instance: str) -> bytes:
    return b"".join((
        _element(0x0008, 0x0016, b"UI", SOP_CLASS.encode()),
        _element(0x0008, 0x0018, b"UI", instance.encode()),
        _element(0x0010, 0x0010, b"PN", b"REPLAY^TEST"),
        _element(0x0010, 0x0020, b"LO", b"12345"),
        _element(0x0020, 0x000D, b"UI", b"1.2.826.0.1.3680043.2.1125.1"),
        _element(0x0020, 0x000E, b"UI", b"1.2.826.0.1.3680043.2.1125.2"),
    ))


def traffic(objects: int) -> bytes:
    """An association's bytes: A-ASSOCIATE-RQ, `objects` C-STOREs, A-RELEASE-RQ."""
    parts = [associate_rq([(1, SOP_CLASS, [ELE])])]
    for n in range(objects):
        instance = "1.2.826.0.1.3680043.2.1125.3.%d" % (n + 1)
        parts.append(pdata(1, store_rq(SOP_CLASS, instance, (n % 65000) + 1), command=True))
        parts.append(pdata(1, small_dataset(instance), command=False))
    parts.append(release_rq())
    return b"".join(parts)


def replay_once(data: bytes, objects: int, base: str) -> float:
    """CPU seconds for one association of `objects` C-STOREs (responses discarded)."""
    from fastscp import Association, ServerConfig
    from fastscp.service import StoreService
    out = tempfile.mkdtemp(dir=base)
    try:
        config = ServerConfig(output_directory=out, host_lookup=False)
        assoc = Association(config, StoreService(config), "127.0.0.1", 1)
        # slices as one recv_into brings them, answered as the transport would
        start = time.process_time()
        assoc.receive(data)
        assoc.data_to_send()
        assoc.run_deferred()
        elapsed = time.process_time() - start
        assert assoc.outcome == "released", assoc.outcome
        assert sum(1 for _ in Path(out).iterdir()) == objects
        return elapsed
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", default="/dev/shm", help="where the temporary output directories go")
    args = parser.parse_args()
    data = traffic(args.objects)
    replay_once(data, args.objects, args.dir)             # warm-up (imports, page cache)
    times = [replay_once(data, args.objects, args.dir) for _ in range(args.repeat)]
    per_object = [t / args.objects * 1e6 for t in times]
    print("%d objects x %d: median %.1f CPU us/object (min %.1f, max %.1f)"
          % (args.objects, args.repeat, statistics.median(per_object), min(per_object), max(per_object)))


if __name__ == "__main__":
    main()
