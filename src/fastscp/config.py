"""The one typed configuration object that the CLI fills and the server reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

#: Implementation Class UID and Version Name fastscp announces and writes.
IMPLEMENTATION_CLASS_UID = "2.25.194636720508453799044712928277789063228"
IMPLEMENTATION_VERSION_NAME = "FASTSCP_010"


@dataclass
class ServerConfig:
    """Everything that decides how the server behaves.

    Field defaults are those of DCMTK storescp.
    """

    port: int = 104
    #: address to bind; "" = all IPv4 interfaces (as storescp)
    host: str = ""
    #: our AE title (storescp never checks the called AE title against it)
    ae_title: str = "STORESCP"
    #: maximum P-DATA-TF PDU length we receive (-pdu), 4096..131072
    max_pdu: int = 16384
    #: existing directory where objects are written (-od)
    output_directory: str = "."
    #: seconds to wait for a complete A-ASSOCIATE-RQ and after A-ABORT (-ta)
    acse_timeout: float = 30.0
    #: seconds a connected association may stay silent; None = no limit (-ts)
    socket_timeout: Optional[float] = 60.0
    #: seconds to wait for data set PDVs after a C-STORE-RQ; None = unlimited (-td)
    dimse_timeout: Optional[float] = None
