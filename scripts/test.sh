#!/usr/bin/env bash
# Install everything the tests need and run them:  bash scripts/test.sh [pytest args]
#  - Debian's dcmtk (storescp/storescu/echoscu, the reference peers), when missing
#  - fastscp itself (compiled) with its test extras, in a virtual environment
#  - then: mypy --strict over the package, a short fuzz run, pytest
set -euo pipefail
cd "$(dirname "$0")/.."

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
        trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
VENV=${FASTSCP_TEST_VENV:-.venv-test}
if [ -z "${VIRTUAL_ENV:-}" ]; then
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
"$PYTHON" -m pip install -q ".[test]"
# the installed package and its .pyi stubs type-check strictly (from tests/,
# so that `fastscp` is the installed package, not the sources)
(cd tests && "$PYTHON" -m mypy --strict --no-incremental -p fastscp)
# a short run of every fuzz target (fuzz/README.md: longer runs), before the tests
FASTSCP_FUZZ_WORK=$(mktemp -d) PYTHON="$PYTHON" bash fuzz/run.sh "${FASTSCP_FUZZ_SECONDS:-10}"
# Run from tests/ so that `import fastscp` is the installed, compiled package.
cd tests
exec "$PYTHON" -m pytest -p no:cacheprovider -c ../pyproject.toml --rootdir .. "$@"
