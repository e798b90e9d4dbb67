"""Start-up (``--inetd`` starts a process per association): what an
association of C-ECHOs imports.  Absent modules, not times: a time limit
would fail on a busy machine (benchmarks/inetd.py measures the time)."""
from __future__ import annotations

import subprocess
import sys

from conftest import ECHOSCU
from test_inetd import _serve_once

#: what the start and an echo association must not import: dataclasses and
#: what it brings, TLS without TLS options, the writer and its dictionary
#: before a C-STORE, daily-rolling logs, the idna codec of a str host lookup
NOT_IMPORTED = ("dataclasses", "inspect", "ast", "dis", "ssl", "fastscp.tls_suites", "datetime",
                "fastscp._writer", "fastscp._dictionary", "fastscp.dictdata", "encodings.idna",
                "pydicom", "asyncio", "fastscp.logconfig")

#: the console script's entry point, then the modules listed when it is done
_PROGRAM = ("import sys\n"
            "from fastscp.__main__ import run\n"
            "rc = run()\n"
            "open(sys.argv[1], 'w').write('\\n'.join(sorted(sys.modules)))\n"
            "sys.exit(rc)\n")


def _modules_after(tmp_path, client_argv) -> set:
    marker = tmp_path / "modules"
    out = tmp_path / "out"
    out.mkdir()
    server, client = _serve_once([sys.executable, "-c", _PROGRAM, str(marker), "--inetd", "-od", str(out)],
                                 client_argv)
    assert server.returncode == 0 and client[0] == 0, (server, client)
    return set(marker.read_text().split("\n"))


def test_an_echo_association_imports_nothing_it_does_not_use(tmp_path):
    modules = _modules_after(tmp_path, lambda port: [ECHOSCU, "127.0.0.1", str(port)])
    assert "fastscp.association" in modules             # the listing is that of a served association
    assert sorted(m for m in modules if m.split(".")[0] in NOT_IMPORTED or m in NOT_IMPORTED) == []


def test_version_imports_no_server_module():
    code = ("import sys\nsys.argv = ['fastscp', '--version']\n"
            "from fastscp.__main__ import run\nrc = run()\n"
            "print(' '.join(sorted(m for m in sys.modules if m in ('fastscp.server', 'fastscp._writer',"
            " 'dataclasses', 'ssl'))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == ""
