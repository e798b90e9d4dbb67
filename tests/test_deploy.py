"""The systemd units in deploy/ as systemd reads them: `systemd-analyze
verify` (Debian's `systemd`) with ExecStart= pointing at the installed
console script, and their ExecStart= command lines accepted by fastscp."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
FASTSCP = str(Path(sys.executable).parent / "fastscp")
#: where the README installs fastscp for the units
UNIT_FASTSCP = "/opt/fastscp/bin/fastscp"
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"


def _exec_start(unit: Path):
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1
    return shlex.split(lines[0][len("ExecStart="):])


def test_units_verify(tmp_path):
    if not os.access(SYSTEMD_ANALYZE, os.X_OK):
        pytest.fail("systemd-analyze is required (apt-get install systemd)")
    names = ["fastscp.socket", "fastscp.service", "fastscp-inetd.socket", "fastscp-inetd@.service"]
    for name in names:
        text = (DEPLOY / name).read_text()
        (tmp_path / name).write_text(text.replace(UNIT_FASTSCP, FASTSCP))
    units = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", *units],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("name", ["fastscp.service", "fastscp-inetd@.service"])
def test_exec_start_options_are_accepted(name, tmp_path):
    """The unit's options, with a missing output directory: fastscp gets as
    far as that check (the command line itself is fine).  --inetd puts
    /dev/null on stderr, so there only the exit code tells."""
    argv = _exec_start(DEPLOY / name)
    assert argv[0] == UNIT_FASTSCP
    argv = [FASTSCP] + [str(tmp_path / "missing") if a.startswith("/var/lib/fastscp") else a
                        for a in argv[1:]]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if "--inetd" in argv:
        assert done.returncode == 1
    else:
        assert done.stderr.endswith("F: specified output directory does not exist\n")
