"""The ``fastscp`` command (its console script calls `run`) and ``python -m fastscp``."""
import gc
import sys


def run() -> int:
    """Import the command line and run it; the exit code.

    Start-up matters (``--inetd`` starts a process per association), and
    much of it is the garbage collector walking, again and again, the
    modules' objects while they are being imported -- objects that live as
    long as the process.  So the collector is off while importing, and
    what the imports made is frozen out of its reach (`gc.freeze`, as
    before a fork) before it is switched on again.
    """
    gc.disable()
    try:
        from fastscp.cli import main
    finally:
        gc.freeze()
        gc.enable()
    return main()


if __name__ == "__main__":
    sys.exit(run())
