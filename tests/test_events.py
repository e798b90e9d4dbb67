"""Events: -xcr/-xcs commands (observed through the files they write), -rns,
-tos, -xs, shutdown with a study pending, hostile names and AE titles, and
the Python callbacks of the embedding API."""
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

import dicomnet as dn
from conftest import run_storescu, wait_for
from test_placement import CT, S1, S2, S9, SC, make_object, workload  # noqa: F401 (fixture)


def _lines(path: Path, od: Path):
    if not path.exists():
        return []
    text = path.read_text().replace(str(od), "<OD>")
    return [re.sub(r"\d{8}_\d{9}", "<DATE_TIME>", line) for line in text.splitlines()]


def test_commands_match_storescp(spawn, tmp_path, workload):
    """-xcr/-xcs with every placeholder, -rns before -xcs, -xs order."""
    results = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        log = tmp_path / (kind + ".log")
        proc = spawn(kind, out, "-su", "P", "-rns", "-xs",
                     "-xcr", 'echo "R|#p|#f|#a|#c|#r|#x" >> %s' % log,
                     "-xcs", 'echo "S|#p|#f|#a|#c|#r" >> %s; ls #p >> %s' % (log, log))
        for i, files in enumerate(workload):
            assert run_storescu(proc.port, files, ["-nh", "-aet", "SCU%d" % i,
                                                   "-aec", "CALLED%d" % i]).returncode == 0
        proc.stop()
        # fastscp also ends the last (sentinel) study at shutdown; storescp never does
        lines = _lines(log, out)
        results[kind] = [l for l in lines if not (l.startswith("S|") and S9 in l)
                         and not l.startswith("CR")]
    assert results["fastscp"] == results["dcmtk"]
    text = "\n".join(results["dcmtk"])
    assert "R|<OD>/P_%s|CT.%s.1|SCU0|CALLED0|localhost|#x" % (S1, S1) in text
    assert "S|<OD>/P_%s|#f|SCU1|CALLED1|localhost" % S2 in text


