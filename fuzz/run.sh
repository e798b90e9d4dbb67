#!/usr/bin/env bash
# Run the atheris fuzz targets one after the other, each for SECONDS.
#
#   bash fuzz/run.sh SECONDS [TARGET...]      TARGET: pdu pdv writer proxy tlsread certinfo (default: all)
#
# Prints, per target, the executions libFuzzer reports
# (stat::number_of_executed_units) and whether it crashed; exits 1 if any
# target crashed (a Python exception other than the expected ones, a failed
# oracle, or a sanitizer report), 2 on a usage error.
#
# Environment:
#   PYTHON                    interpreter with fastscp + atheris (default .venv-test/bin/python)
#   FASTSCP_FUZZ_BUILD=DIR    use the instrumented build made by fuzz/build_instrumented.sh DIR
#                             (PYTHONPATH=DIR/src, LD_PRELOAD atheris' asan_with_fuzzer.so)
#   FASTSCP_FUZZ_WORK=DIR     working corpora, logs and crash files (default /tmp/fastscp-fuzz-work)
#   FASTSCP_FUZZ_ALLOW_KNOWN=1  go on past the findings already in FINDINGS.md
#   FUZZ_ARGS                 extra libFuzzer flags (e.g. "-dict=... -jobs=...")
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: bash fuzz/run.sh SECONDS [pdu|pdv|writer|proxy|tlsread|certinfo ...]" >&2
    exit 2
fi
SECONDS_EACH="$1"
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(pdu pdv writer proxy tlsread certinfo)
PY="${PYTHON:-$REPO/.venv-test/bin/python}"
WORK="${FASTSCP_FUZZ_WORK:-/tmp/fastscp-fuzz-work}"

ENVV=()
if [ -n "${FASTSCP_FUZZ_BUILD:-}" ]; then
    ATHERIS_DIR="$("$PY" -c 'import atheris; print(atheris.path())')"
    ENVV=(PYTHONPATH="$FASTSCP_FUZZ_BUILD/src${PYTHONPATH:+:$PYTHONPATH}"
          LD_PRELOAD="$ATHERIS_DIR/asan_with_fuzzer.so"
          ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}")
fi

declare -A MAXLEN=([pdu]=16384 [pdv]=4096 [writer]=65536 [proxy]=4096 [tlsread]=4096 [certinfo]=4096)
status=0
for t in "${TARGETS[@]}"; do
    script="$HERE/fuzz_$t.py"
    if [ ! -f "$script" ]; then
        echo "unknown target $t" >&2
        exit 2
    fi
    mkdir -p "$WORK/$t/corpus" "$WORK/$t/artifacts"
    log="$WORK/$t/fuzz.log"
    before=$(ls "$WORK/$t/artifacts" | wc -l)
    start=$(date +%s)
    # new inputs go to the first (working) corpus directory, never into the repository
    env "${ENVV[@]}" "$PY" "$script" \
        -max_total_time="$SECONDS_EACH" -timeout=60 -rss_limit_mb=4096 \
        -max_len="${MAXLEN[$t]}" -print_final_stats=1 \
        -artifact_prefix="$WORK/$t/artifacts/" ${FUZZ_ARGS:-} \
        "$WORK/$t/corpus" "$HERE/corpus/$t" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
    cov=$(grep -a -E '^#[0-9]+.*cov: ' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1 ft \2/')
    after=$(ls "$WORK/$t/artifacts" | wc -l)
    if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
        crashed="yes"
        status=1
        art=$(ls -t "$WORK/$t/artifacts" | head -1)
    else
        crashed="no"
        art=""
    fi
    printf '%-6s executions=%s time=%ss %s crashed=%s%s\n' "$t" "${execs:-?}" "$took" \
        "${cov:-}" "$crashed" "${art:+ input=$WORK/$t/artifacts/$art}"
    if [ "$crashed" = yes ]; then
        grep -a -A8 -E 'Uncaught Python exception|ERROR: AddressSanitizer|ERROR: libFuzzer' "$log" | head -24 | sed 's/^/    /'
        echo "    log: $log"
    fi
done
exit $status
