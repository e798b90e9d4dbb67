"""The fastscp command line against Debian's real storescp (/usr/bin/storescp).

For each argument vector both programs are run and must agree on the exit
code and on what they print (apart from program name and version).  Vectors
that storescp accepts make it listen; those are run on a free port and the
process is killed once it listens (or fails), with a deadline.

Note: plain ``storescp`` on PATH may be pynetdicom's; always use the path.
"""
from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

STORESCP = "/usr/bin/storescp"


import fastscp.cli as cli  # noqa: E402
import fastscp.log as fslog  # noqa: E402
import fastscp.logconfig as logconfig  # noqa: E402
import fastscp.options as options  # noqa: E402
import fastscp.tls_suites as tls_suites  # noqa: E402

have_storescp = os.access(STORESCP, os.X_OK)
needs_storescp = pytest.mark.skipif(not have_storescp, reason="needs DCMTK's /usr/bin/storescp")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

class _NoServer:
    """Stands in for fastscp.server.Server: a test must never start serving."""

    def __init__(self, config):
        raise AssertionError("fastscp would start serving for this command line")


@pytest.fixture(autouse=True)
def _no_server(monkeypatch):
    mod = types.ModuleType("fastscp.server")
    mod.Server = _NoServer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastscp.server", mod)


@pytest.fixture(autouse=True)
def _restore_logger():
    """setup_logging() changes the shared "fastscp" logger: undo it so that
    other test modules (caplog) see the default state."""
    logger = logging.getLogger("fastscp")
    state = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logconfig.reset()           # -lc configures loggers below it too
    logger.handlers[:] = state[0]
    logger.setLevel(state[1])
    logger.propagate = state[2]


def run_ours(argv: Sequence[str]) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def run_storescp(argv: Sequence[str], cwd: Optional[Path] = None, timeout: float = 20) -> Tuple[int, str, str]:
    """Run storescp for a vector it refuses (it exits on its own)."""
    p = subprocess.run([STORESCP, *argv], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, errors="replace")
    return p.returncode, p.stdout, p.stderr


from conftest import free_port  # noqa: E402


