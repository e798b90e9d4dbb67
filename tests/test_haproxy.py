"""The reference deployment behind a load balancer: Debian's HAProxy, run
here with the shipped deploy/haproxy.cfg (its ports replaced by free
loopback ports, nothing else changed), in front of three fastscp instances
with --proxy-protocol 127.0.0.1.

Senders at once: 8 DCMTK storescu (the kernel gives them all the source
address 127.0.0.1, storescu cannot bind another) and 8 raw-PDU senders
(tests/rawstore.py) bound to 127.0.0.2 .. 127.0.0.9, so that the address
that reaches fastscp's logs can only have come from the PROXY header.
(pynetdicom can bind too, but its requestor's reactor thread sometimes
takes a C-STORE-RSP off the queue meant for send_c_store when the machine
is loaded, and the association ends in a DIMSE timeout.)  Every object
must be stored exactly once across the three output directories, each
sender's objects on one instance (balance source), and HAProxy's health
checks (every 2 s, a v2 LOCAL header and a close) must leave nothing in
the default-level log."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import LoggedProcess, final_files, free_port, listening, run_storescu, terminate, wait_for
from dicomfile import split_file
from rawstore import send_cases
from test_placement import make_object

HAPROXY = "/usr/sbin/haproxy"
SHIPPED = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
UID_ROOT = "1.2.826.0.1.3680043.2.1143.16"
STORESCU_SENDERS, RAW_SENDERS, OBJECTS_EACH = 8, 8, 4
#: the raw senders' source addresses
SOURCES = ["127.0.0.%d" % (2 + i) for i in range(RAW_SENDERS)]
#: what a health check leaves at debug level in an instance's log
CHECK_LINE = "D: PROXY protocol v2 header (LOCAL) from load balancer 127.0.0.1: peer 127.0.0.1 port "


@pytest.fixture(scope="module", autouse=True)
def _require_haproxy():
    if not Path(HAPROXY).exists():
        pytest.fail("HAProxy is required for these tests (apt-get install haproxy)")


def configuration(frontend: int, instances: List[int]) -> str:
    """deploy/haproxy.cfg with its frontend and server ports replaced."""
    text = SHIPPED.read_text()
    for setting in ("balance source", "send-proxy-v2", "check-send-proxy", "mode tcp"):
        assert setting in text, "the shipped configuration lost %r" % setting
    text, count = re.subn(r"(?m)^([ \t]*bind\s+):\d+[ \t]*$", r"\g<1>127.0.0.1:%d" % frontend, text)
    assert count == 1
    servers = re.findall(r"(?m)^[ \t]*server\s+\S+\s+127\.0\.0\.1:(\d+)[ \t]*$", text)
    assert len(servers) == len(instances) == 3
    for old, new in zip(servers, instances):
        text = re.sub(r"(?m)(^[ \t]*server\s+\S+\s+127\.0\.0\.1:)%s[ \t]*$" % old, r"\g<1>%d" % new, text)
    return text


class HAProxy:
    """haproxy -db (foreground) with a configuration file, up once it listens."""

    def __init__(self, config: str, port: int, workdir: Path):
        self.config = workdir / "haproxy.cfg"
        self.config.write_text(config)
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = workdir / "haproxy.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.config)],
                                         stdout=out, stderr=subprocess.STDOUT)
        if not wait_for(lambda: listening(port) or self.proc.poll() is not None, timeout=30):
            self.stop()
            raise RuntimeError("haproxy did not start listening")
        assert self.proc.poll() is None, self.log.read_text()

    def stop(self) -> None:
        terminate(self.proc)


def write_objects(directory: Path, sender: str) -> List[str]:
    """OBJECTS_EACH CT objects of one study for sender `sender`; their SOP Instance UIDs."""
    directory.mkdir(parents=True)
    study = "%s.%s" % (UID_ROOT, sender)
    uids = ["%s.%d" % (study, n) for n in range(1, OBJECTS_EACH + 1)]
    for uid in uids:
        make_object(directory / uid, CT, study, uid)
    return uids


def send_raw(port: int, source: str, directory: Path, results: Dict[str, object]) -> None:
    """One association from `source` storing the objects in `directory`."""
    cases = [(EXPLICIT_LE, CT, path.name, split_file(path)[1]) for path in sorted(directory.iterdir())]
    results[source] = send_cases(port, cases, timeout=60, source=source)


def test_three_instances_behind_haproxy(tmp_path):
    instance_ports = [free_port() for _ in range(3)]
    frontend = free_port()
    outs = [tmp_path / ("out%d" % i) for i in range(3)]
    instances, haproxy = [], None
    try:
        for out, port in zip(outs, instance_ports):
            out.mkdir()
            instances.append(LoggedProcess(
                [sys.executable, "-m", "fastscp", "-d", "-dhl", "--proxy-protocol", "127.0.0.1",
                 "-od", str(out), str(port)], port, None, tmp_path))
        haproxy = HAProxy(configuration(frontend, instance_ports), frontend, tmp_path)
        # HAProxy checks every instance (they are up when their checks pass)
        assert wait_for(lambda: all(CHECK_LINE in i.stderr_text() for i in instances), timeout=30)

        expected: Dict[str, List[str]] = {}
        storescu_dirs = {}
        for n in range(STORESCU_SENDERS):
            name = "scu%d" % n
            storescu_dirs[name] = tmp_path / "send" / name
            expected[name] = write_objects(storescu_dirs[name], "1%d" % n)
        raw_dirs = {}
        for n, source in enumerate(SOURCES):
            raw_dirs[source] = tmp_path / "send" / source
            expected[source] = write_objects(raw_dirs[source], "2%d" % n)

        # all 16 senders at once
        scu_results: Dict[str, subprocess.CompletedProcess] = {}
        raw_results: Dict[str, object] = {}
        threads = [threading.Thread(target=lambda name=name, d=d: scu_results.__setitem__(
            name, run_storescu(frontend, sorted(d.iterdir()), timeout=120)))
            for name, d in storescu_dirs.items()]
        threads += [threading.Thread(target=send_raw, args=(frontend, source, d, raw_results))
                    for source, d in raw_dirs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in threads)
        assert [r.returncode for r in scu_results.values()] == [0] * STORESCU_SENDERS, \
            [r.stderr for r in scu_results.values() if r.returncode]
        assert raw_results == {s: [0] * OBJECTS_EACH for s in SOURCES}

        # every object stored exactly once across the three output directories
        stored = {i: [p.name.split(".", 1)[1] for p in final_files(out)] for i, out in enumerate(outs)}
        everything = [uid for uids in stored.values() for uid in uids]
        assert len(everything) == (STORESCU_SENDERS + RAW_SENDERS) * OBJECTS_EACH
        assert Counter(everything) == Counter(uid for uids in expected.values() for uid in uids)
        # each sender's study on one instance; the senders spread over more than one
        where = {}
        for sender, uids in expected.items():
            holders = {i for i, names in stored.items() if set(uids) & set(names)}
            assert len(holders) == 1, (sender, holders)
            where[sender] = holders.pop()
        assert len({where[s] for s in SOURCES}) > 1, where
        assert len({where[name] for name in storescu_dirs}) == 1       # all from 127.0.0.1

        # a few more rounds of health checks while idle
        checks_before = [i.stderr_text().count(CHECK_LINE) for i in instances]
        assert wait_for(lambda: all(i.stderr_text().count(CHECK_LINE) >= before + 2
                                    for i, before in zip(instances, checks_before)), timeout=30)
    finally:
        if haproxy is not None:
            haproxy.stop()
        for instance in instances:
            instance.stop()

    for n, instance in enumerate(instances):
        log = instance.stderr.splitlines()
        received = [line.split(": ", 2)[2] for line in log if line.startswith("D: Association Received: ")]
        # the real senders, each on the instance that stored its objects
        assert sorted(received) == sorted(
            (s if s in SOURCES else "127.0.0.1") for s, i in where.items() if i == n), (n, received)
        for source in SOURCES:
            relayed = [line for line in log if re.fullmatch(
                r"D: PROXY protocol v2 header \(PROXY TCP4\) from load balancer 127\.0\.0\.1: "
                r"peer %s port \d+" % re.escape(source), line)]
            assert len(relayed) == (1 if where[source] == n else 0), (n, source)
        # what the default level would show: nothing (no warning, error or
        # fatal line), and at -v only the associations' own lines
        assert [line for line in log if line[:2] in ("W:", "E:", "F:")] == [], n
        assert sum(line == "I: Association Received" for line in log) == len(received)
        assert log.count("I: Association Release") == len(received)
        assert sum(line.startswith(CHECK_LINE) for line in log) >= 3
