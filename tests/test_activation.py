"""Socket activation (`fastscp.activation`) under systemd's own test tool,
systemd-socket-activate (Debian's `systemd`), on loopback ports: the
listening socket a .socket unit with Accept=no passes, a connection per
process as Accept=yes passes it (with --inetd), and what is refused.  Also:
log lines with their priority when stderr is the journal (`fastscp.journal`)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

import pytest

from conftest import DCMTK_ENV, ECHOSCU, Process, final_files, free_port, run_storescu
from test_differential import _pydicom_test_files

SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"
#: the installed console script, as a unit's ExecStart= names it
FASTSCP = str(Path(sys.executable).parent / "fastscp")


@pytest.fixture(scope="module", autouse=True)
def _require_socket_activate():
    if not os.access(SOCKET_ACTIVATE, os.X_OK):
        pytest.fail("systemd-socket-activate is required for these tests (apt-get install systemd)")


@pytest.fixture
def activated(tmp_path):
    """activated(activate_options, fastscp_options, port_param=..., run_as=(), out=None)
    -> (Process, port, outdir): systemd-socket-activate listening on a free
    loopback port, starting fastscp (through the ``run_as`` command prefix)
    with the port parameter (default: that port; None: none)."""
    started = []

    def start(activate_options, fastscp_options, port_param="same", run_as=(), out=None):
        port = free_port()
        if out is None:
            out = tmp_path / ("out%d" % len(started))
            out.mkdir()
        argv = [SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port, *activate_options, "--",
                *run_as, FASTSCP, *fastscp_options, "-od", str(out)]
        if port_param is not None:
            argv.append(str(port if port_param == "same" else port_param))
        proc = Process(argv, port)
        started.append(proc)
        return proc, port, out
    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def unprivileged():
    """(command prefix running a program as an unprivileged user, a directory
    that user can write): the user is the current one unless that is root,
    then nobody (setpriv(1), which execs: the pid stays LISTEN_PID)."""
    out = Path(tempfile.mkdtemp(prefix="fastscp-activation-"))
    run_as: List[str] = []
    if os.geteuid() == 0:
        run_as = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        out.chmod(0o777)
    yield run_as, out
    shutil.rmtree(out)


def _echo(port):
    return subprocess.run([ECHOSCU, "-v", "127.0.0.1", str(port)], env=DCMTK_ENV,
                          capture_output=True, text=True, timeout=60)


def _echo_and_store(port, out):
    """C-ECHO, then C-STORE of three files in one association: all stored."""
    echo = _echo(port)
    assert echo.returncode == 0 and "Received Echo Response (Success)" in echo.stderr
    files = _pydicom_test_files()[:3]
    sent = run_storescu(port, files)
    assert sent.returncode == 0, sent.stderr
    assert len(final_files(out)) == 3


@pytest.mark.parametrize("model", [[], ["--single-process"], ["--fork"]])
def test_listening_socket_passed_by_systemd(activated, model):
    """Accept=no: every association is served on the passed socket, in each
    process model (worker processes and --fork children inherit it)."""
    proc, port, out = activated([], ["-v", *model])
    _echo_and_store(port, out)
    assert _echo(port).returncode == 0
    assert proc.proc.poll() is None             # one server for every association
    _, err = proc.stop()
    assert err.count("I: Association Acknowledged") == 3, err
    assert "LISTEN" not in err


def test_port_parameter_is_not_bound_and_a_different_one_reported(activated):
    other = free_port()
    proc, port, out = activated([], [], port_param=other)
    _echo_and_store(port, out)
    _, err = proc.stop()
    assert ("W: port %d not used: listening on the socket passed by systemd, 127.0.0.1 port %d"
            % (other, port)) in err


def test_privileged_port_parameter_accepted_with_a_passed_socket(activated, unprivileged):
    """A unit on port 104 run by an unprivileged user: with the socket bound
    by systemd the port needs no privilege (storescp's check is for binding)."""
    run_as, out = unprivileged
    proc, port, out = activated([], [], port_param=104, run_as=run_as, out=out)
    _echo_and_store(port, out)


def _privilege_check(run_as, capabilities=()):
    """fastscp for port 104 as an unprivileged user, stopping at the next
    start-up check (no output directory): what it logged."""
    done = subprocess.run([*run_as, *capabilities, FASTSCP, "-od", "/nonexistent", "104"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    return done.stderr


def test_privileged_port_refused_without_socket_or_capability(unprivileged):
    run_as, _ = unprivileged
    assert _privilege_check(run_as) == "F: cannot listen on port 104, insufficient privileges\n"


def test_privileged_port_allowed_with_the_ambient_capability(unprivileged):
    """A unit's AmbientCapabilities=CAP_NET_BIND_SERVICE, as setpriv grants it."""
    run_as, _ = unprivileged
    if not run_as:
        pytest.skip("granting a capability needs root")
    granted = _privilege_check(run_as, ["--inh-caps=+net_bind_service",
                                        "--ambient-caps=+net_bind_service"])
    assert granted == "F: specified output directory does not exist\n"


def test_connection_per_process_with_inetd(activated):
    """Accept=yes: systemd accepts and starts one process per connection
    with the connection on standard input; --inetd serves it."""
    proc, port, out = activated(["--accept", "--inetd"], ["--inetd"], port_param=None)
    _echo_and_store(port, out)
    assert _echo(port).returncode == 0          # each process ends; the next one serves
    assert proc.proc.poll() is None


def test_connection_passed_without_inetd_is_refused(activated):
    """Accept=yes without --inetd: the connection comes as descriptor 3,
    which is no listening socket -- refused, naming --inetd."""
    proc, port, out = activated(["--accept"], [])
    # echoscu returns once the connection closed: the child has logged and exited
    assert _echo(port).returncode != 0
    _, err = proc.stop()
    assert ("E: cannot create network: 0006:031c TCP Initialization Error: socket passed by "
            "LISTEN_FDS: not listening (a unit with Accept=yes passes one connection: "
            "run fastscp --inetd there)") in err
    assert final_files(out) == []


def test_activation_variables_of_another_process_are_ignored_and_removed(monkeypatch):
    from fastscp import activation
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert not activation.is_activated()
    assert activation.take_listening_socket() is None
    assert "LISTEN_FDS" not in os.environ and "LISTEN_PID" not in os.environ


def test_more_than_one_passed_socket_is_refused(monkeypatch):
    from fastscp import activation
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "2")
    with pytest.raises(activation.ActivationError, match="one socket, 2 were passed"):
        activation.take_listening_socket()
    assert "LISTEN_FDS" not in os.environ


# -- the journal ---------------------------------------------------------------------

def _startup_failure(tmp_path, journal):
    """fastscp failing at start-up (no output directory) with stderr a file,
    JOURNAL_STREAM naming that file (journal=True) or another one."""
    err_path = tmp_path / "stderr"
    with open(err_path, "wb") as err:
        st = os.fstat(err.fileno()) if journal else os.stat(sys.executable)
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        code = subprocess.run([FASTSCP, "-od", str(tmp_path / "missing"), str(free_port())],
                              stderr=err, env=env, timeout=60).returncode
    assert code == 1
    return err_path.read_text()


def test_journal_lines_carry_their_priority(tmp_path):
    assert _startup_failure(tmp_path, journal=True) == "<2>F: specified output directory does not exist\n"


def test_lines_are_plain_when_stderr_is_not_the_journal(tmp_path):
    assert _startup_failure(tmp_path, journal=False) == "F: specified output directory does not exist\n"
