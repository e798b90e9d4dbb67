"""The distributions: scripts/check_dist.py's rules on made-up archives, and,
when the suite runs against a built wheel (FASTSCP_INSTALL=wheel
scripts/test.sh), that the wheel is what runs, with no C compiler to be found."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import shutil
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import fastscp

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load_check_dist():
    spec = importlib.util.spec_from_file_location("check_dist", SCRIPTS / "check_dist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dist = _load_check_dist()
SOURCES = {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "tests/test_x.py",
           "src/fastscp/__init__.py", "src/fastscp/_pdu.pyx", "src/fastscp/_pdu.pyi",
           "src/fastscp/_sink.pxd", "src/fastscp/py.typed"}
TABLES = check_dist.generated_tables()
GOOD_SDIST = sorted(s for s in SOURCES if not s.startswith("tests/")) + [
    "PKG-INFO", "setup.cfg", "src/fastscp.egg-info/SOURCES.txt"]
GOOD_WHEEL = ["fastscp/__init__.py", "fastscp/_pdu.pyi", "fastscp/_sink.pxd", "fastscp/py.typed",
              "fastscp/_pdu.cpython-311-x86_64-linux-gnu.so", "fastscp/" + TABLES,
              "fastscp-0.1.0.dist-info/METADATA", "fastscp-0.1.0.dist-info/RECORD"]


def test_sdist_of_exactly_the_sources_passes():
    assert check_dist.check_sdist(GOOD_SDIST, SOURCES) == []


@pytest.mark.parametrize("added", ["src/fastscp/_pdu.c", "src/fastscp/" + TABLES,
                                   "build/lib/fastscp/__init__.py"])
def test_sdist_with_a_build_product_fails(added):
    assert check_dist.check_sdist(GOOD_SDIST + [added], SOURCES) == [
        "stray file %s (not a source)" % added]


def test_sdist_without_a_cython_source_fails():
    names = [n for n in GOOD_SDIST if n != "src/fastscp/_pdu.pyx"]
    assert check_dist.check_sdist(names, SOURCES) == ["missing src/fastscp/_pdu.pyx"]


def test_wheel_of_exactly_the_package_passes():
    assert check_dist.check_wheel(GOOD_WHEEL, SOURCES, TABLES) == []


@pytest.mark.parametrize("added", [
    "fastscp/_pdu.pyx", "fastscp/_pdu.c", "tests/test_x.py",
    "fastscp.libs/libwrap-1a2b3c4d.so.0.7.6",           # grafted in by auditwheel repair
    "fastscp/_other.cpython-311-x86_64-linux-gnu.so",   # compiled from no .pyx of ours
])
def test_wheel_with_anything_else_fails(added):
    assert check_dist.check_wheel(GOOD_WHEEL + [added], SOURCES, TABLES) == [
        "stray file %s (not part of the package)" % added]


@pytest.mark.parametrize("removed, problem", [
    ("fastscp/_pdu.cpython-311-x86_64-linux-gnu.so",
     "missing the extension module compiled from src/fastscp/_pdu.pyx"),
    ("fastscp/" + TABLES, "missing fastscp/" + TABLES),
    ("fastscp/_pdu.pyi", "missing fastscp/_pdu.pyi"),
])
def test_wheel_without_part_of_the_package_fails(removed, problem):
    names = [n for n in GOOD_WHEEL if n != removed]
    assert check_dist.check_wheel(names, SOURCES, TABLES) == [problem]


def test_archives_are_listed_without_directories(tmp_path):
    sdist = tmp_path / "fastscp-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name in ("fastscp-0.1.0/", "fastscp-0.1.0/src/", "fastscp-0.1.0/src/fastscp/py.typed"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE if name.endswith("/") else tarfile.REGTYPE
            archive.addfile(info, io.BytesIO(b""))
    wheel = tmp_path / "fastscp-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fastscp/", b"")
        archive.writestr("fastscp/py.typed", b"")
    assert check_dist.sdist_names(str(sdist)) == ["src/fastscp/py.typed"]
    assert check_dist.wheel_names(str(wheel)) == ["fastscp/py.typed"]


TESTED_WHEEL = os.environ.get("FASTSCP_TESTED_WHEEL")


@pytest.mark.skipif(not TESTED_WHEEL, reason="the suite runs against the checkout, not a wheel")
def test_the_package_that_runs_is_the_wheels():
    """Every file of the package is the wheel's, byte for byte (its RECORD's hashes)."""
    installed = Path(fastscp.__file__).parent.parent
    with zipfile.ZipFile(TESTED_WHEEL) as wheel:
        record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
        rows = [line.split(",") for line in wheel.read(record).decode().splitlines()]
    package = [(path, digest) for path, digest, _ in rows if path.startswith("fastscp/")]
    assert len(package) > 50 and any(path.endswith(".so") for path, _ in package)
    for path, digest in package:
        algorithm, _, expected = digest.partition("=")
        actual = hashlib.new(algorithm, (installed / path).read_bytes()).digest()
        assert base64.urlsafe_b64encode(actual).rstrip(b"=").decode() == expected, path


@pytest.mark.skipif(not TESTED_WHEEL, reason="the suite runs against the checkout, not a wheel")
@pytest.mark.skipif(os.environ.get("FASTSCP_COMPILERS_VISIBLE") == "1",
                    reason="no mount namespace to hide the compilers in (scripts/without-compiler.sh"
                           " needs CAP_SYS_ADMIN); the wheel was installed from binaries only")
def test_no_c_compiler_can_be_found():
    configured = (sysconfig.get_config_var("CC") or "cc").split()[0]  # what setuptools would run
    for name in ("cc", "gcc", "c++", "g++", "clang", configured):
        assert shutil.which(name) is None, name
    assert not any(Path("/usr/lib/gcc").glob("*/*/cc1"))