def _dataset_bytes(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    return fp.getvalue()


def _raw_store(port, calling, items, timeout=10.0):
    """Send [(command instance UID, data set)] in one association; statuses."""
    peer = dn.RawPeer(port)
    try:
        kind, _ = peer.associate([(1, SC, [dn.ELE])], calling=calling, called=b"FAST SCP")
        assert kind == 2
        statuses = []
        for i, (instance, ds) in enumerate(items, 1):
            peer.send(dn.pdata(1, dn.store_rq(SC, instance, i), True))
            peer.send(dn.pdata(1, _dataset_bytes(ds), False))
            kind, body = peer.read_pdu(timeout)
            assert kind == 4
            cmd = dn.parse_command(body[6:])
            statuses.append(int.from_bytes(cmd[0x0900], "little"))
        peer.send(dn.release_rq())
        peer.read_pdu(timeout)
        return statuses
    finally:
        peer.close()


def _hostile_ds(instance, study, name):
    ds = Dataset()
    ds.SOPClassUID = SC
    ds.SOPInstanceUID = instance
    ds.StudyInstanceUID = study
    ds.add_new(0x00100010, "PN", name)
    return ds


HOSTILE_UIDS = ["../../evil", "/etc/passwd", "..", "1.2\x013\x1b[31m", "$(touch PWNED).`touch PWNED`",
                "1.2';touch PWNED;'", "a" * 300]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("sort", ["study-uid", "patient-name", "timestamp"])
def test_hostile_names_and_ae_titles_stay_inside(make_server, tmp_path, sort, monkeypatch):
    monkeypatch.chdir(tmp_path)          # a stray relative 'touch' would land here
    cmd_log = tmp_path / "xcr.log"
    server = make_server(sort_mode=sort, sort_prefix="" if sort == "study-uid" else "P",
                         exec_on_reception='echo "#p|#f|#a|#c|#r" >> %s' % cmd_log,
                         exec_on_eostudy='echo "S #p|#a|#c|#r" >> %s' % cmd_log)
    od = server.directory
    items = [(uid, _hostile_ds(uid, uid, name)) for uid, name in zip(
        HOSTILE_UIDS, [b"../../x", b"$(touch PWNED)", b"`touch PWNED`", b"a/b\\c", b"\"';|&",
                       b"..", b"x" * 400])]
    statuses = _raw_store(server.port, b'$(touch PWNED)"`', items)
    assert len(statuses) == len(items)
    assert statuses[-1] not in (0, 0xA900)       # 300-character UID: no such file name
    assert wait_for(lambda: len(_lines(cmd_log, od)) >= len(items) + 1)
    # every file and directory is inside the output directory, one level down at most
    for path in tmp_path.rglob("*"):
        assert path.name != "PWNED"
        if path.is_file() and path.parent != tmp_path:
            rel = path.relative_to(od)
            assert len(rel.parts) <= 2 and not rel.parts[0].startswith(".fastscp-"), rel
    stored = [p for p in od.rglob("*") if p.is_file()]
    assert len(stored) == len(items) - 1
    lines = _lines(cmd_log, od)
    for line in lines:
        assert "$(" not in line and "`" not in line and "'" not in line and ";" not in line
    assert '|"__touch PWNED___"|' in "\n".join(lines) or '|__touch PWNED___|' in "\n".join(lines)


def test_end_of_study_timeout_runs_xcs(spawn, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = [make_object(src / ("o%d" % i), CT, S1, S1 + ".%d" % i, b"A^B") for i in range(3)]
    out = tmp_path / "out"
    out.mkdir()
    proc = spawn("fastscp", out, "-ss", "P", "-rns", "-tos", "1", "-xcs", "ls #p > #p/../done.txt")
    assert run_storescu(proc.port, files, ["-nh"]).returncode == 0
    assert wait_for(lambda: (out / "done.txt").exists() and (out / "done.txt").read_text(), timeout=15)
    assert (out / "done.txt").read_text().split() == ["CT000001", "CT000002", "CT000003"]
    proc.stop()


def test_sigterm_runs_pending_xcs(spawn, tmp_path):
    """A clean shutdown (SIGTERM) ends the pending study: -rns and -xcs run."""
    src = tmp_path / "src"
    src.mkdir()
    files = [make_object(src / ("o%d" % i), CT, S1, S1 + ".%d" % i, b"A^B") for i in range(2)]
    out = tmp_path / "out"
    out.mkdir()
    proc = spawn("fastscp", out, "-su", "", "-rns", "-xcs", "ls #p > #p/../done.txt")
    assert run_storescu(proc.port, files, ["-nh"]).returncode == 0
    assert not (out / "done.txt").exists()
    proc.proc.terminate()
    assert proc.proc.wait(timeout=20) == 0
    assert wait_for(lambda: (out / "done.txt").exists() and (out / "done.txt").read_text(), timeout=15)
    assert (out / "done.txt").read_text().split() == ["CT000001", "CT000002"]


def _zombies():
    out = []
    for task in Path("/proc/self/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            try:
                state = Path("/proc/%s/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state == "Z":
                out.append(pid)
    return out


def test_background_commands_are_reaped(make_server, tmp_path):
    marker = tmp_path / "marks"
    server = make_server(exec_on_reception="echo #f >> %s" % marker)
    items = [("1.2.3.%d" % i, _hostile_ds("1.2.3.%d" % i, "1.2.3", b"A")) for i in range(5)]
    assert _raw_store(server.port, b"SCU", items) == [0] * 5
    assert wait_for(lambda: marker.exists() and len(marker.read_text().split()) == 5)
    assert sorted(marker.read_text().split()) == ["SC.1.2.3.%d" % i for i in range(5)]
    assert wait_for(lambda: not _zombies(), timeout=10), [(z, open("/proc/%s/stat" % z).read()[:80]) for z in _zombies()]


# -- the Python API ---------------------------------------------------------------------

def _server(tmp_path, **hooks):
    from fastscp import Server, ServerConfig
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    server = Server(ServerConfig(port=0, host="127.0.0.1", output_directory=str(out)), **hooks)
    thread = threading.Thread(target=server.serve_forever, kwargs={"handle_signals": False},
                              daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join(timeout=20)
        assert not thread.is_alive()
    return server, out, stop


def test_callbacks(tmp_path, caplog):
    from fastscp import CompletedStudy, StoreRequest
    events = []
    studies = queue.Queue()

    def on_store_request(rq: StoreRequest):
        events.append(("request", rq.sop_instance_uid, rq.association.calling_ae_title))
        if rq.sop_instance_uid.endswith(".66"):
            raise RuntimeError("boom")
        if rq.sop_instance_uid.endswith(".67"):
            return 0xA701
        if rq.sop_instance_uid.endswith(".68"):
            return os.path.join("chosen", "dir", "x.dcm")
        return None

    def on_study_complete(study: CompletedStudy):
        studies.put(study)
        raise ValueError("a failing study hook is only logged")

    server, out, stop = _server(
        tmp_path, on_store_request=on_store_request, on_study_complete=on_study_complete,
        on_stored=lambda o: events.append(("stored", o.path)),
        on_association_accepted=lambda i: events.append(("accepted", i.calling_ae_title)),
        on_association_released=lambda i: events.append(("released", i.calling_ae_title)),
        on_association_aborted=lambda i: events.append(("aborted", i.calling_ae_title)))
    try:
        items = [("1.2.3.%d" % n, _hostile_ds("1.2.3.%d" % n, study, b"A"))
                 for n, study in ((1, "9.1"), (66, "9.1"), (67, "9.1"), (68, "9.1"), (2, "9.2"))]
        assert _raw_store(server.port, b"CALLBACKS", items) == [0, 0x0110, 0xA701, 0, 0]
        first = studies.get(timeout=10)
        assert first.study_instance_uid == "9.1" and first.reason == "next-study"
        assert first.directory == str(out)
        assert sorted(Path(f).name for f in first.files) == ["SC.1.2.3.1", "x.dcm"]
        assert (out / "chosen" / "dir" / "x.dcm").is_file()
        assert sorted(p.name for p in out.iterdir()) == ["SC.1.2.3.1", "SC.1.2.3.2", "chosen"]
        assert "on_store_request hook failed" in caplog.text
    finally:
        stop()
    last = studies.get(timeout=10)
    assert (last.study_instance_uid, last.reason) == ("9.2", "shutdown")
    assert events[0] == ("accepted", "CALLBACKS") and events[-1] == ("released", "CALLBACKS")
    assert ("stored", str(out / "chosen" / "dir" / "x.dcm")) in events
    assert "on_study_complete hook failed" in caplog.text


def test_refused_object_is_drained_and_xcr_still_runs(tmp_path):
    from fastscp import Server, ServerConfig
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "x.log"
    server = Server(ServerConfig(port=0, host="127.0.0.1", output_directory=str(out),
                                 exec_on_reception="echo #f >> %s" % log, exec_sync=True),
                    on_store_request=lambda rq: 0xC001)
    thread = threading.Thread(target=server.serve_forever, kwargs={"handle_signals": False},
                              daemon=True)
    thread.start()
    try:
        items = [("1.2.3.%d" % n, _hostile_ds("1.2.3.%d" % n, "9", b"A")) for n in (1, 2)]
        assert _raw_store(server.port, b"SCU", items) == [0xC001, 0xC001]
        assert list(out.iterdir()) == []
        assert log.read_text().split() == ["SC.1.2.3.1", "SC.1.2.3.2"]
    finally:
        server.shutdown()
        thread.join(timeout=20)


def test_readme_example_runs(tmp_path):
    """The README's library example, as written there."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- example: studies -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(block)
    src = tmp_path / "src"
    src.mkdir()
    files = [make_object(src / "a", CT, S1, S1 + ".1", b"A"), make_object(src / "b", CT, S2, S2 + ".1", b"B")]
    out = tmp_path / "incoming"
    out.mkdir()
    import fastscp
    # the fastscp under test (the source tree, or the installed package)
    env = dict(os.environ, PYTHONPATH=str(Path(fastscp.__file__).parent.parent),
               FASTSCP_EXAMPLE_DIR=str(out))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("listening on"), first + proc.stderr.read()
        port = int(first.split()[-1])
        assert run_storescu(port, files, ["-nh"]).returncode == 0
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "study %s complete: 1 file(s)" % S1 in stdout
    assert "study %s complete: 1 file(s)" % S2 in stdout


def test_ignore_leaves_path_placeholders_like_storescp(spawn, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = [make_object(src / "a", CT, S1, S1 + ".1", b"A")]
    seen = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        log = tmp_path / (kind + ".log")
        proc = spawn(kind, out, "--ignore", "-xs", "-xcr", 'echo "#p|#f|#a|#c|#r" >> %s' % log)
        assert run_storescu(proc.port, files, ["-nh", "-aet", "A B"]).returncode == 0
        proc.stop()
        seen[kind] = log.read_text()
    assert seen["fastscp"] == seen["dcmtk"] == "#p|#f|A B|ANY-SCP|localhost\n"
