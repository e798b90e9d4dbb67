"""Shared helpers of the atheris fuzz targets in this directory.

Nothing here is a test of its own: each ``fuzz_*.py`` imports it.
"""
from __future__ import annotations

import os
import sys
import tempfile

#: FASTSCP_FUZZ_ALLOW_KNOWN=1 lets a target go on past the findings already
#: written up in FINDINGS.md (each target names them), so that a long run
#: can look for new ones.  Unset (the default), a known finding is reported
#: like any other, which makes the targets regression tests of the fixes.
ALLOW_KNOWN = os.environ.get("FASTSCP_FUZZ_ALLOW_KNOWN", "") not in ("", "0")


class Finding(AssertionError):
    """An oracle of a fuzz target failed (not an exception the code under test raised)."""


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise Finding(msg)


def command_and_sink_modules():
    """(module with decode_command/encode_command/COMMAND_VR, module with
    CallbackSink): fastscp._dimse and fastscp._sink where they exist, else
    fastscp._pdv (the layout before the command codec and the sinks were
    split out of it)."""
    import importlib
    mods = []
    for name in ("fastscp._dimse", "fastscp._sink"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            mods.append(importlib.import_module("fastscp._pdv"))
    return tuple(mods)


def scratch_fd() -> int:
    """A file descriptor of an unlinked temporary file (in /dev/shm when it
    exists), reused by every run of a target: ftruncate + lseek between runs."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix="fastscp-fuzz-", dir=base)
    os.unlink(path)
    return fd


def reset_fd(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)


def read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def chunks(data: bytes, seed: int):
    """Split data into pieces whose sizes follow from seed (the fuzzer picks
    the seed byte, so it picks the chunking): 0 = one piece, 1 = one byte at
    a time, else pieces of 1..(seed) bytes in a fixed pseudo-random pattern."""
    n = len(data)
    if seed == 0 or n == 0:
        yield data
        return
    if seed == 1:
        for i in range(n):
            yield data[i:i + 1]
        return
    # a small linear congruential generator: cheap and deterministic
    state = seed * 2654435761 & 0xFFFFFFFF
    sizes = (1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 16, 64, 255, 1000, 4096)
    i = 0
    while i < n:
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
        k = sizes[(state >> 16) % len(sizes)]
        if (state >> 8) & 3 == 0:
            k = 1 + (state >> 20) % max(1, seed)
        yield data[i:i + k]
        i += k


def instrument_module(namespace: dict) -> None:
    """Instrument (atheris bytecode coverage) the functions and methods
    defined in the module whose globals are ``namespace``, and in this one,
    so that the harness's own branches (event kinds, error paths) count as
    coverage -- the only Python-level feedback the compiled modules give."""
    import atheris
    import types
    for ns in (namespace, globals()):
        name = ns.get("__name__")
        for key, value in list(ns.items()):
            if isinstance(value, types.FunctionType) and value.__module__ == name:
                ns[key] = atheris.instrument_func(value)
            elif isinstance(value, type) and value.__module__ == name:
                for attr, meth in list(vars(value).items()):
                    if isinstance(meth, types.FunctionType):
                        setattr(value, attr, atheris.instrument_func(meth))


def main(test_one_input, argv=None) -> None:
    import atheris
    atheris.Setup(sys.argv if argv is None else argv, test_one_input)
    atheris.Fuzz()
