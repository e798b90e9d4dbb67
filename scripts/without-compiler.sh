#!/usr/bin/env bash
# Run a command on this machine as if it had no C compiler:
#     bash scripts/without-compiler.sh COMMAND [ARG...]
# The command runs in a mount namespace of its own (unshare -m) in which
#  - every C/C++ compiler driver on PATH (cc, gcc, gcc-12,
#    x86_64-linux-gnu-gcc, c++, clang...) is covered by /dev/null, at the
#    file its symlinks end at (so every other name of it is covered too):
#    not executable, so a search of PATH for an executable (execvp, `which`,
#    Python's shutil.which, which setuptools and ctypes use) skips it;
#  - gcc's own programs (/usr/lib/gcc: cc1, collect2...) by an empty,
#    read-only directory, so a copy of the gcc driver elsewhere cannot
#    compile C either.
# Everything else is the machine as it is (the tests' peers: dcmtk, xinetd,
# openssl, systemd's tools); the mounts vanish with the namespace.  Before
# the command runs, the same search for compilers must find none.
# Needs root (CAP_SYS_ADMIN, for the mounts): on a CI machine, a VM or a
# privileged container.  Without it the command runs with the compilers in
# sight and FASTSCP_COMPILERS_VISIBLE=1 (FASTSCP_REQUIRE_NO_COMPILER=1: fail).  Hiding compilers by PATH alone cannot work, as
# /usr/bin, where the tests' peers are, also holds gcc.
set -euo pipefail
shopt -s nullglob

MARK=_FASTSCP_WITHOUT_COMPILER     # set inside the namespace: nested calls just run the command
if [ "${!MARK:-}" != 1 ]; then
    if ! unshare --mount --propagation private true 2>/dev/null; then
        # an unprivileged container: the compilers stay in sight, which the
        # suite reports (test_dist skips its check); pip still installs from
        # binaries only, so nothing can be compiled on the way
        echo "without-compiler: cannot make a mount namespace (unshare -m needs root with" \
             "CAP_SYS_ADMIN: a VM or a privileged container); compilers stay visible" >&2
        [ "${FASTSCP_REQUIRE_NO_COMPILER:-}" != 1 ] || exit 2
        exec env FASTSCP_COMPILERS_VISIBLE=1 "$@"
    fi
    exec env "$MARK=1" unshare --mount --propagation private -- bash "$0" "$@"
fi

# the compiler programs on PATH: their names, and the targets of their symlinks
compilers_on_path() {
    local dir f
    local IFS=:
    for dir in $PATH; do
        [ -d "$dir" ] || continue
        for f in "$dir"/{cc,c89,c99,c++,gcc,g++,clang,clang++,tcc} \
                 "$dir"/{gcc,g++,clang,clang++}-[0-9]* "$dir"/*-{gcc,g++}{,-[0-9]*}; do
            if [ -f "$f" ] && [ -x "$f" ]; then readlink -f "$f"; fi
        done
    done | sort -u
}
# directories of the compilers' own programs (cc1 and friends)
COMPILER_DIRS=(/usr/lib/gcc /usr/libexec/gcc /usr/lib/gcc-cross)

if [ $# -eq 0 ]; then
    echo "usage: bash scripts/without-compiler.sh COMMAND [ARG...]" >&2
    exit 2
fi
hidden=()
while read -r program; do
    mount --bind /dev/null "$program"
    hidden+=("${program##*/}")
done < <(compilers_on_path)
for dir in "${COMPILER_DIRS[@]}"; do
    if [ -d "$dir" ]; then
        mount -t tmpfs -o ro,mode=755,size=4k fastscp-no-compiler "$dir"
        hidden+=("$dir")
    fi
done
left=$(compilers_on_path)
if [ -n "$left" ]; then
    echo "without-compiler: compilers still found: $left" >&2
    exit 1
fi
echo "without-compiler: hidden ${hidden[*]:-nothing (no compiler here)}" >&2
exec "$@"
