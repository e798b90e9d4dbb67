"""Shared fixtures: fastscp in-process and as a CLI process, Debian's storescp, DCMTK clients."""
from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List

import pytest

sys.path.insert(0, str(Path(__file__).parent))

DCMTK_BIN = Path("/usr/bin")
STORESCP = str(DCMTK_BIN / "storescp")      # plain `storescp` on PATH may be pynetdicom's
STORESCU = str(DCMTK_BIN / "storescu")
ECHOSCU = str(DCMTK_BIN / "echoscu")
DCMTK_ENV = dict(os.environ, TCP_NODELAY="1")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> bool:
    """Poll condition until it is true or timeout seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


#: ports the tests' servers listen on: below the kernel's ephemeral range
#: (ip_local_port_range, 32768-60999 by default), from which every outgoing
#: connection on the machine takes its port -- a port the kernel handed out
#: with bind(0) could be taken by one of those before the server binds it
_SERVER_PORTS = range(10000, 32000)
_port_choice = random.Random(os.getpid() ^ time.monotonic_ns())


def free_port() -> int:
    """A port nothing listens on now, for a server the test starts next."""
    for _ in range(200):
        port = _port_choice.choice(_SERVER_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found in %s" % (_SERVER_PORTS,))


def is_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def final_files(directory) -> List[Path]:
    """Files under their final names (temporary files excluded)."""
    return sorted(p for p in Path(directory).iterdir() if p.is_file() and not p.name.startswith(".fastscp-"))


def files_being_written(directory) -> List[str]:
    """The /proc/self/fd links of this process's temporary files in
    `directory`: unnamed (O_TMPFILE, shown as "#<inode> (deleted)") or
    under a hidden temporary name."""
    prefix = os.path.realpath(directory) + "/"
    found = []
    for fd in os.listdir("/proc/self/fd"):
        link = "/proc/self/fd/" + fd
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith(prefix) and target[len(prefix):].startswith(("#", ".fastscp-")):
            found.append(link)
    return found


def child_pids(pid: int) -> List[int]:
    """The child processes of pid (a server's workers or forked children), zombies included."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(name))
    return out


def all_files(directory) -> List[Path]:
    return sorted(p for p in Path(directory).iterdir() if p.is_file())


def run_storescu(port: int, files, options=(), timeout: float = 300) -> subprocess.CompletedProcess:
    """DCMTK storescu sending files to 127.0.0.1:port in one association."""
    return subprocess.run([STORESCU, *map(str, options), "127.0.0.1", str(port), *map(str, files)],
                          env=DCMTK_ENV, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def _require_dcmtk():
    missing = [p for p in (STORESCP, STORESCU, ECHOSCU) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("DCMTK is required for the tests (apt-get install dcmtk); missing: %s" % missing)


class InProcessServer:
    """fastscp in a thread of this process; ``hooks``: Server callbacks
    (``on_stored`` defaults to collecting the stored objects in ``stored``)."""

    def __init__(self, directory: Path, hooks=None, **config):
        from fastscp import Server, ServerConfig
        self.directory = directory
        self.stored = []
        hooks = dict(hooks or {})
        hooks.setdefault("on_stored", self.stored.append)
        self.server = Server(ServerConfig(port=0, host="127.0.0.1", output_directory=str(directory), **config),
                             **hooks)
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"handle_signals": False},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "server did not stop"


@pytest.fixture
def server(tmp_path):
    """fastscp embedded in this process, writing to tmp_path/'out'."""
    out = tmp_path / "out"
    out.mkdir()
    srv = InProcessServer(out)
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(**config):
        out = tmp_path / ("out%d" % len(servers))
        out.mkdir()
        srv = InProcessServer(out, **config)
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        srv.stop()


def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Process:
    """A server subprocess listening on a port, with its output collected."""

    def __init__(self, argv: List[str], port: int, env=None):
        self.port = port
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        if not wait_for(lambda: is_listening(port) or self.proc.poll() is not None, timeout=20):
            self.stop()
            raise RuntimeError("%s did not start listening" % argv[0])
        if self.proc.poll() is not None:
            out, err = self.proc.communicate()
            raise RuntimeError("%s exited: %s %s" % (argv, out, err))

    def stop(self):
        terminate(self.proc)
        out, err = self.proc.communicate()
        self.stdout, self.stderr = out, err
        return out, err


def listening(port: int) -> bool:
    """A socket listens on `port` (read from /proc: a probing connection
    would be a peer that the server logs, rules judge or a balancer relays)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False


class LoggedProcess:
    """A server process, up once it listens (seen in /proc, no probe);
    its output goes to files in `logdir`, so that a test can wait for a
    line while it runs (`stderr_text`) and a chatty one never blocks."""

    def __init__(self, argv: List[str], port: int, env, logdir: Path):
        self.port = port
        self._out, self._err = logdir / ("stdout-%d" % port), logdir / ("stderr-%d" % port)
        with open(self._out, "w") as out, open(self._err, "w") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        if not wait_for(lambda: listening(port) or self.proc.poll() is not None, timeout=30):
            self.stop()
            raise RuntimeError("%s did not start listening" % argv)
        if self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("%s exited: %s" % (argv, self.stderr))

    def stderr_text(self) -> str:
        return self._err.read_text(errors="replace")

    def stop(self) -> None:
        terminate(self.proc)
        self.stdout = self._out.read_text(errors="replace")
        self.stderr = self.stderr_text()


@pytest.fixture
def spawn():
    """Start servers as processes: spawn('fastscp'|'dcmtk', outdir, *options, env=None) -> Process
    (env: variables set on top of the usual environment)."""
    procs = []

    def start(kind: str, outdir, *options, env=None):
        port = free_port()
        if kind == "fastscp":
            argv = [sys.executable, "-m", "fastscp", *map(str, options), "-od", str(outdir), str(port)]
            base = None
        else:
            argv = [STORESCP, *map(str, options), "-od", str(outdir), str(port)]
            base = DCMTK_ENV
        if env:
            base = dict(os.environ if base is None else base, **env)
        p = Process(argv, port, base)
        procs.append(p)
        return p
    yield start
    for p in procs:
        p.stop()
