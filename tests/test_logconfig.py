"""-lc/--log-config: log4cplus properties files, differential against storescp.

Each differential test starts Debian's storescp and fastscp with the same
file, each in its own empty working directory, sends both the same traffic
(DCMTK echoscu and storescu) and compares what they wrote (stdout, stderr,
log files, syslog datagrams) line by line, with times, process and thread
ids masked and the program names made equal.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from conftest import DCMTK_ENV, ECHOSCU, STORESCP, child_pids, free_port, run_storescu, terminate, wait_for

import fastscp.log as fslog
from fastscp import logconfig, logproperties
from fastscp.logappenders import DailyRollingFileAppender
from fastscp.loglayout import PatternLayout

@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logconfig.reset()
    fslog.loglog.quiet = False


def _ct_file(tmp_path: Path) -> Path:
    """A small CT image (pydicom's test file, rewritten as a part 10 file)."""
    import pydicom
    from pydicom.data import get_testdata_file
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


class Run:
    """One server (storescp or fastscp) in its own working directory."""

    def __init__(self, kind: str, workdir: Path, options: Sequence[str]) -> None:
        self.kind, self.workdir = kind, workdir
        workdir.mkdir()
        (workdir / "out").mkdir()
        self.port = free_port()
        program = [STORESCP] if kind == "dcmtk" else [sys.executable, "-m", "fastscp"]
        self.proc = subprocess.Popen(program + list(options) + ["-od", "out", str(self.port)],
                                     cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=DCMTK_ENV, text=True)
        # ready when an echo succeeds (the same first association for both)
        assert wait_for(lambda: self.echo() or self.proc.poll() is not None, timeout=30)
        assert self.proc.poll() is None, self.proc.communicate()

    def echo(self, *options: str) -> bool:
        return subprocess.run([ECHOSCU, *options, "127.0.0.1", str(self.port)], env=DCMTK_ENV,
                              capture_output=True).returncode == 0

    def stop(self) -> None:
        # fastscp's worker processes log under their own pids (%i)
        self.pids = [self.proc.pid, *child_pids(self.proc.pid)]
        terminate(self.proc)
        self.stdout, self.stderr = self.proc.communicate()

    def files(self) -> Dict[str, str]:
        return {p.name: p.read_text(errors="surrogateescape") for p in sorted(self.workdir.iterdir())
                if p.is_file()}


def _mask(text: str, run: Run) -> str:
    for pid in getattr(run, "pids", [run.proc.pid]):
        text = re.sub(r"\b%d\b" % pid, "<pid>", text)
    text = text.replace(str(run.port), "<port>")
    text = text.replace(STORESCP, "storescp")
    text = text.replace("storescp", "<prog>").replace("fastscp", "<prog>")
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{3}(\.\d{3})?)?Z?", "<time>", text)
    text = re.sub(r"\b\d\d:\d\d:\d\d\b", "<time>", text)
    text = re.sub(r"\[\d+\]", "[<tid>]", text)
    text = re.sub(r"<r:\d+>", "<r>", text)
    text = re.sub(r"<s:\d+>", "<s>", text)
    return text


def _traffic(run: Run, ct: Path) -> None:
    assert run_storescu(run.port, [ct, ct]).returncode == 0
    assert run.echo()


def _both(tmp_path: Path, config: Optional[str], traffic=_traffic, options: Sequence[str] = (),
          config_path: Optional[str] = None):
    """storescp and fastscp with the same configuration file and traffic."""
    ct = _ct_file(tmp_path)
    if config_path is None:
        cfg = tmp_path / "log.cfg"
        cfg.write_text(config or "")
        config_path = str(cfg)
    runs = []
    for kind in ("dcmtk", "fastscp"):
        run = Run(kind, tmp_path / kind, ["-lc", config_path, *options])
        try:
            traffic(run, ct)
        finally:
            run.stop()
        runs.append(run)
    return runs


def _lines(text: str, run: Run) -> List[str]:
    return _mask(text, run).splitlines()


def _assert_same_output(ref: Run, ours: Run) -> None:
    assert _lines(ours.stdout, ours) == _lines(ref.stdout, ref)
    assert _lines(ours.stderr, ours) == _lines(ref.stderr, ref)


