"""Test helper: send the same raw C-STOREs to Debian's storescp and to fastscp
and put the outcomes side by side (status, file bytes), for the differential
tests of malformed and truncated data sets (tests/test_malformed.py).

Every case carries its own SOP Instance UID (command and data set alike), so
one server process stores every case under its own file name.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from conftest import DCMTK_BIN, DCMTK_ENV, STORESCP, free_port, is_listening, terminate, wait_for
from dicomfile import comparable_meta, split_file
from rawstore import TIMEOUT, Case, send_cases

DCMDUMP = str(DCMTK_BIN / "dcmdump")

#: statuses that report a stored object
STORED = (0x0000, 0xB006)

#: how long a server may take to answer one small C-STORE before it counts as hung
#: (Debian's storescp loops forever on some cut data sets)
ANSWER_TIMEOUT = 3.0


class ServerProcess:
    """storescp or fastscp on a free port, writing to ``directory``; restartable."""

    def __init__(self, kind: str, directory: Path, options: Sequence[str]):
        self.kind, self.directory, self.options = kind, directory, list(options)
        self.errors: List[str] = []
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        self.port = free_port()
        if self.kind == "dcmtk":
            argv, env = [STORESCP, *self.options, "-od", str(self.directory), str(self.port)], DCMTK_ENV
        else:
            argv, env = [sys.executable, "-m", "fastscp", *self.options, "-od", str(self.directory),
                         str(self.port)], None
        # the log goes to a file: a pipe nobody reads would block the server when full
        self.log = open(self.directory.parent / ("%s-%d.log" % (self.kind, len(self.errors))), "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        if not wait_for(lambda: is_listening(self.port) or self.proc.poll() is not None, timeout=20):
            raise RuntimeError("%s did not start listening" % self.kind)
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited at start" % self.kind)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.log.close()
            self.errors.append(Path(self.log.name).read_text("utf-8", "replace"))
            self.proc = None

    def run(self, cases: Sequence[Case], max_pdv: int) -> List[object]:
        """Outcome per case (status, ABORTED or TIMEOUT); a hung server is restarted."""
        results: List[object] = []
        while len(results) < len(cases):
            got = send_cases(self.port, cases[len(results):], max_pdv=max_pdv, timeout=ANSWER_TIMEOUT)
            results.extend(got)
            if got and got[-1] == TIMEOUT:
                self.stop()
                self.start()
        return results


@dataclass
class Outcome:
    result: object                 # status, ABORTED or TIMEOUT
    file: Optional[Path]

    @property
    def stored(self) -> bool:
        return isinstance(self.result, int) and self.result in STORED

    def describe(self) -> str:
        r = "0x%04X" % self.result if isinstance(self.result, int) else self.result
        return "%s, %s" % (r, "file" if self.file else "no file")


def files_by_instance(directory: Path, instances: Sequence[str]) -> Dict[str, Path]:
    """{instance UID: file} for the final files named after these instances."""
    wanted = set(instances)
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            if name.startswith(".fastscp-"):
                continue
            # <prefix>.<instance UID>
            inst = name.split(".", 1)[1] if "." in name else name
            if inst in wanted:
                out[inst] = Path(root) / name
    return out


def run_both(tmp_path: Path, cases: Sequence[Case], options: Sequence[str] = ("+xa",),
             max_pdv: int = 16372) -> Dict[str, List[Outcome]]:
    """Send the cases to storescp and to fastscp (in turn); their outcomes."""
    out = {}
    for kind in ("dcmtk", "fastscp"):
        directory = tmp_path / kind
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()
        server = ServerProcess(kind, directory, options)
        try:
            results = server.run(cases, max_pdv)
        finally:
            server.stop()
        files = files_by_instance(directory, [inst for _, _, inst, _ in cases])
        out[kind] = [Outcome(r, files.get(inst)) for r, (_, _, inst, _) in zip(results, cases)]
    return out


def same_file(a: Path, b: Path) -> bool:
    """Same data set bytes and file meta (apart from the implementation's own elements)."""
    meta_a, ds_a = split_file(a)
    meta_b, ds_b = split_file(b)
    return ds_a == ds_b and comparable_meta(meta_a) == comparable_meta(meta_b)


def dcmtk_reads(path: Path) -> bool:
    """Debian's dcmdump reads the whole file without an error."""
    return subprocess.run([DCMDUMP, "-q", str(path)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def with_instance(data: bytes, old: str, new: str) -> bytes:
    """The data set with its SOP Instance UID value replaced by one of the same length."""
    assert len(old) == len(new)
    assert data.count(old.encode()) == 1, "the instance UID must occur once in the data set"
    return data.replace(old.encode(), new.encode())


def numbered_uid(uid: str, number: int, width: int = 8) -> str:
    """``uid`` with its last ``width`` characters replaced by ``number`` (same length)."""
    return uid[:-width] + "%0*d" % (width, number)
