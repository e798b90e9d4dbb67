"""fastscp: a fast DICOM Storage SCP with a compiled (Cython) receive path.

Public API:

- `Server`, `ServerConfig`: the embeddable receiver and its configuration;
- `StoredObject`, `AssociationInfo`, `StoreRequest`, `CompletedStudy`: what
  the callbacks receive;
- `Association`: the sans-IO protocol core (bytes in, bytes out);
- `DatasetWriter`: the sans-IO dataset stream writer.
"""
from __future__ import annotations

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

__all__ = ["Server", "ServerConfig", "StoredObject", "AssociationInfo", "StoreRequest",
           "CompletedStudy", "Association", "DatasetWriter", "__version__"]
