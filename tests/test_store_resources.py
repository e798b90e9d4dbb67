"""Every C-STORE gives back what it took, whatever fails: a failure injected
at each step (writer construction, mid-stream write, a full disk, finish,
rename, each hook) leaves no temporary file and no descriptor behind, keeps
the end-of-study timer working and is answered with a failure status while the
association goes on.  Deflated data sets inflate only so far."""
from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import pytest

import fastscp.service
from fastscp._sink import CallbackSink
from fastscp.storage import Storage
from fastscp.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, PREFERENCE_LISTS

from conftest import InProcessServer, files_being_written, wait_for
from dicomenc import Enc
from rawstore import send_cases

ELE = "1.2.840.10008.1.2.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
STUDY = "1.2.826.0.1.3680043.8.498.77"
E = Enc()


def _ui(value):
    return value + "\0" if len(value) % 2 else value


def dataset(inst, pixel_bytes=64, study=STUDY):
    return (E.el(0x00080016, "UI", _ui(SC)) + E.el(0x00080018, "UI", _ui(inst)) + E.el(0x00080060, "CS", "OT")
            + E.el(0x0020000D, "UI", _ui(study)) + E.el(0x7FE00010, "OB", b"\1" * pixel_bytes))


def case(n, pixel_bytes=64, study=STUDY):
    inst = "1.2.826.0.1.3680043.8.498.77.%d" % n
    return (ELE, SC, inst, dataset(inst, pixel_bytes, study))


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def leftovers(directory):
    return [p for p in Path(directory).rglob("*") if p.is_file() and p.name.startswith(".fastscp-")]


class Embedded(InProcessServer):
    """fastscp in this process (so that a failure can be injected), with -tos 1."""

    def __init__(self, directory, **hooks):
        self.completed = []
        hooks.setdefault("on_study_complete", self.completed.append)
        super().__init__(directory, hooks, eostudy_timeout=1.0, sort_mode="study-uid", host_lookup=False,
                         transfer_syntaxes=PREFERENCE_LISTS["prefer-deflated"])


def _run_with_failure(tmp_path, monkeypatch, inject, expected_status, **hooks):
    """A failing C-STORE then a good one on the same association: the statuses;
    afterwards nothing is left behind and the study still completes."""
    out = tmp_path / "out"
    out.mkdir()
    baseline = open_fds()
    srv = Embedded(out, **hooks)
    try:
        undo = inject(monkeypatch)
        statuses = send_cases(srv.port, [case(1)])
        if undo:
            undo()
        statuses += send_cases(srv.port, [case(2)])
        assert statuses == [expected_status, 0]
        assert not leftovers(out)
        # -tos still fires: the failed store did not keep the study "in progress"
        assert wait_for(lambda: len(srv.completed) == 1, timeout=10), "end of study never came"
    finally:
        srv.stop()
    assert wait_for(lambda: open_fds() <= baseline, timeout=10), (open_fds(), baseline)
    return srv


def test_writer_construction_fails(tmp_path, monkeypatch):
    def inject(mp):
        def broken(*args, **kw):
            raise ValueError("writer refuses this configuration")
        mp.setattr(fastscp.service, "make_writer", broken)
        return mp.undo
    _run_with_failure(tmp_path, monkeypatch, inject, 0xA700)


class _FailingSink(CallbackSink):
    """Writes nothing; fails at the fragment or at finish(), as told."""

    def __new__(cls, *args, **kw):
        return super().__new__(cls, lambda data: None)

    def __init__(self, fail_feed=None, fail_finish=None):
        self.fail_finish = fail_finish
        super().__init__(self._feed)
        self.fail_feed = fail_feed

    def _feed(self, data):
        if self.fail_feed is not None:
            raise self.fail_feed

    def finish(self):
        if self.fail_finish is not None:
            raise self.fail_finish
        return {}


def _sink_failing(**kw):
    def inject(mp):
        real = fastscp.service.make_writer

        def make(config, fd, *args, **kws):
            real(config, fd, *args, **kws)          # what a real writer takes, too
            return _FailingSink(**kw)
        mp.setattr(fastscp.service, "make_writer", make)
        return mp.undo
    return inject


def test_write_fails_mid_stream(tmp_path, monkeypatch):
    _run_with_failure(tmp_path, monkeypatch, _sink_failing(fail_feed=OSError(errno.EIO, "I/O error")), 0xA700)


def test_disk_full_mid_stream_simulated(tmp_path, monkeypatch):
    _run_with_failure(tmp_path, monkeypatch,
                      _sink_failing(fail_feed=OSError(errno.ENOSPC, "No space left on device")), 0xA700)


def test_finish_fails_unexpectedly(tmp_path, monkeypatch):
    _run_with_failure(tmp_path, monkeypatch, _sink_failing(fail_finish=RuntimeError("bug")), 0x0110)


def test_rename_fails(tmp_path, monkeypatch):
    def inject(mp):
        def commit(temp_path, final_path):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        def commit_unnamed(self, fd, final_path):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        mp.setattr(Storage, "commit", staticmethod(commit))
        mp.setattr(Storage, "commit_unnamed", commit_unnamed)
        return mp.undo
    _run_with_failure(tmp_path, monkeypatch, inject, 0xA700)