def _listening(port: int) -> bool:
    try:
        with open("/proc/net/tcp") as fh:
            lines = fh.readlines()[1:]
    except OSError:
        lines = None
    if lines is not None:
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return True
        return False
    with socket.socket() as s:  # no /proc: try to connect
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def storescp_accepts(argv: Sequence[str], port: int, cwd: Optional[Path] = None,
                     deadline: float = 15.0) -> Tuple[bool, str]:
    """Start storescp; True once it listens on ``port`` (then killed), False
    if it exits first.  Returns (listening, stderr)."""
    proc = subprocess.Popen([STORESCP, *argv], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if proc.poll() is not None:
                return False, proc.stderr.read()  # type: ignore[union-attr]
            if _listening(port):
                return True, ""
            time.sleep(0.01)
        raise AssertionError("storescp %r neither listened nor exited" % (argv,))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()  # type: ignore[union-attr]


def normalise(text: str, ours: bool) -> List[str]:
    """Output lines without the version header and debug lines, with the
    program name made neutral."""
    out = []
    for line in text.splitlines():
        if line.startswith("$dcmtk: ") or line.startswith("$fastscp: "):
            continue
        if line.startswith("D: "):
            continue
        line = line.replace("'/usr/bin/storescp'", "'PROG'").replace("'fastscp'", "'PROG'")
        line = line.replace("storescp: ", "PROG: ").replace("fastscp: ", "PROG: ")
        out.append(line)
    return out


def assert_same(argv: Sequence[str], cwd: Optional[Path] = None) -> Tuple[int, str, str]:
    """Both programs refuse ``argv`` identically; returns our result."""
    rc_s, out_s, err_s = run_storescp(argv, cwd=cwd)
    if cwd is not None:
        old = os.getcwd()
        os.chdir(cwd)
    try:
        rc_o, out_o, err_o = run_ours(argv)
    finally:
        if cwd is not None:
            os.chdir(old)
    assert rc_s == 1, "storescp accepted %r: %s" % (argv, err_s)
    assert (rc_o, normalise(out_o, True), normalise(err_o, True)) == \
        (rc_s, normalise(out_s, False), normalise(err_s, False)), argv
    return rc_o, out_o, err_o


def error_line(text: str) -> Optional[str]:
    for line in text.splitlines():
        if line.startswith("error: "):
            return line
    return None


# ---------------------------------------------------------------------------
# argument vectors refused by both
# ---------------------------------------------------------------------------

P = "11112"  # never reached: every vector below fails before listening

NOTATION = [
    ["--foo", P], ["-h", "--foo"], ["1", "2", "--foo"], ["--foo", "1", "2"], ["---x"],
    ["--"], ["--", P], ["-.5"], ["+ 5"], ["+-5"], ["--aetitle=x", P], ["-H"], ["-aet"],
    ["-aet", "x", "-aet"], ["1", "2", "-aet"], ["-h", "-aet"], ["--version", "-aet"],
    ["-xf", "a"], ["-xf"], ["+tls", "a"], ["+p", "1"], ["1", "2"], ["1", "2", "3"],
    [P, "-v", "11113"], ["-v"], ["--arguments"], ["-aet", "x"], ["+p", "1", P],
    ["-aet", "-v"], ["-od"], ["-d", "-od"],
]

PORTS = ["0", "-0", "+0", "-5", "-65535", "65536", "70000", "abc", "", " ", "0x10",
         "0abc", "99999999999999999999", "18446744073709551615", "4294967297", "-", "+",
         "@", "x@f"]

LOGGING = [
    ["-v", "-ll", "info", P], ["-ll", "foo", "-v", P], ["-ll", "foo", P], ["-ll", "", P],
    ["-ll", "warning", P], ["-ll", " info", P], ["-ll", "notset", P], ["-ll", "0", P],
    ["-v", "-ll", "info", "0"], ["-q", "-ll", "info", P], ["-ll", "debug", "-d", P],
    ["-lc", "/nonexist", P], ["-lc", "/nonexist", "-v", P], ["-lc", "/nonexist", "-ll", "info", P],
    ["-lc", "/nonexist", "-ll", "foo", P], ["-lc", "/tmp", P],
]

MAX_PDU = ["x", "-1", "-2", "0", "1", "100", "4095", "131073", " 7", "+7", "-0", "+-1",
           "", " ", "5-", " -5", "- 5", "99999999999999999999", "18446744073709551615",
           "-99999999999999999999", "0x2000"]

QUIET = [
    ["-ll", "fatal", "-pdu", "1", P], ["-ll", "off", "-pdu", "1", P], ["-q", "-pdu", "1", P],
    ["-v", "-q", "-pdu", "1", P], ["-q", "-v", "-pdu", "1", P], ["-q", "-d", "-pdu", "1", P],
    ["-d", "-v", "-q", "-pdu", "1", P], ["-ll", "ERROR", "-pdu", "1", P],
    ["-ll", "Warn", "-pdu", "1", P], ["-ll", "trace", "-pdu", "1", P], ["-ll", "all", "-pdu", "1", P],
    ["-pdu", "8192", "-pdu", "1", P], ["-d", "-pdu", "1", P],
]

INTEGERS = [
    ["-ts", "x", P], ["-ts", "-2", P], ["-ts", "", P], ["-ts", " ", P], ["-ts", "+-1", P],
    ["-ts", "-99999999999999999999", P], ["-ts", " -5", P], ["-ts", "- 5", P],
    ["-ta", "0", P], ["-ta", "-0", P], ["-ta", "-1", P], ["-ta", "x", P], ["-td", "0", P],
    ["-td", "-9223372036854775809", P],
    ["--sleep-after", "-1", P], ["--sleep-after", " -5", P], ["--sleep-after", "x", P],
    ["--sleep-after", "", P], ["--sleep-during", "-1", P], ["--sleep-during", "-0", P],
    ["+cl", "10", P], ["+cl", "-1", P], ["+cl", "x", P], ["+cl", "8192.5", P],
    ["+p", "x", "1", P], ["+p", "1", "x", P], ["+p", "-1", "1", P],
    ["-ss", "x", "-tos", "-1", P], ["-ss", "x", "-tos", "x", P],
    ["-ss", "x", "-tos", "-99999999999999999999", P],
]

ORDER = [
    ["-pdu", "1", "-ts", "x", P], ["-ts", "x", "-pdu", "100", P], ["-ts", "-2", "-ta", "0", P],
    ["-td", "0", "-ta", "0", P], ["-pdu", "1", "-ta", "0", P], ["--sleep-after", "-1", "-pdu", "1", P],
    ["--sleep-during", "-1", "--sleep-after", "-1", P], ["+v", P], ["+v", "-ts", "-2", P],
    ["+v", "-v", "-pdu", "1", P], ["-pem", "+v", P], ["-xf", "a", "b", "+xe", "-ts", "-5", P],
    ["-od", "/nonexist", "-od", "/tmp", "-pdu", "1", P], ["-od", "/nonexist", "-pdu", "1", P],
]

COMBINATIONS = [
    ["-xf", "a", "b", "+xe", P], ["+xe", "-xf", "a", "b", P], ["-xf", "a", "b", "+xi", P],
    ["-xf", "a", "b", "+xa", P], ["-xf", "a", "b", "-pm", P], ["-xf", "a", "b", "-pm", "+xi", "+xa", P],
    ["-xf", "a", "b", "+xa", "+xi", P], ["-xf", "a", "b", "+xe", "+te", "+xs", P],
    ["-xf", "a", "b", "+xd", P],
    ["+te", "+xs", P], ["+te", "+xa", P], ["+B", "+te", P], ["+B", "+xs", "+te", P],
    ["+B", "+xa", "+te", P], ["+xs", "+B", "+te", P], ["+tb", "+xr", P], ["+ti", "+x5", P],
    ["+td", "+xm", P],
    ["+B", "-u", P], ["+B", "+u", P], ["+B", "+g=", P], ["+B", "+g", P], ["+B", "-g", P],
    ["+B", "+e", P], ["+B", "-e", P], ["+B", "+p", "1", "1", P], ["-F", "+p", "1", "1", P],
    ["+B", "-F", "+p", "1", "1", P], ["+p", "x", "1", "-F", P], ["+B", "+p", "x", "1", P],
    ["+B", "-ss", "x", P], ["+B", "-su", "x", P], ["+B", "-sp", P], ["-sp", "+B", P],
    ["+B", "-su", "x", "-sp", P], ["+B", "-sp", "-su", "x", P], ["-ss", "a", "-su", "b", "-sp", "+B", P],
    ["+B", "-u", "-g", "-e", "-F", "+p", "1", "1", "-ss", "x", P],
    ["+te", "+cl", "5", P], ["+te", "+cl", "10", P], ["+td", "+cl", "10", P],
    ["-tn", "+uf", P], ["+uf", "-tn", P],
    ["--fork", "-xcs", "x", P], ["-xcs", "x", P], ["-rns", P], ["-rns", "-xcs", "x", P],
    ["--fork", "-rns", "-ss", "x", P], ["-tos", "5", P], ["-tos", "-1", P],
    ["-tos", "1", "-pem", P], ["-ss", "x", "-tos", "-1", "-pem", P], ["-ss", "x", "-tos", "-1", "+B", "-u", P],
    ["-pem", "+B", "-u", P], ["-pem", "-tn", "+uf", P], ["-pem", "-xf", "a", "b", "+xe", P],
    ["-pem", "-ts", "-2", P], ["--fork", "-pem", P],
]

TLS = [
    ["+ps", P], ["+pw", "x", P], ["-pw", P], ["-pem", P], ["-der", P], ["+cf", "x", P],
    ["+cd", "x", P], ["+crl", "x", P], ["+crv", P], ["+cra", P], ["+py", P], ["+px", P],
    ["+pz", P], ["+pa", P], ["+pn", P], ["+cs", "x", P], ["+dp", "x", P], ["+rs", "x", P],
    ["+ws", P], ["+wf", "x", P], ["-rc", P], ["-vc", P], ["-ic", P],
    ["-ic", "+ps", P], ["+ps", "-ic", P], ["+rs", "x", "-pem", P], ["-der", "-pem", P],
    ["-pem", "-der", P], ["+pw", "x", "-pw", P], ["+tls", "a", "b", "-tls", "-pem", P],
    ["+crv", "+cra", P],
    ["+tls", "a", "b", "+pz", "+cs", "x", P], ["+tls", "a", "b", "+ws", P],
    ["+tls", "a", "b", "+wf", "x", P],
]

OUTPUT_DIR = [
    ["-od", "/nonexist", P], ["-od", "/etc/passwd", P], ["-q", "-od", "/nonexist", P],
    ["-od", "/tmp", "-od", "/nonexist", P], ["-od", "", "-od", "/nonexist", P],
]


def _ids(vectors):
    return [" ".join(repr(a) if (not a or " " in a) else a for a in v) or "<none>" for v in vectors]


ALL_REFUSED = (NOTATION + [[p] for p in PORTS] + LOGGING + [["-pdu", v, P] for v in MAX_PDU]
               + QUIET + INTEGERS + ORDER + COMBINATIONS + TLS + OUTPUT_DIR)


@needs_storescp
@pytest.mark.parametrize("argv", ALL_REFUSED, ids=_ids(ALL_REFUSED))
def test_refused_like_storescp(argv, tmp_path):
    assert_same(argv, cwd=tmp_path)


@needs_storescp
def test_log_config_file_checks(tmp_path):
    cases = {
        "empty.cfg": "",
        "comment.cfg": "# only a comment\n\n   # x=y\n",
        "noeq.cfg": "foo\n",
        "invalid.cfg": " a = b\n!x=y\n",
        "noroot.cfg": "log4cplus.foo=bar\n",
        "dot.cfg": "log4cplus.=b\n",
        "space.cfg": "log4cplus =b\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert_same(["-lc", name, "-pdu", "1", P], cwd=tmp_path)


# ---------------------------------------------------------------------------
# command files
# ---------------------------------------------------------------------------

COMMAND_FILES = {
    "f1": '-aet "MY AE"\n --arguments\t' + P,
    "f2": "@f1",                               # nested: a literal word
    "f3": "",
    "f4": '-aet a"b c"d ' + P,                   # quote ends the word
    "f5": '-aet "unterminated ' + P,
    "f6": '-aet ""  ' + P,                       # empty word
    "f7": '-aet \\"x ' + P,
    "f8": "-od",
    "f9": "-aet 'a b' " + P,                    # single quotes group too
    "f10": '-aet "a b"c ' + P,
    "f11": '-aet x"" ' + P,
    "g1": "-aet \"it's\" " + P,
    "g2": P + ' "abc',
    "g3": P + ' ""',
    "g4": '-aet "a""b" ' + P,
    "g7": '-aet\n\n\r\n"q"\v' + P,               # \v is not a separator
    "h1": "-aet\fX\r" + P,                       # \f is not a separator
}

COMMAND_FILE_VECTORS = [
    ["@nonexist"], ["--foo", "@nonexist"], ["@f2"], ["@f3", "-v"], ["@f4"], ["@f5"], ["@f7"],
    ["@f10"], ["@g2"], ["@g3"], ["@g4"], ["@h1"], ["@f1", "@f1"], ["-aet", "@f1", P],
    ["--arguments", "@f1", "-pdu", "1"], ["--arguments", "@f6", "-pdu", "1"],
    ["--arguments", "@f8", "/tmp", P, "-pdu", "1"], ["--arguments", "@f9", "-pdu", "1"],
    ["--arguments", "@f11", "-pdu", "1"], ["--arguments", "@g1", "-pdu", "1"],
    ["--arguments", "@g7", "-pdu", "1"], ["@f1", "@f2"],
]


@needs_storescp
@pytest.mark.parametrize("argv", COMMAND_FILE_VECTORS, ids=_ids(COMMAND_FILE_VECTORS))
def test_command_files_like_storescp(argv, tmp_path):
    for name, text in COMMAND_FILES.items():
        (tmp_path / name).write_bytes(text.encode())
    assert_same(argv, cwd=tmp_path)


@needs_storescp
def test_empty_command_file_is_no_arguments(tmp_path):
    """Only empty command files: like no arguments at all (usage, exit 0)."""
    (tmp_path / "empty").write_text("")
    (tmp_path / "blank").write_text(" \n\t\n")
    rc_s, out_s, err_s = run_storescp(["@empty", "@blank"], cwd=tmp_path)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        rc_o, out_o, err_o = run_ours(["@empty", "@blank"])
    finally:
        os.chdir(old)
    assert rc_s == rc_o == 0 and err_s == err_o == ""
    assert "usage: storescp" in out_s and "usage: fastscp" in out_o


def test_split_command_file():
    split = options.split_command_file
    assert split('-aet "MY AE"\n x\t y') == ["-aet", "MY AE", "x", "y"]
    assert split('a"b c"d') == ["ab c", "d"]
    assert split('""') == [""]
    assert split('"open to the end') == ["open to the end"]
    assert split("'it\"s'") == ['it"s']
    assert split("a\vb\fc") == ["a\vb\fc"]


# ---------------------------------------------------------------------------
# --arguments
# ---------------------------------------------------------------------------

ARGUMENTS = [
    ["--arguments", "-pdu", "1", P],
    ["--arguments", "-aet", "", "-v", "-pdu", "1", P],
    ["--arguments", "-q", "-pdu", "1", P],
    ["-ll", "off", "--arguments", "-pdu", "1", P],
    ["--arguments", "-aet", "-v", "-v", P, "-pdu", "1"],
    ["--arguments", "-v", "-ll", "info", P],
    ["--arguments", "1", "2"],
    ["--arguments", "+x=", "-ac", "-tls", "-B", "+F", "+t=", "+u", "+g=", "+e", "-p", "-uc",
     "-uf", "--single-process", "-od", ".", "-ts", "x", P],
]


@needs_storescp
@pytest.mark.parametrize("argv", ARGUMENTS, ids=_ids(ARGUMENTS))
def test_arguments_like_storescp(argv, tmp_path):
    assert_same(argv, cwd=tmp_path)


def test_arguments_format():
    rc, out, err = run_ours(["--arguments", "-aet", "X", "-pdu", "1", P])
    assert rc == 1
    lines = err.splitlines()
    assert lines[0] == ("I: calling 'fastscp' with 6 arguments: "
                        "'--arguments' '--aetitle' 'X' '--max-pdu' '1' '11112' ")
    assert lines[1] == "I: "


# ---------------------------------------------------------------------------
# help, version, exclusive options
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [[], ["-h"], ["--help"], ["-h", "1", "2"], ["-h", "-pdu", "1"],
                                  ["--version", "-h"], ["-h", "--version"], ["-aet", "x", "-h"],
                                  ["+cc", "-h"], ["-h", "-ll", "foo", "-v", "0"]])
def test_help(argv):
    rc, out, err = run_ours(argv)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("$fastscp: fastscp v")
    assert lines[2] == "fastscp: DICOM storage (C-STORE) SCP"
    assert "usage: fastscp [options] [port]" in lines   # as storescp: no port with --inetd
    for opt in options.OPTIONS:
        pattern = r"^[* ] *" + (re.escape(opt.short) + " +" if opt.short else "") \
            + re.escape(opt.long) + "( |$)"
        row = [line for line in lines if re.match(pattern, line)]
        # as storescp, +pb exists only where OpenSSL has 3DES
        assert len(row) == (1 if opt.available else 0), opt.long
        if not row:
            continue
        assert row[0].startswith("*") == (not opt.built), opt.long
    for title, _subs in options.SECTIONS:
        assert title + ":" in lines


@needs_storescp
@pytest.mark.parametrize("argv", [[], ["-h"], ["-h", "1", "2"], ["-h", "-pdu", "1", "0"]])
def test_help_like_storescp(argv):
    rc_s, out_s, _ = run_storescp(argv)
    rc_o, out_o, _ = run_ours(argv)
    assert rc_s == rc_o == 0
    assert "usage: storescp" in out_s and "usage: fastscp" in out_o
    theirs, ours = _help_options(out_s), _help_options(out_o)
    # every option Debian's storescp lists, with its short form; ours adds the
    # 3.6.9 manual's TLS options and fastscp's own limits and monitoring, nothing else
    assert set(theirs) <= set(ours)
    assert all(ours[name] == short for name, short in theirs.items())
    assert set(ours) - set(theirs) == {"--list-profiles", "--profile-8996", "--profile-8996-mod",
                                       "--no-sni", "--expect-sni",
                                       "--max-associations", "--pdu-timeout",
                                       "--max-inflated-size", "--max-inflation-ratio",
                                       "--proxy-protocol",
                                       "--metrics-port", "--metrics-address", "--summary-interval"}
    # the same sections, in the same order
    assert _help_sections(out_s) == [t for t in _help_sections(out_o) if t in _help_sections(out_s)]


def _help_options(text):
    """{long option: short option or None} of a DCMTK help text."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^[*\s]\s*(?:([+-][^\s]*)\s+)?(--[\w-]+)", line)     # "*": not built yet
        if m:
            out[m.group(2)] = m.group(1)
    return out


def _help_sections(text):
    return [line for line in text.splitlines() if re.match(r"^\S.*:$", line)]


@pytest.mark.parametrize("argv", [["--version"], ["--version", "1", "2"], ["--arguments", "--version"],
                                  ["--version", "-pdu", "1"], ["--version", "+cc"], ["+cc", "--version"]])
def test_version(argv):
    rc, out, err = run_ours(argv)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "$fastscp: fastscp v%s $" % cli.__version__
    assert lines[2] == "fastscp: DICOM storage (C-STORE) SCP"
    assert any(line.startswith("Host type: ") for line in lines)
    assert any(line.startswith("Build options: ") for line in lines)


@needs_storescp
@pytest.mark.parametrize("argv", [["--version", "1", "2"], ["--version", "+cc"]])
def test_version_like_storescp(argv):
    (rc_s, out_s, err_s), (rc_o, out_o, err_o) = run_storescp(argv), run_ours(argv)
    assert rc_s == rc_o == 0 and err_s == err_o == ""
    theirs, ours = out_s.splitlines(), out_o.splitlines()
    # the same layout: "$package: program vX $", blank, title, blank, host, ...
    assert re.match(r"^\$dcmtk: storescp v\S+ .*\$$", theirs[0]) and re.match(r"^\$fastscp: fastscp v\S+ \$$", ours[0])
    assert theirs[1] == ours[1] == ""
    assert theirs[2].replace("storescp", "fastscp") == ours[2]
    for prefix in ("Host type: ", "Build options: "):
        assert [i for i, line in enumerate(theirs) if line.startswith(prefix)] == \
            [i for i, line in enumerate(ours) if line.startswith(prefix)], prefix


@pytest.mark.parametrize("argv", [["+cc"], ["+cc", "1", "2"], ["+ph"], ["+ph", P]])
def test_listing_options(argv):
    """+cc and +ph print storescp's head and list, exit 0, without a port."""
    rc, out, err = run_ours(argv)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("$fastscp: fastscp v") and lines[2] == "fastscp: DICOM storage (C-STORE) SCP"
    if argv[0] == "+cc":
        at = lines.index("Supported TLS ciphersuites are:")
        assert lines[at + 1:] == ["  TLS_" + s for s in tls_suites.RANKED_SUITES]
    else:
        assert lines[-8:] == [
            "Supported TLS Secure Transport Connection Profiles are:",
            "- BCP 195 RFC 8996 TLS Profile (default)",
            "- Modified BCP 195 RFC 8996 TLS Profile",
            "- Non-downgrading BCP 195 TLS Profile (retired)",
            "- BCP 195 TLS Profile (retired)",
            "- Extended BCP 195 TLS Profile (retired)",
            "- AES TLS Secure Transport Connection Profile (retired)",
            "- Authenticated unencrypted communication (retired)"]
        assert any(line.startswith("Cryptographic algorithms implemented by: OpenSSL") for line in lines)


@needs_storescp
def test_cipher_list_like_storescp():
    """Debian's storescp 3.6.7 lists the same suites (3.6.9 adds the CCM ones
    and ranks ECDHE above DHE at equal strength: spec §2.4)."""
    _, theirs, _ = run_storescp(["+cc"])
    _, ours, _ = run_ours(["+cc"])
    pick = lambda text: {line.strip() for line in text.splitlines() if line.startswith("  TLS_")}
    assert pick(theirs) == pick(ours) - {"TLS_" + s for s in tls_suites.RANKED_SUITES if "_CCM" in s}


# ---------------------------------------------------------------------------
# options fastscp does not implement yet
# ---------------------------------------------------------------------------

def _sample(opt, long: bool = False) -> List[str]:
    """A use of ``opt`` storescp would accept up to its -pdu check."""
    vals = {"--log-level": ["info"], "--eostudy-timeout": ["5"], "--compression-level": ["6"],
            "--padding-create": ["2", "2"], "--socket-timeout": ["5"], "--acse-timeout": ["5"],
            "--dimse-timeout": ["5"], "--sleep-after": ["0"], "--sleep-during": ["0"]}
    words = [opt.long if long else (opt.short or opt.long)] + vals.get(opt.long, ["v%d" % i for i in range(opt.nvalues)])
    if opt.long == "--verbose-pc":
        words = ["-v"] + words
    if opt.long in ("--exec-on-eostudy", "--rename-on-eostudy", "--eostudy-timeout"):
        words = ["-ss", "pfx"] + words
    if opt.long in ("--write-seed", "--write-seed-file"):
        words = ["+rs", "seed.bin"] + words
    if (opt.section.startswith("transport layer security") and opt.long != "--enable-tls"
            and not opt.exclusive):
        words = ["+tls", "key.pem", "cert.pem"] + words
    return words


_CONSOLE_CFG = """log4cplus.rootLogger = {level}, out
log4cplus.appender.out = log4cplus::ConsoleAppender
log4cplus.appender.out.ImmediateFlush = true
log4cplus.appender.out.layout = log4cplus::PatternLayout
log4cplus.appender.out.layout.ConversionPattern = [%p] %m%n
"""


@needs_storescp
@pytest.mark.parametrize("argv", [
    ["-lc", "info.cfg", "-v", P], ["-lc", "info.cfg", "-d", P], ["-lc", "info.cfg", "-q", P],
    ["-lc", "info.cfg", "-ll", "info", P], ["-v", "-lc", "info.cfg", P],
    # +v needs the application logger at INFO: the file decides
    ["-lc", "warn.cfg", "+v", "-pdu", "1", P], ["-lc", "info.cfg", "+v", "-pdu", "1", P],
    # once the root logger does not show errors, command line errors are silent
    ["-lc", "fatal.cfg", "-pdu", "1", P], ["-lc", "error.cfg", "-pdu", "1", P],
    # --arguments: through the root logger's appenders, whatever its level
    ["--arguments", "-lc", "fatal.cfg", "-pdu", "1", P],
    ["-lc", "missing.cfg", P], ["-lc", ".", P],
], ids=lambda a: " ".join(a))
def test_log_config_messages(argv, tmp_path):
    for level in ("info", "warn", "error", "fatal"):
        (tmp_path / ("%s.cfg" % level)).write_text(_CONSOLE_CFG.format(level=level.upper()))
    assert_same(argv, cwd=tmp_path)


#: the TLS options Debian's storescp knows too: the same names and value counts
TLS_3_6_7 = [o for o in options.OPTIONS if o.section.startswith("transport layer security")
             and not o.since_369 and not o.exclusive]
#: ... and the process and access options built last (-id and -lc close or need files)
KNOWN_BY_3_6_7 = TLS_3_6_7 + [options.BY_NAME["--fork"], options.BY_NAME["--access-control"]]


def test_every_option_is_built():
    assert [o.long for o in options.OPTIONS if not o.built] == []


@needs_storescp
@pytest.mark.parametrize("opt", KNOWN_BY_3_6_7, ids=[o.long for o in KNOWN_BY_3_6_7])
def test_option_is_real(opt, tmp_path):
    """storescp knows the option with the same value count: with an invalid
    -pdu after it, both stop at the -pdu check with the same message."""
    for words in (_sample(opt), _sample(opt, long=True)):
        argv = words + ["-pdu", "1", P]
        rc, out, err = run_storescp(argv, cwd=tmp_path)
        assert rc == 1
        assert error_line(err) == "error: Invalid value for option --max-pdu (underflow: 1)", argv
        assert_same(argv, cwd=tmp_path)


@needs_storescp
@pytest.mark.parametrize("name", ["+ph", "+pg", "+pm", "--no-sni", "--expect-sni"])
def test_options_of_3_6_9_only(name):
    """Debian's storescp 3.6.7 does not know these (spec §8); fastscp knows
    them as 3.6.9 options: without +tls the profiles are refused, the SNI
    options are ignored (spec storescp-tls.md §1.2)."""
    opt = options.option(name)
    assert opt.since_369
    argv = _sample(opt) + [P]
    rc, _, err = run_storescp(argv)
    assert rc == 1 and error_line(err) == "error: Unknown option %s" % name
    if opt.exclusive:
        return                                  # test_listing_options
    with pytest.raises(options.CommandLineError) as info:
        options.evaluate(_sample(opt)[3:] + ["-pdu", "1", P])
    assert info.value.message == "Invalid value for option --max-pdu (underflow: 1)"
    if opt.long.startswith("--profile"):
        with pytest.raises(options.CommandLineError) as info:
            options.evaluate(_sample(opt)[3:] + [P])
        assert info.value.message == "%s only allowed with --enable-tls" % opt.long
    else:
        options.evaluate(_sample(opt)[3:] + [P])


def test_profile_basic_needs_3des():
    """+pb exists only where OpenSSL has 3DES (OpenSSL 3 has not): then it
    is an unknown option, as for storescp built with that OpenSSL."""
    opt = options.option("+pb")
    rc, _, err = run_ours(["+tls", "k", "c", "+pb", P])
    if opt.available:
        pytest.skip("this OpenSSL has 3DES")
    assert rc == 1 and error_line(err) == "error: Unknown option +pb"


@pytest.mark.parametrize("argv, message", [
    # 3.6.9's order (spec storescp-tls.md §1.2); Debian's 3.6.7 checks the
    # CRL block after the profiles and refuses +crv +cra
    (["+crv", "+dp", "x", P], "--enable-crl-vfy only allowed with --enable-tls"),
    (["+dp", "x", "+pw", "p", P], "--use-passwd only allowed with --enable-tls"),
    (["--no-sni", "--expect-sni", "x", P], "--no-sni not allowed with --expect-sni"),
    (["--expect-sni", "x", "--no-sni", "+ps", P], "--std-passwd only allowed with --enable-tls"),
    (["--expect-sni", "x", "--no-sni", "+rs", "f", P], "--no-sni not allowed with --expect-sni"),
    (["-ic", "+pa", P], "--ignore-peer-cert only allowed with --enable-tls"),
    (["+pa", "+cf", "x", P], "--profile-basic only allowed with --enable-tls"),
    (["+tls", "k", "c", "+ws", "+dp", "x", P], "--write-seed only allowed with --seed"),
    (["+tls", "k", "c", "+cs", "x", "+pz", P], "--cipher not allowed with --profile-bcp195-ex"),
])
def test_tls_checks_in_3_6_9_order(argv, message):
    rc, out, err = run_ours(argv)
    assert rc == 1 and error_line(err) == "error: " + message


# ---------------------------------------------------------------------------
# accepted vectors (built options)
# ---------------------------------------------------------------------------

ACCEPTED = [
    ["-v", "-aet", "MY_AE", "-pdu", "8192", "-od", "."],
    ["--fork"], ["--single-process", "--fork"], ["--fork", "--single-process"],
    ["+x=", "-ac", "-tls", "-B", "+F", "+t=", "+u", "+g=", "+e", "-p", "-uc", "-uf", "--single-process"],
    ["-pdu", "8192.5"], ["-pdu", "131072"], ["-pdu", "4096"], ["-pdu", " 8192"], ["-pdu", "+8192"],
    ["-pdu", "8192-"], ["-pdu", "1", "-pdu", "8192"], ["-ll", "INFO"], ["-ll", "off"], ["-ll", "all"],
    ["-q", "-v", "-d"], ["-aet", ""], ["-aet", "-v"], ["-od", "/nonexist", "-od", "."],
    ["+xe", "+x="], ["+B", "-B", "-u", "+u"], ["+te", "+t=", "+xs", "+x="], ["+uf", "-uf"], ["-v", "-od", ""],
    ["--fork", "--single-process"], ["-F", "+F", "+p", "1", "1", "-p"], ["+tls", "a", "b", "-tls"],
    ["+xe"], ["+xa"], ["+xs"], ["+xi"], ["+xd"], ["-pm"], ["-v", "+v"], ["+xe", "-d"], ["-pm", "+xa"],
    ["-xf", "/etc/dcmtk/storescp.cfg", "Default"], ["-xf", "/etc/dcmtk/storescp.cfg", " all dicom "],
    ["-ts", "5"], ["-ts", "0"], ["-ts", "-1"], ["-ta", "5", "-td", "5"], ["--refuse"], ["--reject"],
    ["-dhl"], ["--ignore"], ["--sleep-after", "0"], ["--sleep-during", "0"], ["--abort-after"],
    ["--abort-during"], ["-up"], ["+ac"], ["+ac", "-ac"], ["-ac", "+ac", "-dhl"],
    # placement and events (issue 6)
    ["-tn"], ["-ss", "pfx", "-xcs", "true"], ["-xcr", "true"], ["-su", "", "-rns", "-tos", "0"],
    ["-sp", "+uf", "-fe", ".dcm", "-xs"],
    # output format (issue 5)
    ["+B"], ["-F"], ["+B", "-F"], ["+p", "2", "4"], ["-e", "+g"], ["-g", "-u", "+uc"], ["+B", "-uc"],
]


@needs_storescp
@pytest.mark.parametrize("argv", ACCEPTED, ids=_ids(ACCEPTED))
def test_accepted_like_storescp(argv, tmp_path):
    port = free_port()
    listening, err = storescp_accepts(argv + [str(port)], port, cwd=tmp_path)
    assert listening, err
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        cmd, st = options.evaluate(argv + [str(port)])
    finally:
        os.chdir(old)
    assert st.port == port


@pytest.mark.parametrize("port_text, port", [("14005abc", 14005), ("1e3", 1), (" 5", 5), ("5 ", 5),
                                             ("+5", 5), ("-18446744073709551615", 1), ("65535", 65535)])
def test_port_quirks(port_text, port):
    cmd, st = options.evaluate([port_text])
    assert st.port == port


def test_settings_values():
    cmd, st = options.evaluate(["-aet", "A", "-aet", "B", "-pdu", "8192.5", "-od", "/tmp", "-v", "-d", P])
    config = cli.build_config(st, cmd)
    assert (config.ae_title, config.max_pdu, config.output_directory, st.log_level, config.port) == \
        ("B", 8192, "/tmp", "debug", 11112)
    assert options.evaluate([P])[1].log_level == "warn"
    assert options.evaluate(["-d", "-q", P])[1].log_level == "fatal"
    assert options.evaluate(["-ll", "TRACE", P])[1].log_level == "trace"


def test_integer_parsing():
    assert options.c_long("  -12abc") == -12
    assert options.c_long("99999999999999999999") == options.LONG_MAX
    assert options.c_long("-99999999999999999999") == options.LONG_MIN
    assert options.c_long("+-1") is None and options.c_long("") is None
    assert options.c_ulong("-1") == options.ULONG_MAX
    assert options.c_ulong("-18446744073709551615") == 1
    assert options.c_ulong("0x10") == 0


def test_table_consistent():
    names = set()
    for opt in options.OPTIONS:
        for n in (opt.short, opt.long):
            if n:
                assert n not in names, n
                names.add(n)
                assert options.is_option_word(n)
        assert opt.help and opt.section
        assert bool(opt.value_help) == bool(opt.values), opt.long
    built = {o.long for o in options.OPTIONS if o.built}
    assert built == {
        "--help", "--version", "--arguments", "--quiet", "--verbose", "--debug", "--log-level",
        "--log-config",
        "--output-directory", "--aetitle", "--max-pdu", "--single-process", "--fork",
        "--prefer-uncompr",
        "--access-full", "--disable-tls", "--normal", "--write-file", "--write-xfer-same",
        "--enable-new-vr", "--group-length-recalc", "--length-explicit", "--padding-off",
        "--retain-un", "--default-filenames",
        # negotiation (issue 4)
        "--verbose-pc", "--config-file", "--promiscuous",
        *(o.long for o in options.OPTIONS if o.group == "prefer"),
        # network behaviour (issue 4)
        "--socket-timeout", "--acse-timeout", "--dimse-timeout", "--disable-host-lookup",
        "--refuse", "--reject", "--ignore", "--sleep-after", "--sleep-during", "--abort-after",
        "--abort-during", "--uid-padding",
        # host access control (issue 14)
        "--access-control",
        # placement and events (issue 6)
        "--sort-conc-studies", "--sort-on-study-uid", "--sort-on-patientname",
        "--unique-filenames", "--timenames", "--filename-extension", "--exec-on-reception",
        "--exec-on-eostudy", "--rename-on-eostudy", "--eostudy-timeout", "--exec-sync",
        # output format (issue 5)
        "--bit-preserving", "--write-dataset", "--length-undefined", "--group-length-create",
        "--group-length-remove", "--padding-create", "--convert-un", "--disable-new-vr",
        "--compression-level", "--write-xfer-little", "--write-xfer-big", "--write-xfer-implicit",
        "--write-xfer-deflated",
        # fastscp's own limits (not storescp's)
        "--max-associations", "--pdu-timeout", "--max-inflated-size", "--max-inflation-ratio",
        # fastscp's own: behind a load balancer (issue 16)
        "--proxy-protocol",
        # fastscp's own monitoring (issue 16)
        "--metrics-port", "--metrics-address", "--summary-interval",
        # issue 14
        "--inetd",
        # TLS (issue 15): the whole section
        *(o.long for o in options.OPTIONS if o.section.startswith("transport layer security"))}
    assert len(options.OPTIONS) == len(names) - sum(1 for o in options.OPTIONS if o.short)
    # every option of the manual (3.6.9, which adds +ph +pg +pm +pb --no-sni --expect-sni),
    # and fastscp's own limits, --proxy-protocol and monitoring
    assert len(options.OPTIONS) == 119 + 5 + 3


# ---------------------------------------------------------------------------
# start-up checks after parsing
# ---------------------------------------------------------------------------

class _FakeServer:
    """Stands in for fastscp.processes: records the configuration `serve` gets."""
    configs: list = []
    error: Optional[OSError] = None

    @staticmethod
    def serve(config):
        _FakeServer.configs.append(config)
        if _FakeServer.error is not None:
            raise _FakeServer.error


@pytest.fixture
def fake_server(monkeypatch):
    mod = types.ModuleType("fastscp.processes")
    mod.serve = _FakeServer.serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastscp.processes", mod)
    _FakeServer.configs = []
    _FakeServer.error = None
    return _FakeServer


def test_runs_server_with_config(fake_server, tmp_path):
    rc, out, err = run_ours(["-aet", "ME", "-pdu", "32768", "-od", str(tmp_path), "12345"])
    assert (rc, out, err) == (0, "", "")
    (config,) = fake_server.configs
    assert (config.port, config.ae_title, config.max_pdu, config.output_directory) == \
        (12345, "ME", 32768, str(tmp_path))


def test_cannot_create_network(fake_server, tmp_path):
    fake_server.error = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
    rc, out, err = run_ours(["-od", str(tmp_path), "12345"])
    assert rc == 1
    assert err == ("E: cannot create network: 0006:031c TCP Initialization Error: "
                   "Address already in use\n")
    rc, out, err = run_ours(["-q", "-od", str(tmp_path), "12345"])
    assert (rc, err) == (1, "")


@needs_storescp
def test_cannot_create_network_like_storescp(fake_server, tmp_path):
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen(1)
        port = str(s.getsockname()[1])
        rc_s, _, err_s = run_storescp([port], cwd=tmp_path)
    fake_server.error = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
    rc_o, _, err_o = run_ours(["-od", str(tmp_path), port])
    assert rc_s == rc_o == 1
    assert err_s == err_o


def test_output_directory_not_writeable(fake_server, tmp_path, monkeypatch):
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    rc, out, err = run_ours(["-od", str(tmp_path), "12345"])
    assert (rc, err) == (1, "F: specified output directory is not writeable\n")
    assert fake_server.configs == []


def test_privileged_port(fake_server, tmp_path, monkeypatch):
    monkeypatch.setattr(cli.os, "geteuid", lambda: 1000, raising=False)
    # a root test runner has CAP_NET_BIND_SERVICE; a user with it may bind
    # (test_activation: as nobody with and without it)
    monkeypatch.setattr(cli, "_has_bind_capability", lambda: False)
    rc, out, err = run_ours(["-od", "/nonexist", "104"])
    assert (rc, err) == (1, "F: cannot listen on port 104, insufficient privileges\n")
    rc, out, err = run_ours(["-q", "-od", str(tmp_path), "1023"])
    assert (rc, err) == (1, "F: cannot listen on port 1023, insufficient privileges\n")
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0, raising=False)
    assert run_ours(["-od", str(tmp_path), "104"])[0] == 0


