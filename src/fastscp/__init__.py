"""fastscp: a fast DICOM Storage SCP with a compiled (Cython) receive path.

Public API:

- `Server`, `ServerConfig`: the embeddable receiver and its configuration;
  `AsyncServer`: the same inside an asyncio application (coroutine callbacks);
  `serve(config)`: the command line's server (its process models);
- `StoredObject`, `AssociationInfo`, `StoreRequest`, `CompletedStudy`: what
  the callbacks receive;
- `Stats`: what ``server.stats()`` returns (counts since the start);
- `Association`: the sans-IO protocol core (bytes in, bytes out);
- `DatasetWriter`: the sans-IO dataset stream writer;
- `configure_logging`: logging from a log4cplus properties file (as ``-lc``).
"""
from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastscp._writer import DatasetWriter
    from fastscp.aio import AsyncServer
    from fastscp.association import Association
    from fastscp.config import ServerConfig
    from fastscp.logconfig import configure_logging
    from fastscp.processes import serve
    from fastscp.records import AssociationInfo, CompletedStudy, StoredObject, StoreRequest
    from fastscp.server import Server
    from fastscp.stats import Stats

from fastscp._version import __version__

_COMPILED = ("_sink", "_dimse", "_pdu", "_pdv", "_writer", "_counters")


def _check_compiled() -> None:
    """Fail loudly if the compiled hot path is missing (no slow fallback).
    Only the files are looked for: importing the modules here would cost
    every start what only some runs need."""
    here = os.path.dirname(__file__)
    for name in _COMPILED:
        if not any(os.path.isfile(os.path.join(here, name + suffix)) for suffix in EXTENSION_SUFFIXES):
            raise ImportError(
                "fastscp's compiled module fastscp.%s is missing; install fastscp with pip so "
                "that its Cython extensions are built" % name)


_check_compiled()

#: the public names and the modules they live in, imported when first asked
#: for: `fastscp.cli` imports only what its command line needs (start-up time,
#: which --inetd pays per association)
_EXPORTS = {
    "Server": "fastscp.server",
    "ServerConfig": "fastscp.config",
    "Association": "fastscp.association",
    "DatasetWriter": "fastscp._writer",
    "AssociationInfo": "fastscp.records",
    "CompletedStudy": "fastscp.records",
    "StoredObject": "fastscp.records",
    "StoreRequest": "fastscp.records",
    "Stats": "fastscp.stats",
    "AsyncServer": "fastscp.aio",
    "configure_logging": "fastscp.logconfig",
    "serve": "fastscp.processes",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module 'fastscp' has no attribute %r" % name)
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value         # asked once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = ["Server", "AsyncServer", "serve", "ServerConfig", "StoredObject", "AssociationInfo", "StoreRequest",
           "CompletedStudy", "Stats", "Association", "DatasetWriter", "configure_logging",
           "__version__"]
