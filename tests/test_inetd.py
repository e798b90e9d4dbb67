"""-id/--inetd: one association per process on standard input, under a real
super-server (Debian's xinetd, started here on loopback ports with its own
configuration file) beside Debian's storescp --inetd, and the edge cases of
standard input with hand-made descriptors.  Start-up imports (no pydicom)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DCMTK_ENV, ECHOSCU, STORESCP, STORESCU, final_files, free_port, run_storescu
from superserver import XINETD, Service, Xinetd
from test_differential import _compare_dirs, _pydicom_test_files
from tlscerts import Certificates

#: the installed console script: a super-server execs a program by its path,
#: and `python -m fastscp` would not find its virtual environment (xinetd
#: passes argv[0] without the directory, so Python looks "python" up in PATH)
FASTSCP = str(Path(sys.executable).parent / "fastscp")


@pytest.fixture(scope="module", autouse=True)
def _require_xinetd():
    if not os.access(XINETD, os.X_OK):
        pytest.fail("xinetd is required for these tests (apt-get install xinetd)")
    if not os.access(FASTSCP, os.X_OK):
        pytest.fail("the fastscp console script is missing next to %s" % sys.executable)


@pytest.fixture
def xinetd(tmp_path):
    """xinetd(fastscp_options, storescp_options=None) -> (Xinetd, {"fastscp": (port, outdir), ...}):
    each server with --inetd and its own output directory."""
    started = []

    def start(fastscp_options=(), storescp_options=None, outdir=None):
        services, where = [], {}
        for name, argv, env, options in (
                ("fastscp", [FASTSCP], {}, fastscp_options),
                ("storescp", [STORESCP], {"TCP_NODELAY": "1"}, storescp_options)):
            if options is None:
                continue
            out = Path(outdir) if outdir is not None else tmp_path / name
            out.mkdir(exist_ok=True)
            port = free_port()
            services.append(Service(name, port, argv + ["--inetd", *options, "-od", str(out)], env))
            where[name] = (port, out)
        x = Xinetd(tmp_path / "xinetd", services)
        started.append(x)
        return x, where
    yield start
    for x in started:
        x.stop()


def _echo(port, *options):
    return subprocess.run([ECHOSCU, *options, "127.0.0.1", str(port)], env=DCMTK_ENV,
                          capture_output=True, text=True, timeout=60)


def test_files_stored_through_xinetd_as_storescp_stores_them(xinetd):
    x, where = xinetd((), ())
    files = _pydicom_test_files()
    for name, (port, _) in where.items():
        # implicit VR: the writer takes every VR from the dictionary tables built with the package
        assert run_storescu(port, files, ["-nh", "-xi"]).returncode == 0, name
    assert _compare_dirs(where["storescp"][1], where["fastscp"][1]) >= 30
    for name in where:
        assert [status for _, status in x.wait_exits(name, 1)] == [0], name


def test_one_process_per_association_each_exiting_0(xinetd):
    x, where = xinetd(())
    port, out = where["fastscp"]
    files = _pydicom_test_files()[:2]
    for _ in range(3):
        assert _echo(port).returncode == 0
    for f in files:
        assert run_storescu(port, [f]).returncode == 0
    exits = x.wait_exits("fastscp", 5)
    assert len(exits) == 5 and len({pid for pid, _ in exits}) == 5
    assert [status for _, status in exits] == [0] * 5
    assert len(final_files(out)) == 2


def test_tls_through_xinetd_as_storescp(xinetd, tmp_path):
    """--inetd with +tls: each process shakes hands on its standard input
    and stores what storescp --inetd +tls stores."""
    c = Certificates(tmp_path / "certs")
    tls = ["+tls", c.server_key, c.server, "+cf", c.ca]
    x, where = xinetd(tls, tls)
    files = _pydicom_test_files()[:3]
    for name, (port, _) in where.items():
        r = run_storescu(port, files, ["-nh", "+tls", c.client_key, c.client, "+cf", c.ca])
        assert r.returncode == 0, (name, r.stderr)
    assert _compare_dirs(where["storescp"][1], where["fastscp"][1]) == 3
    for name in where:
        assert [status for _, status in x.wait_exits(name, 1)] == [0], name


def test_log_output_never_reaches_the_connection(xinetd):
    """xinetd hands the socket over as standard output and error as well:
    debug logging and --arguments must go to /dev/null, not to the peer."""
    x, where = xinetd(("-d", "--arguments", "+v"), ("-d", "--arguments", "+v"))
    for name, (port, out) in where.items():
        echo = _echo(port, "-v")
        assert echo.returncode == 0 and "Received Echo Response (Success)" in echo.stderr, name
        assert run_storescu(port, _pydicom_test_files()[:1]).returncode == 0, name
        assert len(final_files(out)) == 1, name
        assert [status for _, status in x.wait_exits(name, 2)] == [0, 0], name


def test_startup_failure_closes_the_connection_exit_1(xinetd, tmp_path):
    # the output directory check fails after the command line checks
    x, where = xinetd((), (), outdir=tmp_path / "out")
    (tmp_path / "out").rmdir()
    for name, (port, _) in where.items():
        echo = _echo(port)
        assert echo.returncode != 0 and "Peer aborted Association" in echo.stderr, name
        assert [status for _, status in x.wait_exits(name, 1)] == [1], name


# -- standard input made by hand ------------------------------------------------------

def _run(argv, stdin, close_stdin=False):
    return subprocess.run(argv, stdin=stdin, capture_output=True, timeout=60,
                          env=DCMTK_ENV if argv[0] == STORESCP else None,
                          preexec_fn=(lambda: os.close(0)) if close_stdin else None)


def _both(options, tmp_path, **kw):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return [_run([prog, *options, "-od", str(out)], **kw) for prog in (FASTSCP, STORESCP)]


@pytest.mark.parametrize("options", [
    ["--fork", "--inetd"],                               # storescp: prints nothing, exit 1
    ["--inetd", "-ll", "nonsense"],
    ["--inetd", "-ss", "st", "-xcs", "echo"],            # -xcs not allowed with --inetd
    ["--inetd", "-ss", "st", "-rns"],
    ["-id", "-pdu", "1"],
])
def test_errors_after_the_take_over_are_silent(options, tmp_path):
    # (run as processes: in-process, the take-over would put /dev/null on the test runner's stdio)
    ours, ref = _both(options, tmp_path, stdin=subprocess.DEVNULL)
    assert (ours.returncode, ours.stdout, ours.stderr) == (1, b"", b"")
    assert (ref.returncode, ref.stdout, ref.stderr) == (1, b"", b"")


def test_notation_errors_are_still_printed(tmp_path):
    ours, ref = _both(["--inetd", "--no-such-option"], tmp_path, stdin=subprocess.DEVNULL)
    for r in (ours, ref):
        assert r.returncode == 1 and b"error: Unknown option --no-such-option" in r.stderr


@pytest.mark.parametrize("stdin", ["devnull", "file"])
def test_stdin_not_a_socket_exit_0(stdin, tmp_path):
    source = tmp_path / "f"
    source.write_bytes(b"not a socket")
    with open(os.devnull if stdin == "devnull" else source, "rb") as fh:
        ours, ref = _both(["--inetd"], tmp_path, stdin=fh)
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, b"", b"")
    assert (ref.returncode, ref.stdout, ref.stderr) == (0, b"", b"")


def test_stdin_closed_exit_99(tmp_path):
    ours, ref = _both(["--inetd"], tmp_path, stdin=subprocess.DEVNULL, close_stdin=True)
    assert (ours.returncode, ref.returncode) == (99, 99)


def test_not_a_socket_is_logged_and_closed(tmp_path, caplog):
    from fastscp import ServerConfig, inetd
    fd = os.open(os.devnull, os.O_RDONLY)
    with caplog.at_level("ERROR", logger="fastscp"):
        inetd.serve(ServerConfig(output_directory=str(tmp_path)), fd)
    assert caplog.messages == [
        "Receiving Association failed: 0006:031c TCP Initialization Error: "
        "Socket operation on non-socket, getpeername failed on socket %d" % fd]
    with pytest.raises(OSError):
        os.fstat(fd)


def test_port_parameter_is_not_used(xinetd):
    # as storescp: a port may be given but is not used (nor is privilege checked)
    x, where = xinetd(("104",), ("104",))
    for name, (port, _) in where.items():
        assert _echo(port).returncode == 0, name
        assert [status for _, status in x.wait_exits(name, 1)] == [0], name


# -- start-up --------------------------------------------------------------------------

def _serve_once(server_argv, client_argv, timeout=60.0):
    """A minimal inetd: accept the connection of ``client_argv(port)`` and
    run ``server_argv`` with it on standard input; (server, client) results."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(timeout)
        port = listener.getsockname()[1]
        client = subprocess.Popen(client_argv(port), env=DCMTK_ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        conn, _ = listener.accept()
    with conn:
        server = subprocess.run(server_argv, stdin=conn, capture_output=True, timeout=timeout)
    out, err = client.communicate(timeout=timeout)
    return server, (client.returncode, out, err)


def test_no_pydicom_nor_package_metadata_imported(tmp_path):
    """Start-up cost: the dictionary tables come with the package; pydicom
    and importlib.metadata are imported only where really needed."""
    marker = tmp_path / "modules"
    code = ("import sys, fastscp.cli\n"
            "rc = fastscp.cli.main(sys.argv[2:])\n"
            "open(sys.argv[1], 'w').write(' '.join(sorted(m for m in sys.modules\n"
            "    if m.split('.')[0] == 'pydicom' or m.startswith('importlib.metadata'))))\n"
            "sys.exit(rc)\n")
    out = tmp_path / "out"
    out.mkdir()
    files = _pydicom_test_files()[:3]
    server, client = _serve_once([sys.executable, "-c", code, str(marker), "--inetd", "-od", str(out)],
                                 lambda port: [STORESCU, "127.0.0.1", str(port), *map(str, files)])
    assert server.returncode == 0 and client[0] == 0, (server, client)
    assert len(final_files(out)) == 3
    assert marker.read_text() == ""
