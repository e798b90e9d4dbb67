#!/usr/bin/env bash
# The README's install command, run as a new user would: with the system
# Python (PYTHON, default /usr/bin/python3; on Debian 12 it is PEP 668
# "externally managed"), in an empty home directory, from a copy of the
# sources; then `fastscp --version` must work.  Usage: bash scripts/check-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

# the README's first ```sh block: the install line, then the line that runs fastscp
install_line=$(awk '/^```sh$/ {inside=1; next} inside {print; exit}' README.md)
fastscp=$(awk '/^```sh$/ {inside=1; next} inside && ++n == 2 {print; exit}' README.md \
    | grep -o '[^ ]*/bin/fastscp' || true)
case "$install_line${fastscp:+ok}" in
    *"pip install ."*ok) ;;
    *) echo "check-install: no install command found in README.md: $install_line" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/home" "$work/src" "$work/bin"
# the sources as a checkout has them (no build/ or virtual environments)
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/src"
# `python3` in the command is the system Python
ln -s "$PYTHON" "$work/bin/python3"

echo "check-install: $install_line  (python3 = $PYTHON, HOME=$work/home)"
(cd "$work/src" && env -i HOME="$work/home" PATH="$work/bin:/usr/bin:/bin" LANG=C.UTF-8 \
    $(env | grep -E '^PIP_' || true) bash -euc "$install_line")
version=$(env -i HOME="$work/home" PATH=/usr/bin:/bin bash -c \
    "cd / && $fastscp --version")
echo "$version" | head -n 1
echo "$version" | grep -q "fastscp" || { echo "check-install: fastscp --version failed" >&2; exit 1; }
