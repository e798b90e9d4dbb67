"""Typed interface of fastscp._openssl: calls into the OpenSSL of CPython's _ssl."""
from typing import Any, Optional, Sequence, Tuple

FULL: int
WANT_READ: int
WANT_WRITE: int
CLOSED: int

def bind(module_file: Optional[str]) -> bool:
    """Look up OpenSSL's functions through the loaded ``_ssl`` module."""

def set_tls13_ciphersuites(context: Any, suites: str) -> None:
    """The TLS 1.3 suites of a server context (LookupError: cannot be done
    here; ValueError: refused by OpenSSL)."""

def set_groups(context: Any, names: Sequence[str]) -> Tuple[str, ...]:
    """The key exchange groups of a server context, unknown ones left out;
    the names set (LookupError / ValueError as above)."""

class RecordReader:
    """Reads the decrypted records of one ``_ssl._SSLSocket``; LookupError
    when its layout or OpenSSL cannot be verified."""

    state: int
    def __init__(self, native: Any, context: Any, fd: int) -> None: ...
    def read_into(self, buffer: Any) -> int: ...
