"""+ac/--access-control: host access control through the system's TCP
wrappers library, as storescp.

The rule language is tested differentially against Debian's tcpdmatch over
a generated corpus (tcpwrap_corpus.py); the server end to end against
Debian's storescp +ac.  Both servers read /etc/hosts.allow and
/etc/hosts.deny, so each runs in a private mount namespace (unshare -m)
where the test's tables, and an /etc/hosts naming the loopback peers, are
bind-mounted over the system's files, which stay untouched.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import List, Sequence

import pytest

from conftest import ECHOSCU, DCMTK_ENV, STORESCP, LoggedProcess, free_port, wait_for
from dicomnet import associate_from
import tcpwrap_corpus

from fastscp import ServerConfig, access, options
from fastscp.errors import ConfigError

TESTS = Path(__file__).parent
LIBWRAP = "/usr/lib/x86_64-linux-gnu/libwrap.so.0"

#: the namespace's /etc/hosts: names for some loopback peers (others have none)
PEER_HOSTS = """\
127.0.0.1 localhost
127.0.0.7 peer7.example.org
127.0.0.8 peer8
"""

#: mounts the files given first over the paths given next, then runs the rest
_MOUNT_AND_RUN = """
while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 97; shift 2; done
shift
exec "$@"
"""


def in_namespace(mounts: Sequence[tuple], argv: Sequence[str]) -> List[str]:
    """argv run in a private mount namespace with (file, over path) bind mounts."""
    words = [w for pair in mounts for w in pair]
    return ["unshare", "--mount", "sh", "-c", _MOUNT_AND_RUN, "sh", *words, "--", *argv]


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(in_namespace([("/dev/null", "/etc/hosts.allow")], ["cat", "/etc/hosts.allow"]),
                       capture_output=True, timeout=30)
    return r.returncode == 0 and r.stdout == b""


pytestmark = [
    pytest.mark.skipif(not access.available(), reason="no libwrap on this system"),
    pytest.mark.skipif(not _namespaces_work(), reason="needs root and unshare --mount"),
]


# ---------------------------------------------------------------------------
# the option and the configuration
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv, enforced", [
    (["+ac"], True), (["--access-control"], True), (["+ac", "-ac"], False), (["-ac", "+ac"], True),
    ([], False)])
def test_option_sets_access_control(argv, enforced):
    cmd, st = options.evaluate(argv + ["11112"])
    assert ServerConfig(**options.config_fields(cmd, st)).access_control is enforced


def test_refused_where_libwrap_cannot_be_loaded(tmp_path):
    """With libwrap.so.0 hidden (an empty file over it), the CLI and
    ServerConfig.validate() refuse +ac with the same message; -ac still runs."""
    hide = [("/dev/null", os.path.realpath(LIBWRAP))]
    probe = ("from fastscp import ServerConfig\n"
             "from fastscp.errors import ConfigError\n"
             "ServerConfig().validate()\n"
             "try:\n    ServerConfig(access_control=True).validate()\n"
             "except ConfigError as exc:\n    print(exc)\n")
    r = subprocess.run(in_namespace(hide, [sys.executable, "-c", probe]), capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == access.UNAVAILABLE + "\n"
    r = subprocess.run(in_namespace(hide, [sys.executable, "-m", "fastscp", "-q", "+ac", "11112"]),
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.endswith("error: %s\n" % access.UNAVAILABLE)
    r = subprocess.run(in_namespace(hide, [sys.executable, "-c",
                                           "from fastscp import access; print(access.available())"]),
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == "False\n", r.stderr


def test_validate_accepts_access_control_with_libwrap():
    ServerConfig(access_control=True).validate()
    with pytest.raises(ConfigError):
        ServerConfig(access_control=True, max_pdu=1).validate()


# ---------------------------------------------------------------------------
# the rule language, differentially against tcpdmatch
# ---------------------------------------------------------------------------

CORPUS_CASES = 220


@pytest.mark.skipif(not os.access(tcpwrap_corpus.TCPDMATCH, os.X_OK), reason="tcpd not installed")
def test_rules_agree_with_tcpdmatch(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cases = tcpwrap_corpus.generate(CORPUS_CASES)
    tcpwrap_corpus.write(cases, corpus)
    hosts = tmp_path / "hosts"
    hosts.write_text(tcpwrap_corpus.HOSTS)
    r = subprocess.run(in_namespace([(str(hosts), "/etc/hosts")],
                                    [sys.executable, str(TESTS / "tcpwrap_corpus.py"), "judge", str(corpus)]),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    results = json.loads((corpus / "results.json").read_text())
    disagreements = [x for x in results if x["tcpdmatch"] != x["fastscp"]]
    assert not disagreements, (disagreements[:5], [
        (corpus / x["case"] / t).read_text() for x in disagreements[:1] for t in ("hosts.allow", "hosts.deny")])
    # every client was judged (names with their addresses from the namespace's
    # /etc/hosts, bare addresses without a name), and the corpus decides both ways
    clients = {x["client"] for x in results}
    assert clients == set(tcpwrap_corpus.CLIENTS)
    named = {(x["name"], x["address"]) for x in results if x["name"]}
    assert ("host1.example.org", "10.1.2.3") in named and ("multi.example.org", "10.9.9.8") in named
    assert all(x["name"] is None for x in results if x["client"][0].isdigit())
    denied = sum(1 for x in results if not x["tcpdmatch"])
    assert len(results) >= CORPUS_CASES * len(tcpwrap_corpus.CLIENTS)
    assert 0.1 * len(results) < denied < 0.9 * len(results)
    # each kind of pattern appears in rules (the generator's coverage)
    text = "".join(a + d for a, d in cases)
    for needle in ("LOCAL", "KNOWN", "UNKNOWN", "PARANOID", "EXCEPT", "/255.", ".example.org", "\\\n",
                   "#", ": allow", ": deny", "spawn", "@"):
        assert needle in text, needle


def test_request_is_storescps(tmp_path):
    """What storescp hands libwrap: the resolver's whole name (not checked
    against the address: PARANOID never matches), or unknown (-dhl)."""
    def tables(name: str, allow: str, deny: str) -> access.HostsAccess:
        (tmp_path / (name + ".allow")).write_text(allow)
        (tmp_path / (name + ".deny")).write_text(deny)
        return access.HostsAccess(str(tmp_path / (name + ".allow")), str(tmp_path / (name + ".deny")))
    h = tables("name", "storescp: peer7.example.org\n", "storescp: ALL\n")
    assert h.permits("peer7.example.org", "10.0.0.1")
    assert not h.permits("peer7", "10.0.0.1")
    assert not h.permits(None, "10.0.0.1")
    h = tables("paranoid", "", "storescp: PARANOID\nstorescp: UNKNOWN EXCEPT 10.0.0.2\n")
    assert h.permits("somewhere.else.example", "10.0.0.1")
    assert not h.permits(None, "10.0.0.1") and h.permits(None, "10.0.0.2")


def test_concurrent_checks_keep_their_own_tables(tmp_path):
    """libwrap's table paths are process globals: checks from several
    threads at once, each with its own tables, get their own verdicts."""
    judges = []
    for i in range(6):
        (tmp_path / ("%d.allow" % i)).write_text("")
        (tmp_path / ("%d.deny" % i)).write_text("storescp: 10.0.0.%d\n" % i)
        judges.append(access.HostsAccess(str(tmp_path / ("%d.allow" % i)), str(tmp_path / ("%d.deny" % i))))
    wrong = []

    def check(i: int) -> None:
        for _ in range(300):
            if judges[i].permits(None, "10.0.0.%d" % i) or not judges[i].permits(None, "10.0.0.%d" % (i + 1)):
                wrong.append(i)
    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(judges))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not wrong and not any(t.is_alive() for t in threads)


# ---------------------------------------------------------------------------
# end to end, beside storescp +ac
# ---------------------------------------------------------------------------

class Tables:
    """hosts.allow, hosts.deny and /etc/hosts for servers in a namespace."""

    def __init__(self, directory: Path, allow: str, deny: str):
        self.allow, self.deny, self.hosts = directory / "allow", directory / "deny", directory / "hosts"
        self.allow.write_text(allow)
        self.deny.write_text(deny)
        self.hosts.write_text(PEER_HOSTS)

    def start(self, kind: str, outdir: Path, *opts: str) -> "Server":
        port = free_port()
        if kind == "fastscp":
            argv, env = [sys.executable, "-m", "fastscp"], None
        else:
            argv, env = [STORESCP], DCMTK_ENV
        mounts = [(str(self.allow), "/etc/hosts.allow"), (str(self.deny), "/etc/hosts.deny"),
                  (str(self.hosts), "/etc/hosts")]
        return Server(in_namespace(mounts, [*argv, *opts, "-od", str(outdir), str(port)]), port, env,
                      outdir)


class Server(LoggedProcess):
    """A server process in its namespace; storescp closes a denied
    connection first and logs after, so a test waits for the line."""

    def denials(self) -> List[str]:
        return _wrapper_lines(self.stderr_text())

    def wait_denials(self, count: int) -> None:
        """Wait (bounded) until `count` denials were logged."""
        wait_for(lambda: len(self.denials()) >= count, timeout=20)


def _wrapper_lines(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if "TCP wrapper" in line]


#: (hosts.allow, hosts.deny, server options, [(peer address, granted)])
SCENARIOS = {
    "deny-all": ("", "storescp: ALL\n", [], [("127.0.0.1", False), ("127.0.0.7", False)]),
    "deny-all-dhl": ("", "storescp: ALL\n", ["-dhl"], [("127.0.0.1", False)]),
    "allow-suffix": ("storescp: .example.org\n", "ALL: ALL\n", [],
                     [("127.0.0.7", True), ("127.0.0.8", False), ("127.0.0.1", False)]),
    # a peer without a name is known by its address (storescp: getnameinfo)
    "unknown": ("", "storescp: UNKNOWN\n", [], [("127.0.0.9", True), ("127.0.0.1", True)]),
    "known": ("", "storescp: KNOWN EXCEPT 127.0.0.1\n", [], [("127.0.0.9", False), ("127.0.0.1", True)]),
    "unknown-dhl": ("", "storescp: UNKNOWN\n", ["-dhl"], [("127.0.0.1", False)]),
    "paranoid-never": ("", "storescp: PARANOID\n", [], [("127.0.0.1", True), ("127.0.0.9", True)]),
    "local": ("", "storescp: LOCAL\n", [], [("127.0.0.8", False), ("127.0.0.7", True)]),
    "netmask-except": ("", "storescp: 127.0.0.0/255.255.255.248 EXCEPT 127.0.0.1\n", [],
                       [("127.0.0.5", False), ("127.0.0.1", True), ("127.0.0.9", True)]),
    "other-daemon": ("", "in.telnetd: ALL\nALL EXCEPT storescp: ALL\n", [], [("127.0.0.1", True)]),
    "deny-option": ("storescp: 127.0.0.1 127.0.0.8 : deny\n", "", [],
                    [("127.0.0.1", False), ("127.0.0.8", False), ("127.0.0.7", True)]),
    "access-full-wins": ("", "ALL: ALL\n", ["-ac"], [("127.0.0.1", True)]),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_like_storescp(tmp_path, name):
    allow, deny, opts, peers = SCENARIOS[name]
    tables = Tables(tmp_path, allow, deny)
    outcomes = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        server = tables.start(kind, out, "+ac", *opts)
        try:
            got = [(peer, associate_from(peer, server.port)) for peer, _ in peers]
            server.wait_denials(sum(1 for _, granted in peers if not granted))
        finally:
            server.stop()
        # a denied peer got no byte; the server went on to serve the next peer
        assert got == [(peer, 2 if granted else None) for peer, granted in peers], (kind, server.stderr)
        outcomes[kind] = _wrapper_lines(server.stderr)
    assert outcomes["fastscp"] == outcomes["dcmtk"]
    assert len(outcomes["dcmtk"]) == sum(1 for _, granted in peers if not granted)


def test_denial_log_line(tmp_path):
    tables = Tables(tmp_path, "", "storescp: 127.0.0.7 127.0.0.9\n")
    server = tables.start("fastscp", tmp_path, "+ac", "-d")
    try:
        assert associate_from("127.0.0.7", server.port) is None
        assert associate_from("127.0.0.9", server.port) is None
        assert associate_from("127.0.0.1", server.port) == 2
        server.wait_denials(2)
    finally:
        server.stop()
    lines = server.stderr.splitlines()
    i = lines.index("E: Receiving Association failed: 0006:0324 TCP wrapper: denied connection "
                    "from peer7.example.org (127.0.0.7)")
    assert lines[i - 1] == "D: Association Received: peer7"
    i = lines.index("E: Receiving Association failed: 0006:0324 TCP wrapper: denied connection "
                    "from 127.0.0.9 (127.0.0.9)")
    assert lines[i - 1] == "D: Association Received: 127"      # as storescp shows it


def test_spawn_runs_like_storescp(tmp_path):
    """A spawn option runs its shell command with %-expansions (client
    address, name, daemon) before the verdict, in both."""
    outputs = {}
    for kind in ("dcmtk", "fastscp"):
        log = tmp_path / ("spawned-" + kind)
        d = tmp_path / kind
        d.mkdir()
        tables = Tables(d, "storescp: 127.0.0.7 : spawn echo %%a %%h %%d %%c >> %s\n" % log, "ALL: ALL\n")
        server = tables.start(kind, d, "+ac")
        try:
            assert associate_from("127.0.0.7", server.port) == 2
            assert associate_from("127.0.0.1", server.port) is None
        finally:
            server.stop()
        outputs[kind] = log.read_text()
    assert outputs["fastscp"] == outputs["dcmtk"] == "127.0.0.7 peer7.example.org storescp peer7.example.org\n"


def test_twist_denies_instead_of_ending_the_server(tmp_path):
    """storescp, asked to twist its first connection, closes stdin and exits
    with status 0 (libwrap cannot hand a shell a socket it was not given);
    fastscp makes libwrap deny it instead and keeps serving."""
    tables = Tables(tmp_path, "storescp: 127.0.0.7 : twist /bin/echo twisted\n", "")
    reference = tables.start("dcmtk", tmp_path, "+ac")
    try:
        assert associate_from("127.0.0.7", reference.port) is None
        assert wait_for(lambda: reference.proc.poll() is not None, timeout=20)
        assert reference.proc.returncode == 0
    finally:
        reference.stop()
    server = tables.start("fastscp", tmp_path, "+ac")
    try:
        assert associate_from("127.0.0.7", server.port) is None
        assert associate_from("127.0.0.7", server.port) is None
        assert associate_from("127.0.0.1", server.port) == 2
        assert server.proc.poll() is None
    finally:
        server.stop()
    assert "twisted" not in server.stdout


def test_slow_host_lookup_does_not_hold_up_other_peers(make_server, monkeypatch):
    """The check waits for the peer's host name in the peer's own thread:
    others are checked and served meanwhile."""
    import fastscp.hostnames as hostnames
    if not (access.HostsAccess().permits(None, "127.0.0.5")
            and access.HostsAccess().permits("localhost", "127.0.0.1")):
        pytest.skip("this machine's /etc/hosts.allow|deny refuse loopback peers")
    release = threading.Event()
    real = hostnames.reverse_lookup

    def slow_for_peer5(address):
        if address == "127.0.0.5":
            release.wait(30)
        return real(address)
    monkeypatch.setattr(hostnames, "reverse_lookup", slow_for_peer5)
    srv = make_server(access_control=True)
    waiting = {}
    slow = threading.Thread(target=lambda: waiting.update(result=associate_from("127.0.0.5", srv.port)))
    slow.start()
    try:
        for _ in range(3):
            r = subprocess.run([ECHOSCU, "127.0.0.1", str(srv.port)], env=DCMTK_ENV, capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stderr
        assert slow.is_alive() and "result" not in waiting
    finally:
        release.set()
        slow.join(30)
    assert waiting["result"] == 2
