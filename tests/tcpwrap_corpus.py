"""A generated corpus of hosts.allow/hosts.deny pairs, judged for a set of
clients by Debian's tcpdmatch and by fastscp.access.

Both judges run in one process started inside a private mount namespace
whose /etc/hosts (`HOSTS`) names the clients, so that name resolution is
the same for both and the system's /etc/hosts stays untouched:

    python tcpwrap_corpus.py judge DIR     (DIR holds case-NNNN/hosts.{allow,deny})

writes DIR/results.json: one entry per case, client and address that
tcpdmatch predicts for (a name with two addresses gives two).  tcpdmatch
(``-d``: the tables of the current directory) sets the request up as
storescp does: a client given as an address has the name ``unknown`` (as
with -dhl or a failed lookup); one given as a name has that name and each
of its addresses, with no forward check; user and server ``unknown``.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

TCPDMATCH = "/usr/sbin/tcpdmatch"

#: the /etc/hosts of the namespace
HOSTS = """\
127.0.0.1 localhost
10.1.2.3 host1.example.org host1
10.1.7.9 host2.example.org
192.168.1.7 other.example.net
10.5.5.5 nodots
10.9.9.9 multi.example.org
10.9.9.8 multi.example.org
"""
#: clients as given to tcpdmatch: names (resolved through HOSTS) and bare
#: addresses (name unknown)
CLIENTS = ("localhost", "host1.example.org", "host2.example.org", "other.example.net", "nodots",
           "multi.example.org", "127.0.0.1", "10.1.2.3", "10.2.3.4", "192.168.1.7", "172.16.0.1")

#: client patterns of hosts_access(5), by kind
CLIENT_PATTERNS: Dict[str, Tuple[str, ...]] = {
    "wildcard": ("ALL", "LOCAL", "KNOWN", "UNKNOWN", "PARANOID"),
    "address": ("127.0.0.1", "10.1.2.3", "10.2.3.4", "192.168.1.7", "10.5.5.5", "10.9.9.8"),
    "prefix": ("10.", "10.1.", "192.168.", "127.", "10.9.9.", "172."),
    "netmask": ("10.0.0.0/255.0.0.0", "10.1.0.0/255.255.0.0", "192.168.1.0/255.255.255.0",
                "10.9.9.8/255.255.255.254", "127.0.0.0/255.0.0.0"),
    "name": ("localhost", "host1.example.org", "HOST2.Example.ORG", "nodots", "other.example.net",
             "multi.example.org", "host1"),
    "suffix": (".example.org", ".org", ".example.net", ".net", ".xample.org"),
    "user": ("ALL@10.1.", "unknown@.example.org", "KNOWN@ALL", "root@ALL"),
}
DAEMON_PATTERNS = ("storescp", "ALL", "STORESCP", "in.telnetd", "storescp,in.telnetd",
                   "in.telnetd storescp", "ALL EXCEPT in.telnetd", "ALL EXCEPT storescp",
                   "storescp@ALL", "storescp@unknown", "storescp@localhost")
#: options after a rule (hosts_options(5)) that neither judge acts on beyond
#: the verdict: allow/deny override the table, spawn runs /bin/true (fastscp
#: only; tcpdmatch runs nothing)
OPTIONS = ("", "", "", "", " : allow", " : deny", " : ALLOW", " : spawn /bin/true", " : deny : spawn /bin/true")


def _patterns(rng: random.Random, kinds: List[str]) -> List[str]:
    """One to three client patterns, maybe with an EXCEPT list (nested rarely)."""
    def some() -> List[str]:
        return [rng.choice(CLIENT_PATTERNS[rng.choice(kinds)]) for _ in range(rng.randint(1, 3))]
    words = some()
    if rng.random() < 0.35:
        words += ["EXCEPT"] + some()
        if rng.random() < 0.2:
            words += ["EXCEPT"] + some()
    return words


def _join(rng: random.Random, words: List[str]) -> str:
    """Words separated as the rule language allows: blanks and/or commas,
    sometimes continued on the next line with a backslash."""
    out = words[0]
    for word in words[1:]:
        sep = rng.choice((" ", ", ", ",", "  ", "\t"))
        if word == "EXCEPT" or out.endswith("EXCEPT"):
            sep = " "
        if rng.random() < 0.08:
            sep = " \\\n  "
        out += sep + word
    return out


def _table(rng: random.Random, kinds: List[str]) -> str:
    lines = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.1:
            lines.append("# a comment: storescp: ALL")
        elif r < 0.15:
            lines.append("")
        elif r < 0.18:
            lines.append("storescp ALL")            # no ':': libwrap warns and skips it
        else:
            daemons = rng.choice(DAEMON_PATTERNS)
            clients = _join(rng, _patterns(rng, kinds))
            lines.append("%s : %s%s" % (daemons, clients, rng.choice(OPTIONS)))
    return "".join(line + "\n" for line in lines)


def generate(count: int, seed: int = 14) -> List[Tuple[str, str]]:
    """`count` (hosts.allow, hosts.deny) pairs."""
    rng = random.Random(seed)
    all_kinds = sorted(CLIENT_PATTERNS)
    cases = []
    for _ in range(count):
        # most cases draw from a few kinds so that rules interact
        kinds = rng.sample(all_kinds, rng.randint(1, 3))
        cases.append((_table(rng, kinds), _table(rng, kinds)))
    return cases


def write(cases: List[Tuple[str, str]], directory: Path) -> List[Path]:
    dirs = []
    for i, (allow, deny) in enumerate(cases):
        d = directory / ("case-%04d" % i)
        d.mkdir()
        (d / "hosts.allow").write_text(allow)
        (d / "hosts.deny").write_text(deny)
        dirs.append(d)
    return dirs


def parse_tcpdmatch(output: str) -> List[Tuple[Optional[str], str, bool]]:
    """tcpdmatch's predictions: (host name or None, address, granted)."""
    predictions = []
    name: Optional[str] = None
    address: Optional[str] = None
    for line in output.splitlines():
        key, _, value = line.partition(":")
        words = value.split()
        if key == "client" and words[0] == "hostname":
            name = words[1]
        elif key == "client" and words[0] == "address":
            address = words[1]
        elif key == "access":
            if address is None or words[0] not in ("granted", "denied"):
                raise ValueError("unexpected tcpdmatch output: %r" % output)
            predictions.append((name, address, words[0] == "granted"))
            name = address = None
    return predictions


def judge(directory: Path) -> None:
    from fastscp.access import HostsAccess
    results = []
    for d in sorted(directory.glob("case-*")):
        ours = HostsAccess(str(d / "hosts.allow"), str(d / "hosts.deny"))
        for client in CLIENTS:
            r = subprocess.run([TCPDMATCH, "-d", "storescp", client], cwd=d, capture_output=True,
                               text=True, timeout=30)
            if r.returncode != 0:
                raise RuntimeError("tcpdmatch %s in %s: %s" % (client, d, r.stderr))
            for name, address, granted in parse_tcpdmatch(r.stdout):
                results.append({"case": d.name, "client": client, "name": name, "address": address,
                                "tcpdmatch": granted, "fastscp": ours.permits(name, address)})
    (directory / "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "judge":
        sys.exit("usage: tcpwrap_corpus.py judge DIR")
    judge(Path(sys.argv[2]))
