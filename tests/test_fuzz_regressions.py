"""Every input a fuzz target ever failed on (fuzz/regressions/<target>/) is
replayed through its harness, with the harness's oracles: each must pass."""
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
CASES = sorted((d.name, f) for d in (FUZZ / "regressions").iterdir() if d.is_dir()
               for f in sorted(d.iterdir()) if f.is_file())


def test_there_are_regression_inputs():
    assert CASES, "fuzz/regressions is empty"


@pytest.mark.parametrize("target,path", CASES, ids=[p.name for _, p in CASES])
def test_fuzz_regression(target, path):
    res = subprocess.run([sys.executable, str(FUZZ / ("fuzz_%s.py" % target)), str(path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