_setpriv = shutil.which("setpriv")
as_nobody = pytest.mark.skipif(not (hasattr(os, "geteuid") and os.geteuid() == 0 and _setpriv),
                               reason="needs root and setpriv to run as an unprivileged user")

_OURS_CMD = "import sys, fastscp.cli as cli\nsys.exit(cli.main(sys.argv[1:]))\n"


def _nobody_can_run_fastscp():
    """The interpreter and package may live where user nobody cannot read."""
    r = subprocess.run([_setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                        sys.executable, "-c", "import fastscp.cli"], capture_output=True, timeout=60)
    return r.returncode == 0


@needs_storescp
@as_nobody
@pytest.mark.parametrize("case", ["privileged", "readonly", "readonly-quiet", "nonexist-privileged"])
def test_unprivileged_like_storescp(case):
    if not _nobody_can_run_fastscp():
        pytest.skip("user nobody cannot read this Python installation")
    base = Path(tempfile.mkdtemp(prefix="fastscp-cli-"))
    try:
        base.chmod(0o755)
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        argv = {"privileged": ["-od", str(base), "104"],
                "readonly": ["-od", str(ro), str(free_port())],
                "readonly-quiet": ["-q", "-od", str(ro), str(free_port())],
                "nonexist-privileged": ["-od", "/nonexist", "104"]}[case]
        drop = [_setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        # neither may get as far as listening: bounded by the timeouts
        s = subprocess.run(drop + [STORESCP] + argv, capture_output=True, text=True, timeout=20)
        o = subprocess.run(drop + [sys.executable, "-c", _OURS_CMD] + argv, capture_output=True,
                           text=True, timeout=60)
        assert s.returncode == o.returncode == 1
        assert s.stderr == o.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------
# logging
# ---------------------------------------------------------------------------

def test_setup_logging_format_and_idempotence():
    stream = io.StringIO()
    logger = fslog.setup_logging("trace", stream)
    fslog.setup_logging("trace", stream)
    assert len([h for h in logger.handlers if getattr(h, "_fastscp_console", False)]) == 1
    child = logging.getLogger("fastscp.assoc")
    child.info("Association Received")
    child.warning("two\nlines")
    logger.critical("bad")
    logger.error("err")
    logger.debug("dbg")
    fslog.trace(child, "tr %d", 1)
    assert stream.getvalue() == ("I: Association Received\nW: two\nW: lines\nF: bad\nE: err\n"
                                 "D: dbg\nT: tr 1\n")


@pytest.mark.parametrize("level, shown", [
    ("fatal", "F"), ("error", "FE"), ("warn", "FEW"), ("info", "FEWI"), ("debug", "FEWID"),
    ("trace", "FEWIDT"), ("off", ""), ("all", "FEWIDT"), ("WARN", "FEW")])
def test_levels(level, shown):
    stream = io.StringIO()
    logger = fslog.setup_logging(level, stream)
    logger.critical("x")
    logger.error("x")
    logger.warning("x")
    logger.info("x")
    logger.debug("x")
    fslog.trace(logger, "x")
    assert "".join(line[0] for line in stream.getvalue().splitlines()) == shown


def test_setup_logging_default_is_warn_and_rejects_bad_level():
    stream = io.StringIO()
    logger = fslog.setup_logging(stream=stream)
    assert logger.getEffectiveLevel() == logging.WARNING
    with pytest.raises(ValueError):
        fslog.setup_logging("warning", stream)


def test_debug_mode_logs_header():
    rc, out, err = run_ours(["-d", "-pdu", "1", P])
    assert rc == 1
    lines = err.splitlines()
    assert lines[0] == "D: $fastscp: fastscp v%s $" % cli.__version__
    assert lines[1] == "D: "
    assert lines[-1] == "error: Invalid value for option --max-pdu (underflow: 1)"