def _renamed(files: Dict[str, str]) -> Dict[str, str]:
    return {name.replace("storescp", "<prog>").replace("fastscp", "<prog>"): text
            for name, text in files.items()}


# ---------------------------------------------------------------------------
# DCMTK's own files, unchanged
# ---------------------------------------------------------------------------

DEBUG_LINE = re.compile(r"^(<time> DEBUG: .*|<time> \s*(TRACE|DEBUG) - .*)$")


def test_dcmtk_logger_cfg_unchanged(tmp_path):
    """logger.cfg: console (stdout: the property is logToStderr, which log4cplus
    does not know) at INFO with a time; file ${appname}.log with everything
    from DEBUG on; the progress dots (progress logger at INFO) on stdout."""
    ref, ours = _both(tmp_path, None, config_path="/etc/dcmtk/logger.cfg")
    _assert_same_output(ref, ours)
    assert "RECV: " in ours.stdout and "I: " not in ours.stdout
    ref_log = _lines(ref.files()["storescp.log"], ref)
    our_log = _lines(ours.files()["fastscp.log"], ours)
    # storescp's debug output (PDU dumps) is its own; the rest is the same
    assert [x for x in our_log if " DEBUG: " not in x] == [x for x in ref_log if " DEBUG: " not in x]
    assert all(re.match(r"^<time>  ?[A-Z]{4,5}: ", x) for x in our_log)
    assert "<time> DEBUG: Message Type                  : C-STORE RQ" in our_log
    assert "<time> DEBUG: Message Type                  : C-STORE RQ" in ref_log


def test_dcmtk_filelog_cfg_unchanged(tmp_path):
    """filelog.cfg: console on stderr for errors only; a rolling file with
    the logger name (%-8c{1})."""
    ref, ours = _both(tmp_path, None, config_path="/etc/dcmtk/filelog.cfg")
    _assert_same_output(ref, ours)
    assert ours.stdout == "" and ours.stderr == ""
    ref_log = _lines(ref.files()["storescp.log"], ref)
    our_log = _lines(ours.files()["fastscp.log"], ours)
    assert [x for x in our_log if "DEBUG -" not in x] == [x for x in ref_log if "DEBUG -" not in x]
    assert "<time>  INFO - <prog> - Association Received" in our_log
    assert any(x.startswith("<time> DEBUG - dcmnet   - Association Received: ") for x in our_log)


# ---------------------------------------------------------------------------
# hand-written files
# ---------------------------------------------------------------------------

LEVELS_CFG = """
# levels per logger, additivity, thresholds, INHERITED
log4cplus.rootLogger = INFO, rootfile
log4cplus.logger.dcmtk.apps.storescp = INHERITED, appfile, warnfile
log4cplus.additivity.dcmtk.apps.storescp = false
log4cplus.logger.dcmtk.dcmnet = OFF
log4cplus.logger.dcmtk.dcmdata = off
log4cplus.appender.rootfile = log4cplus::FileAppender
log4cplus.appender.rootfile.File = root-${appname}.log
log4cplus.appender.rootfile.layout = log4cplus::SimpleLayout
log4cplus.appender.appfile = log4cplus::FileAppender
log4cplus.appender.appfile.File = app.log
log4cplus.appender.appfile.Append = true
log4cplus.appender.appfile.layout = log4cplus::PatternLayout
log4cplus.appender.appfile.layout.ConversionPattern = %-5p|%c|%m%n
log4cplus.appender.warnfile = log4cplus::FileAppender
log4cplus.appender.warnfile.File = warn.log
log4cplus.appender.warnfile.Threshold = warn
log4cplus.appender.warnfile.layout = log4cplus::TTCCLayout
log4cplus.appender.warnfile.layout.DateFormat = %Y-%m-%d %H:%M:%S.%q
"""


