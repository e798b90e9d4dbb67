"""storescp's progress dots: while a data set arrives, ``RECV: ``, one ``.``
per data set PDV and a newline at its end, on stdout (flushed each time).

Only when the logger ``dcmtk.apps.storescp.progress`` is exactly at INFO
(`fastscp.log.PROGRESS_LOGGER`): with ``-v``, or a ``-lc`` file such as
DCMTK's logger.cfg that sets it; not with ``-d`` (debug output is assumed to
show each PDU).  Its level is looked up within fastscp's loggers only: an
application that embeds fastscp and sets Python's root logger to INFO gets
no dots.
"""
from __future__ import annotations

import logging
import sys
from typing import Optional

from .log import PROGRESS_LOGGER, ROOT_LOGGER


def _chained_level() -> int:
    """The progress logger's level as log4cplus sees it: its own, else the
    nearest ancestor's up to fastscp's root (NOTSET if none is set)."""
    logger: Optional[logging.Logger] = logging.getLogger(PROGRESS_LOGGER)
    while logger is not None:
        if logger.level != logging.NOTSET or logger.name == ROOT_LOGGER:
            return logger.level
        logger = logger.parent
    return logging.NOTSET


def shown() -> bool:
    """Whether the progress logger is at INFO (looked up once per
    association: a walk up the logger tree per object cost ~10 µs)."""
    return _chained_level() == logging.INFO


class ProgressDots:
    """The dots of one data set."""

    @classmethod
    def start(cls) -> "ProgressDots":
        """Write ``RECV: `` and return the dots of a data set that begins
        (when `shown()`)."""
        dots = cls()
        dots._write("RECV: ")
        return dots

    @staticmethod
    def _write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def pdvs(self, count: int) -> None:
        """``count`` more data set PDVs arrived."""
        self._write("." * count)

    def end(self) -> None:
        """The data set is complete."""
        self._write("\n")