def test_placement_fails_unexpectedly(tmp_path, monkeypatch):
    def inject(mp):
        def decide(*args, **kw):
            raise KeyError("bug")
        mp.setattr(fastscp.placement.Placement, "decide", decide)
        return mp.undo
    _run_with_failure(tmp_path, monkeypatch, inject, 0x0110)


def _raising_once(calls):
    """A hook that records its argument and raises the first time."""
    def hook(arg):
        calls.append(arg)
        if len(calls) == 1:
            raise RuntimeError("hook bug")
    return hook


def test_on_store_request_hook_raises(tmp_path, monkeypatch):
    calls = []
    _run_with_failure(tmp_path, monkeypatch, lambda mp: None, 0x0110, on_store_request=_raising_once(calls))
    assert len(calls) == 2


def test_on_stored_hook_raises(tmp_path, monkeypatch):
    """The object was stored before the hook ran: the file stays (README)."""
    calls = []
    _run_with_failure(tmp_path, monkeypatch, lambda mp: None, 0x0110, on_stored=_raising_once(calls))
    assert len(calls) == 2 and all(Path(c.path).is_file() for c in calls)


def test_on_study_complete_hook_raises(tmp_path, monkeypatch):
    completed = []

    def hook(study):
        completed.append(study)
        raise RuntimeError("hook bug")
    out = tmp_path / "out"
    out.mkdir()
    srv = Embedded(out, on_study_complete=hook)
    try:
        assert send_cases(srv.port, [case(1)]) == [0]
        assert wait_for(lambda: len(completed) == 1, timeout=10)
        # the server goes on: a new study completes too
        assert send_cases(srv.port, [case(2, study=STUDY + ".2")]) == [0]
        assert wait_for(lambda: len(completed) == 2, timeout=10)
    finally:
        srv.stop()


# -- a file system that really fills up ----------------------------------------------

@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % res.stderr.strip())
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full(small_tmpfs):
    """ENOSPC mid-stream: 0xA700, nothing left; once space is back, objects are stored."""
    out = small_tmpfs / "out"
    out.mkdir()
    srv = Embedded(out)
    try:
        statuses = send_cases(srv.port, [case(1, pixel_bytes=3 << 20), case(2)])
        assert statuses == [0xA700, 0]
        assert not leftovers(out)
        assert len([p for p in out.rglob("*") if p.is_file()]) == 1
    finally:
        srv.stop()


# -- deflate bombs -----------------------------------------------------------------------

def _deflated_case(n, value_bytes):
    """A deflated data set whose pixel data is value_bytes zero bytes."""
    inst = "1.2.826.0.1.3680043.8.498.78.%d" % n
    head = (E.el(0x00080016, "UI", _ui(SC)) + E.el(0x00080018, "UI", _ui(inst)) + E.el(0x00080060, "CS", "OT")
            + E.el(0x0020000D, "UI", _ui(STUDY)))
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [comp.compress(head + E.tag(0x7FE00010) + b"OB\0\0" + struct.pack("<I", value_bytes))]
    chunk = b"\0" * (1 << 20)
    left = value_bytes
    while left:
        parts.append(comp.compress(chunk[:min(left, len(chunk))]))
        left -= min(left, len(chunk))
    data = b"".join(parts) + comp.flush()
    if len(data) % 2:
        data += b"\0"
    return (DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, SC, inst, data)


def _serve(directory, **config):
    return InProcessServer(directory, host_lookup=False, transfer_syntaxes=PREFERENCE_LISTS["prefer-deflated"],
                           **config)


def test_deflate_bomb_stops_at_once(tmp_path):
    """1 GiB of zeros deflated to ~1 MiB: refused once 64 MiB were inflated (ratio 100)."""
    bomb = _deflated_case(1, 1 << 30)
    assert len(bomb[3]) < 2 << 20
    sizes = []
    srv = _serve(tmp_path)
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for link in files_being_written(tmp_path):
                try:
                    sizes.append(os.stat(link).st_size)
                except OSError:
                    pass                # written and closed meanwhile
            stop.wait(0.01)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        statuses = send_cases(srv.port, [bomb, _deflated_case(2, 1 << 20)], timeout=60)
    finally:
        stop.set()
        watcher.join()
        srv.stop()
    assert statuses == [0xA700, 0]
    assert not leftovers(tmp_path)
    assert sizes, "the watcher never saw the file being written"
    assert max(sizes) <= (64 << 20) + (1 << 20), "the bomb was inflated past the limit"


def test_max_inflated_size(tmp_path):
    srv = _serve(tmp_path, max_inflated_size=2 << 20)
    try:
        statuses = send_cases(srv.port, [_deflated_case(1, 3 << 20), _deflated_case(2, 1 << 20)], timeout=60)
    finally:
        srv.stop()
    assert statuses == [0xA700, 0]
    assert not leftovers(tmp_path)


def test_inflation_limits_on_the_command_line(spawn, tmp_path):
    proc = spawn("fastscp", tmp_path, "+xd", "--max-inflated-size", "2", "--max-inflation-ratio", "5")
    statuses = send_cases(proc.port, [_deflated_case(1, 3 << 20), _deflated_case(2, 1 << 20)], timeout=60)
    assert statuses == [0xA700, 0]
    proc.stop()
    assert "--max-inflated-size" in proc.stderr