def test_levels_additivity_thresholds(tmp_path):
    ref, ours = _both(tmp_path, LEVELS_CFG, options=["--arguments"])
    _assert_same_output(ref, ours)
    ref_files, our_files = _renamed(ref.files()), _renamed(ours.files())
    assert sorted(our_files) == sorted(ref_files) == ["app.log", "root-<prog>.log", "warn.log"]
    for name in ref_files:
        ref_lines = _mask(ref_files[name], ref).splitlines()
        our_lines = _mask(our_files[name], ours).splitlines()
        if name.startswith("root"):
            # --arguments names the program and its own -lc path
            ref_lines = [re.sub(r"'[^']*log\.cfg'", "'log.cfg'", x) for x in ref_lines]
            our_lines = [re.sub(r"'[^']*log\.cfg'", "'log.cfg'", x) for x in our_lines]
        assert our_lines == ref_lines, name
    assert "WARN |dcmtk.apps.<prog>|DICOM file already exists, overwriting: " in _mask(
        our_files["app.log"], ours)
    assert our_files["warn.log"].count("\n") == 1          # only the warning
    assert "RECV: " in ours.stdout                          # the progress logger inherits INFO


PATTERN_CFG = """
log4cplus.rootLogger = INFO, out
log4cplus.logger.dcmtk.apps.storescp.progress = WARN
log4cplus.appender.out = log4cplus::ConsoleAppender
log4cplus.appender.out.ImmediateFlush = true
log4cplus.appender.out.layout = log4cplus::PatternLayout
log4cplus.appender.out.layout.ConversionPattern = %p|%5p|%-6p|%.2p|%P|%c|%c{1}|%c{2}|%i|%h|[%t]|%-12.8m|%%|%D{%Y-%m-%d %H:%M:%S.%q}|%d{%H:%M:%S}|<s:%d{%s}>|<r:%r>|%x|%X{k}|%z|%.x|%n
"""


def test_pattern_specifiers(tmp_path):
    """Every pattern specifier DCMTK's log4cplus knows that does not depend
    on source locations, with widths and precision (a text longer than the
    precision keeps its end, unpadded); an unknown specifier
    (%z) and a bad precision (%.x) are reported and kept as text."""
    ref, ours = _both(tmp_path, PATTERN_CFG)
    _assert_same_output(ref, ours)
    assert "|[<tid>]|Received|%|<time>|<time>|<s>|<r>|||%z|%.x|" in _mask(ours.stdout, ours)
    assert "log4cplus:ERROR Unexpected char [z]" in ours.stderr
    # no progress dots: the progress logger is not at INFO
    assert "RECV" not in ours.stdout


FILTER_CFG = """
log4cplus.rootLogger = INFO, out
log4cplus.appender.out = log4cplus::ConsoleAppender
log4cplus.appender.out.logToStdErr = true
log4cplus.appender.out.ImmediateFlush = 1
log4cplus.appender.out.layout = log4cplus::PatternLayout
log4cplus.appender.out.layout.ConversionPattern = %P: %m%n
log4cplus.appender.out.filters.1 = log4cplus::spi::StringMatchFilter
log4cplus.appender.out.filters.1.StringToMatch = Echo
log4cplus.appender.out.filters.1.AcceptOnMatch = true
log4cplus.appender.out.filters.2 = log4cplus::spi::LogLevelMatchFilter
log4cplus.appender.out.filters.2.LogLevelToMatch = WARN
log4cplus.appender.out.filters.2.AcceptOnMatch = false
log4cplus.appender.out.filters.3 = log4cplus::spi::LogLevelRangeFilter
log4cplus.appender.out.filters.3.LogLevelMin = INFO
log4cplus.appender.out.filters.3.LogLevelMax = ERROR
log4cplus.appender.out.filters.3.AcceptOnMatch = false
log4cplus.appender.out.filters.4 = log4cplus::spi::StringMatchFilter
log4cplus.appender.out.filters.4.StringToMatch = Release
log4cplus.appender.out.filters.5 = log4cplus::spi::DenyAllFilter
log4cplus.appender.null = log4cplus::NullAppender
log4cplus.logger.dcmtk.dcmnet = DEBUG, null
"""


def test_filters_and_null_appender(tmp_path):
    ref, ours = _both(tmp_path, FILTER_CFG)
    _assert_same_output(ref, ours)
    # accepted: the echo lines; denied: the warning, then every line but
    # those with "Release" (neutral) by DenyAll
    assert _lines(ours.stderr, ours) == ["I: Received Echo Request (MsgID 1)",
                                         "I: Received Echo Request (MsgID 1)"]


