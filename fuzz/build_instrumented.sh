#!/usr/bin/env bash
# Build a coverage-instrumented (libFuzzer SanitizerCoverage) + AddressSanitizer
# copy of fastscp's three Cython modules OUTSIDE the repository, without
# touching setup.py / pyproject.toml / the test venv.
#
#   bash fuzz/build_instrumented.sh [OUT_DIR]        (default /tmp/fastscp-fuzz-build)
#
# Then run a target with:
#   PYTHONPATH=OUT_DIR/src LD_PRELOAD=<atheris.path()>/asan_with_fuzzer.so \
#   ASAN_OPTIONS=detect_leaks=0 .venv-test/bin/python fuzz/fuzz_pdu.py ...
# (fuzz/run.sh does this when FASTSCP_FUZZ_BUILD=OUT_DIR is set).
#
# Needs clang (Debian: apt-get install clang-16; CLANG=... to pick another)
# and Cython, which is installed into a throw-away build venv next to OUT_DIR.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="${1:-/tmp/fastscp-fuzz-build}"
CLANG="${CLANG:-$(command -v clang-16 || command -v clang)}"
PY="${PYTHON:-$REPO/.venv-test/bin/python}"
SANITIZE="${SANITIZE:-address,fuzzer-no-link}"
BUILDENV="${OUT}-venv"

BASEPY="$("$PY" -c 'import sys; print(sys._base_executable)')"
if [ ! -x "$BUILDENV/bin/python" ]; then
    "$BASEPY" -m venv "$BUILDENV"
    "$BUILDENV/bin/pip" install -q "Cython>=3.0" "setuptools>=64" wheel
fi

rm -rf "$OUT"
mkdir -p "$OUT"
# a private copy of the sources and the (unchanged) build script
cp -r "$REPO/src" "$REPO/setup.py" "$REPO/pyproject.toml" "$REPO/README.md" "$OUT/"
find "$OUT/src" -name '*.so' -o -name '*.c' | xargs -r rm -f
cd "$OUT"
CC="$CLANG" LDSHARED="$CLANG -shared" \
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=$SANITIZE" \
LDFLAGS="-fsanitize=$SANITIZE" \
    "$BUILDENV/bin/python" setup.py -q build_ext --inplace
for so in src/fastscp/_*.so; do
    n=$(nm "$so" | grep -c '__sanitizer_cov\|__sancov' || true)
    echo "$so: $n sancov symbols"
done
echo "instrumented build in $OUT/src  (use PYTHONPATH=$OUT/src)"
