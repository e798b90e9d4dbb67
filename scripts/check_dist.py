"""What fastscp's sdist and wheel hold: exactly the sources, exactly the package.

    python scripts/check_dist.py SOURCES SDIST WHEEL

SOURCES lists the checkout's files the distributions were built from
(NUL-separated, as ``git ls-files -z`` prints them; scripts/check-wheel.sh
writes it).  Prints what it found and exits 1 when

* the sdist lacks one of the package's sources or of the files the build
  reads, or carries a file that is not a source: a build product (Cython's
  C, the dictionary tables generated from pydicom) would let the wheel be
  built from something else than the sources;
* the wheel lacks a module, a stub, the extension compiled from each
  ``.pyx`` or the dictionary tables, or carries anything else: C or Cython
  sources, tests, build directories, shared libraries that ``auditwheel
  repair`` grafted in (a library outside the manylinux policy).
"""
from __future__ import annotations

import importlib.util
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Iterable, List, Set

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "fastscp"
#: where the package's sources are in the checkout and the sdist
PACKAGE_SOURCES = "src/%s/" % PACKAGE
#: the files the build reads besides the package's sources
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
#: the package's sources a wheel carries as they are; a .pyx is carried compiled
SHIPPED = re.compile(r".*\.(py|pyi|pxd)|py\.typed")
#: what setuptools adds to an sdist besides the sources
SDIST_METADATA = re.compile(r"PKG-INFO|setup\.cfg|src/%s\.egg-info/.*" % PACKAGE)


def generated_tables() -> str:
    """The name of the dictionary tables file that the build generates
    (``fastscp.dictdata``, loaded by its path as setup.py loads it)."""
    spec = importlib.util.spec_from_file_location(
        "_check_dist_dictdata", REPO / PACKAGE_SOURCES / "dictdata.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.FILE_NAME)


def package_sources(sources: Iterable[str]) -> List[str]:
    """The package's sources, relative to the package directory."""
    return sorted(s[len(PACKAGE_SOURCES):] for s in sources if s.startswith(PACKAGE_SOURCES))


def check_sdist(names: List[str], sources: Set[str]) -> List[str]:
    """Problems with an sdist whose files (below its top directory) are names."""
    problems = ["stray file %s (not a source)" % n
                for n in names if n not in sources and not SDIST_METADATA.fullmatch(n)]
    wanted = list(BUILD_INPUTS) + [PACKAGE_SOURCES + s for s in package_sources(sources)]
    problems += ["missing %s" % w for w in wanted if w not in names]
    return problems


def check_wheel(names: List[str], sources: Set[str], tables: str) -> List[str]:
    """Problems with a wheel whose files are names."""
    package = package_sources(sources)
    wanted = {"%s/%s" % (PACKAGE, s) for s in package if SHIPPED.fullmatch(s)}
    wanted.add("%s/%s" % (PACKAGE, tables))
    # an extension module: NAME.so or NAME.<platform tag>.so, from NAME.pyx
    compiled = {s[:-len(".pyx")] for s in package if s.endswith(".pyx")}
    extension = re.compile(r"%s/(%s)(\.[^/]*)?\.so" % (PACKAGE, "|".join(map(re.escape, compiled))))
    metadata = re.compile(r"%s-[^/]*\.dist-info/.*" % PACKAGE)
    problems, extensions = [], set()
    for name in names:
        match = extension.fullmatch(name)
        if match:
            extensions.add(match.group(1))
        elif name not in wanted and not metadata.fullmatch(name):
            problems.append("stray file %s (not part of the package)" % name)
    problems += ["missing %s" % w for w in sorted(wanted) if w not in names]
    problems += ["missing the extension module compiled from %s%s.pyx" % (PACKAGE_SOURCES, m)
                 for m in sorted(compiled - extensions)]
    if not any(metadata.fullmatch(n) for n in names):
        problems.append("no %s-*.dist-info metadata" % PACKAGE)
    return problems


def sdist_names(path: str) -> List[str]:
    """The files of an sdist, without its top directory (name-version/)."""
    with tarfile.open(path) as archive:
        return [m.name.split("/", 1)[1] for m in archive.getmembers() if not m.isdir() and "/" in m.name]


def wheel_names(path: str) -> List[str]:
    with zipfile.ZipFile(path) as archive:
        return [n for n in archive.namelist() if not n.endswith("/")]


def report(path: str, names: List[str], problems: List[str], expected: str) -> bool:
    for problem in problems:
        print("check_dist: %s: %s" % (Path(path).name, problem), file=sys.stderr)
    if not problems:
        print("check_dist: %s: %d files, exactly the %s" % (Path(path).name, len(names), expected))
    return not problems


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print("usage: python scripts/check_dist.py SOURCES SDIST WHEEL", file=sys.stderr)
        return 2
    sources_list, sdist, wheel = argv
    sources = set(filter(None, Path(sources_list).read_text().split("\0")))
    in_sdist, in_wheel = sdist_names(sdist), wheel_names(wheel)
    sdist_ok = report(sdist, in_sdist, check_sdist(in_sdist, sources), "sources")
    wheel_ok = report(wheel, in_wheel, check_wheel(in_wheel, sources, generated_tables()), "package")
    return 0 if sdist_ok and wheel_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