ROLLING_CFG = """
log4cplus.rootLogger = INFO, roll
log4cplus.appender.roll = log4cplus::RollingFileAppender
log4cplus.appender.roll.File = roll.log
log4cplus.appender.roll.MaxFileSize = 100KB
log4cplus.appender.roll.MaxBackupIndex = 2
log4cplus.appender.roll.layout = log4cplus::PatternLayout
log4cplus.appender.roll.layout.ConversionPattern = %-3000m%n
"""


def _many_echoes(run: Run, ct: Path) -> None:
    assert run.echo("--repeat", "300")


def test_rolling_file_by_size(tmp_path):
    """MaxFileSize below log4cplus' minimum counts as 200KB; 300 lines of
    3001 bytes roll over 4 times, and only 2 backups are kept."""
    ref, ours = _both(tmp_path, ROLLING_CFG, traffic=_many_echoes)
    ref_files, our_files = ref.files(), ours.files()
    assert sorted(our_files) == sorted(ref_files) == ["roll.log", "roll.log.1", "roll.log.2"]
    for name in ref_files:
        assert _mask(our_files[name], ours) == _mask(ref_files[name], ref), name
        size = (ours.workdir / name).stat().st_size
        assert size <= 200 * 1024 + 3001
    assert (ours.workdir / "roll.log.1").stat().st_size > 200 * 1024


DAILY_CFG = """
log4cplus.rootLogger = INFO, daily
log4cplus.appender.daily = log4cplus::DailyRollingFileAppender
log4cplus.appender.daily.File = daily.log
log4cplus.appender.daily.Schedule = MINUTELY
log4cplus.appender.daily.layout = log4cplus::SimpleLayout
"""


def test_daily_rolling_file_rolls_over_when_closed(tmp_path):
    """Both exit normally (an invalid -pdu after logging is set up): the
    appender is closed, which renames daily.log to daily.log.<minute>."""
    cfg = tmp_path / "log.cfg"
    cfg.write_text(DAILY_CFG)
    names = []
    for argv in ([STORESCP], [sys.executable, "-m", "fastscp"]):
        work = tmp_path / ("w%d" % len(names))
        work.mkdir()
        before = time.strftime("%Y-%m-%d-%H-%M")
        p = subprocess.run(argv + ["-lc", str(cfg), "-pdu", "1", "104"], cwd=work, capture_output=True,
                           text=True, timeout=60)
        after = time.strftime("%Y-%m-%d-%H-%M")
        assert p.returncode == 1 and "Invalid value for option --max-pdu" in p.stderr
        got = sorted(x.name for x in work.iterdir())
        assert got in (["daily.log", "daily.log." + before], ["daily.log", "daily.log." + after])
        names.append(len(got))
    assert names[0] == names[1]


def test_daily_rolling_schedule(tmp_path, monkeypatch):
    """When a record is past the period, the file becomes FILE.<period>,
    an earlier one FILE.<period>.1 ...; MaxBackupIndex bounds them."""
    now = [time.mktime((2026, 12, 2, 10, 30, 15, 0, 0, -1))]
    monkeypatch.setattr(DailyRollingFileAppender, "now", staticmethod(lambda: now[0]))
    path = tmp_path / "d.log"
    app = DailyRollingFileAppender(str(path), schedule="HOURLY", max_backups=1)
    app.setFormatter(PatternLayout("%m%n"))

    def emit(message: str, at: float) -> None:
        record = logging.LogRecord("fastscp.x", logging.INFO, __file__, 1, message, (), None)
        record.created = at
        now[0] = at
        app.handle(record)
    emit("a", now[0])
    emit("b", time.mktime((2026, 12, 2, 11, 0, 1, 0, 0, -1)))
    assert (tmp_path / "d.log.2026-12-02-10").read_text() == "a\n"
    assert path.read_text() == "b\n"
    emit("c", time.mktime((2026, 12, 2, 12, 5, 0, 0, 0, -1)))
    # the second period counts from the rollover (log4cplus), 11:00:01
    assert (tmp_path / "d.log.2026-12-02-11").read_text() == "b\n"
    app.close()
    assert (tmp_path / "d.log.2026-12-02-12").read_text() == "c\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "d.log", "d.log.2026-12-02-10", "d.log.2026-12-02-11", "d.log.2026-12-02-12"]
    assert path.read_text() == ""


