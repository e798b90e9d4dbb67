"""fastscp: a fast DICOM Storage SCP with a compiled (Cython) receive path.

Public API:

- `Server`, `ServerConfig`: the embeddable receiver and its configuration;
  `AsyncServer`: the same inside an asyncio application (coroutine callbacks);
  `serve(config)`: the command line's server (its process models);
- `StoredObject`, `AssociationInfo`, `StoreRequest`, `CompletedStudy`: what
  the callbacks receive;
- `Association`: the sans-IO protocol core (bytes in, bytes out);
- `DatasetWriter`: the sans-IO dataset stream writer;
- `configure_logging`: logging from a log4cplus properties file (as ``-lc``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastscp.aio import AsyncServer
    from fastscp.logconfig import configure_logging
    from fastscp.processes import serve

from fastscp._version import __version__

_COMPILED = ("_sink", "_dimse", "_pdu", "_pdv", "_writer")


def _check_compiled() -> None:
    """Fail loudly if the compiled hot path is missing (no slow fallback)."""
    import importlib
    for name in _COMPILED:
        try:
            module = importlib.import_module("fastscp." + name)
        except ImportError as exc:
            raise ImportError(
                "fastscp's compiled module fastscp.%s is missing (%s); "
                "install fastscp with pip so that its Cython extensions are built" % (name, exc)
            ) from exc
        if not module.__file__ or module.__file__.endswith((".py", ".pyx")):
            raise ImportError("fastscp.%s is not compiled" % name)


_check_compiled()

from fastscp.association import Association  # noqa: E402
from fastscp.config import ServerConfig  # noqa: E402
from fastscp.server import Server  # noqa: E402
from fastscp.records import (  # noqa: E402
    AssociationInfo, CompletedStudy, StoredObject, StoreRequest,
)
from fastscp._writer import DatasetWriter  # noqa: E402



def __getattr__(name: str) -> object:
    # imported when first asked for: asyncio, -lc's modules and the process models cost
    # start-up time that the command line's other paths do not need
    if name == "AsyncServer":
        from fastscp.aio import AsyncServer
        return AsyncServer
    if name == "configure_logging":
        from fastscp.logconfig import configure_logging
        return configure_logging
    if name == "serve":
        from fastscp.processes import serve
        return serve
    raise AttributeError("module 'fastscp' has no attribute %r" % name)


__all__ = ["Server", "AsyncServer", "serve", "ServerConfig", "StoredObject", "AssociationInfo", "StoreRequest",
           "CompletedStudy", "Association", "DatasetWriter", "configure_logging",
           "__version__"]
