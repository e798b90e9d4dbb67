"""Typed interface of fastscp._tlsread: TLS records read in C."""
from typing import Any, Optional

FULL: int
WANT_READ: int
WANT_WRITE: int
CLOSED: int

def bind(module_file: Optional[str]) -> bool:
    """Look up OpenSSL's functions through the loaded ``_ssl`` module."""

class RecordReader:
    """Reads the decrypted records of one ``_ssl._SSLSocket``; LookupError
    when its layout or OpenSSL cannot be verified."""

    state: int
    def __init__(self, native: Any, context: Any, fd: int) -> None: ...
    def read_into(self, buffer: Any) -> int: ...