SYSLOG_CFG = """
log4cplus.rootLogger = INFO, sys
log4cplus.appender.sys = log4cplus::SysLogAppender
log4cplus.appender.sys.host = 127.0.0.1
log4cplus.appender.sys.port = {port}
log4cplus.appender.sys.ident = pacs
log4cplus.appender.sys.facility = LOCAL3
log4cplus.appender.sys.layout = log4cplus::PatternLayout
log4cplus.appender.sys.layout.ConversionPattern = %p %m
"""


def test_syslog_remote_udp(tmp_path):
    """SysLogAppender with host and port: RFC 5424 datagrams over UDP, to a
    listener of the test."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.2)
    received: Dict[str, List[str]] = {}

    def drain(run: Run) -> List[str]:
        out = []
        while True:
            try:
                out.append(listener.recv(65536).decode())
            except socket.timeout:
                return out

    def traffic(run: Run, ct: Path) -> None:
        _traffic(run, ct)
        # 4 lines per echo (two), 8 for storescu
        assert wait_for(lambda: received.setdefault(run.kind, []).extend(drain(run)) or
                        len(received[run.kind]) >= 16, timeout=10)
    try:
        ref, ours = _both(tmp_path, SYSLOG_CFG.format(port=listener.getsockname()[1]), traffic=traffic)
    finally:
        listener.close()
    ref_lines = [_mask(x, ref) for x in received["dcmtk"]]
    our_lines = [_mask(x, ours) for x in received["fastscp"]]
    assert our_lines == ref_lines
    assert our_lines[0].startswith("<158>1 <time> ")       # local3 (19 << 3) | info (6)
    assert " pacs <pid> dcmtk.apps.<prog> - INFO Association Received" in our_lines[0]


def test_syslog_local(tmp_path):
    """SysLogAppender without host: syslog(3), observed on a /dev/log socket
    of the test (only where no syslog daemon has one)."""
    if os.path.exists("/dev/log") or not os.access("/dev", os.W_OK):
        pytest.skip("/dev/log belongs to a syslog daemon here")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/dev/log")
    sock.settimeout(0.2)
    try:
        cfg = SYSLOG_CFG.format(port=0).replace("log4cplus.appender.sys.host = 127.0.0.1\n", "")
        cfg = cfg.replace("log4cplus.appender.sys.port = 0\n", "")
        got: Dict[str, List[str]] = {}

        def traffic(run: Run, ct: Path) -> None:
            assert run.echo()

            def more() -> bool:
                try:
                    got.setdefault(run.kind, []).append(sock.recv(65536).decode())
                except socket.timeout:
                    pass
                return len(got.get(run.kind, [])) >= 8
            assert wait_for(more, timeout=10)
        ref, ours = _both(tmp_path, cfg, traffic=traffic)
    finally:
        sock.close()
        os.unlink("/dev/log")
    strip = [re.sub(r"^<(\d+)>\w{3} [ \d]\d <time> pacs: ", r"<\1>", _mask(x, r))
             for r, msgs in ((ref, got["dcmtk"]), (ours, got["fastscp"])) for x in msgs]
    half = len(got["dcmtk"])
    assert strip[half:] == strip[:half]
    assert strip[0] == "<158>INFO Association Received"


# ---------------------------------------------------------------------------
# messages and the library
# ---------------------------------------------------------------------------

def test_problems_in_the_file_are_reported_and_the_rest_applies(tmp_path):
    cfg = """log4cplus.rootLogger = INFO, out, nosuch
