"""Exception hierarchy of fastscp (plain Python, shared by the compiled modules)."""


class FastSCPError(Exception):
    """Base class of every fastscp error."""


class ProtocolError(FastSCPError):
    """The peer broke the DICOM upper layer or DIMSE protocol.

    The association is ended with A-ABORT; the server keeps serving.
    """


class DatasetError(FastSCPError, ValueError):
    """A received data set cannot be parsed (bad lengths, truncation, ...)."""


class OutputError(FastSCPError):
    """A received data set cannot be written in the requested output form,
    e.g. encapsulated (compressed) pixel data with an uncompressed output
    transfer syntax (storescp: "cannot write DICOM file", status 0xA700)."""


class ConfigError(FastSCPError):
    """An invalid configuration (bad option value or combination)."""


class TLSSetupError(FastSCPError):
    """TLS cannot be set up (private key, certificate, ciphersuites): the
    fatal lines storescp prints, in order (``lines``)."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
