#!/usr/bin/env bash
# Install everything the tests need and run them:  bash scripts/test.sh [pytest args]
#  - Debian's dcmtk (storescp/storescu/echoscu, the reference peers), when missing
#  - fastscp itself (compiled) with its test extras, in a virtual environment
#  - then: mypy --strict over the package, a short fuzz run, pytest
# FASTSCP_INSTALL says what is tested:
#   source (default)  the checkout, compiled by pip in the virtual environment
#   wheel             the wheel scripts/build-wheel.sh builds from the sdist and
#                     checks (auditwheel), installed from binaries only into a
#                     fresh virtual environment; installing and the tests run
#                     where no C compiler can be found (scripts/without-compiler.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
INSTALL=${FASTSCP_INSTALL:-source}
case "$INSTALL" in
    source | wheel) ;;
    *) echo "test.sh: FASTSCP_INSTALL is source or wheel, not $INSTALL" >&2; exit 2 ;;
esac
at_exit=()     # commands run when the script ends
trap 'for command in "${at_exit[@]}"; do eval "$command"; done' EXIT

# Debian packages of the real peers the tests start (one per line):
#   dcmtk: storescp/storescu/echoscu, the reference
#   tcpd: tcpdmatch, the oracle of the +ac rule language test (test_access_control.py)
#   xinetd: the super-server the --inetd tests start (tests/superserver.py)
#   openssl: the TLS tests make keys, certificates and CRLs and probe with s_client
#   systemd: systemd-socket-activate (test_activation.py), systemd-analyze verify (test_deploy.py)
#   haproxy: the load balancer in front of three instances, run with deploy/haproxy.cfg (test_haproxy.py)
#   python3-venv, python3-dev: the README's install command with the system
#     Python (scripts/check-install.sh, run by .ci/run)
DEBIAN_PACKAGES=(
    dcmtk
    tcpd
    xinetd
    openssl
    systemd
    haproxy
    python3-venv
    python3-dev
)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # policy-rc.d: packages with daemons (inetd, haproxy) must not start them
    # here; the tests start their own instances on loopback ports
    if [ -d /usr/sbin ] && ! [ -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        at_exit+=('$SUDO rm -f /usr/sbin/policy-rc.d')
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
VENV=${FASTSCP_TEST_VENV:-.venv-test}
if [ "$INSTALL" = wheel ]; then
    NO_COMPILER=(bash "$PWD/scripts/without-compiler.sh")
    "${NO_COMPILER[@]}" true        # says before the build whether the compilers can be hidden
    work=$(mktemp -d -t fastscp-wheel.XXXXXX)
    at_exit+=('rm -rf "$work"')
    chmod 755 "$work"      # some tests run the installed fastscp as nobody
    wheel=$(PYTHON="$PYTHON" bash scripts/build-wheel.sh "$work/dist")
    VENV=$work/venv     # a fresh one, for this wheel only
    PACKAGE=(--only-binary=:all: "$wheel[test]")
    export FASTSCP_TESTED_WHEEL=$wheel      # tests/test_dist.py checks that it is what runs
else
    PACKAGE=(".[test]")
    NO_COMPILER=()
fi
if [ "$INSTALL" = wheel ] || [ -z "${VIRTUAL_ENV:-}" ]; then
    if ! [ -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV" || {
            SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
            "$PYTHON" -m venv "$VENV"
        }
    fi
    case "$VENV" in
        /*) PYTHON="$VENV/bin/python" ;;
        *) PYTHON="$PWD/$VENV/bin/python" ;;
    esac
else
    PYTHON=$(command -v python)
fi
"$PYTHON" -m pip install -q --upgrade pip
"${NO_COMPILER[@]}" "$PYTHON" -m pip install -q "${PACKAGE[@]}"
# the installed package and its .pyi stubs type-check strictly (from tests/,
# so that `fastscp` is the installed package, not the sources)
(cd tests && "${NO_COMPILER[@]}" "$PYTHON" -m mypy --strict --no-incremental -p fastscp)
# a short run of every fuzz target (fuzz/README.md: longer runs), before the tests
FASTSCP_FUZZ_WORK=$(mktemp -d) PYTHON="$PYTHON" "${NO_COMPILER[@]}" bash fuzz/run.sh "${FASTSCP_FUZZ_SECONDS:-10}"
# Run from tests/ so that `import fastscp` is the installed, compiled package.
cd tests
"${NO_COMPILER[@]}" "$PYTHON" -m pytest -p no:cacheprovider -c ../pyproject.toml --rootdir .. "$@"