log4cplus.appender.out = log4cplus::ConsoleAppender
log4cplus.appender.out.ImmediateFlush = true
log4cplus.appender.out.layout = log4cplus::PatternLayout
log4cplus.appender.out.layout.ConversionPattern = ${NOT_SET_ANYWHERE}%P %m%n
log4cplus.appender.bad = log4cplus::NoSuchAppender
log4cplus.appender.f = log4cplus::FileAppender
log4cplus.appender.f.File = /nonexistent/dir/x.log
log4cplus.logger.dcmtk.dcmnet = INFO, f
"""
    ref, ours = _both(tmp_path, cfg)
    _assert_same_output(ref, ours)
    assert "${NOT_SET_ANYWHERE}I Association Received" in ours.stdout
    assert "log4cplus:ERROR Unable to open file: /nonexistent/dir/x.log" in ours.stderr


def test_properties_syntax():
    props = logproperties.parse("  # comment\nlog4cplus.a = 1 \r\n\tkey with space =  v = w \n"
                                "novalue\n#x=y\nlog4cplus.a=2\n=empty\n")
    assert props.data == {"log4cplus.a": "2", "key with space": "v = w", "": "empty"}
    assert props.subset("log4cplus.").data == {"a": "2"}


def test_variables(monkeypatch, capsys):
    monkeypatch.setenv("LOGDIR", "/var/log/${appname}")
    props = logproperties.parse("log4cplus.x = ${LOGDIR}/${a}.${unknown}\n"
                                "a = ${log4cplus.y}\nlog4cplus.y = why\nself = ${self}\n"
                                "${a}.key = k\nopen = ${a}${\n")
    out = logproperties.substitute(props, {"appname": "fastscp"})
    assert out.get("log4cplus.x") == "/var/log/fastscp/why.${unknown}"
    assert out.get("self") == "${self}"             # log4cplus would loop for ever
    assert out.get("why.key") == "k"
    # no closing brace: reported, the value stays as written (log4cplus)
    assert out.get("open") == "${a}${"
    assert "has no closing brace" in capsys.readouterr().err


def test_library_configure_logging(tmp_path, make_server):
    """configure_logging() before a Server: the library's way (also inetd's)."""
    cfg = tmp_path / "lib.cfg"
    log = tmp_path / "lib.log"
    cfg.write_text("log4cplus.rootLogger = WARN, f\n"
                   "log4cplus.logger.dcmtk.apps.storescp = INFO\n"
                   "log4cplus.appender.f = log4cplus::FileAppender\n"
                   "log4cplus.appender.f.File = %s\n" % log)
    logconfig.configure_logging(str(cfg))
    srv = make_server()
    assert subprocess.run([ECHOSCU, "127.0.0.1", str(srv.port)], capture_output=True).returncode == 0
    assert wait_for(lambda: "INFO - Association Release\n" in log.read_text())
    assert log.read_text().startswith("INFO - Association Received\n")
    # configuring again replaces everything (no second copy of each line)
    logconfig.configure_logging(str(cfg))
    size = len(log.read_text())
    assert size == 0                                    # Append defaults to false
    with pytest.raises(logconfig.LogConfigError, match="does not exist"):
        logconfig.configure_logging(str(tmp_path / "missing.cfg"))


def test_pattern_source_location_and_lines():
    """%F %b %L %l %M name where the message was logged (DCMTK: its C++
    source; fastscp: the Python source); FormatEachLine=false keeps a
    multi-line message in one piece."""
    record = logging.LogRecord("fastscp.dcmtk.dcmnet", logging.WARNING, "/src/fastscp/x.py", 42,
                               "one\ntwo", (), None, func="receive")
    each = PatternLayout("%b:%L %M %F|%l|%-7c{1}|%.3P%m%n")
    assert each.format(record) == ("x.py:42 receive /src/fastscp/x.py|/src/fastscp/x.py:42|dcmnet |Wone\n"
                                   "x.py:42 receive /src/fastscp/x.py|/src/fastscp/x.py:42|dcmnet |Wtwo\n")
    assert PatternLayout("%p: %m%n", format_each_line=False).format(record) == "WARN: one\ntwo\n"
    # an empty pattern is the message alone (each line: no newline left)
    assert PatternLayout("").format(record) == "onetwo"
    assert PatternLayout("%d{}|%D{%%q}|100%").format(record).endswith("|%q|100%")
