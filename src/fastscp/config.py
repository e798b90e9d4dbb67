"""The one typed configuration object that the CLI fills and the server reads.

`ServerConfig.validate()` refuses every combination storescp refuses, with
storescp's message text (naming the options that set the fields), so a
library user gets the checks the command line gets.  The command line
(`fastscp.options`) maps each option onto a field of this class; the field
defaults here are the one place for storescp's defaults.
"""
from __future__ import annotations

from fastscp.record import Record
from typing import Any, Optional, Tuple

#: Implementation Class UID and Version Name fastscp announces and writes.
IMPLEMENTATION_CLASS_UID = "2.25.194636720508453799044712928277789063228"
IMPLEMENTATION_VERSION_NAME = "FASTSCP_010"
#: the version name written in bit-preserving mode (+B; storescp: OFFIS_DCMBP_367)
IMPLEMENTATION_VERSION_NAME_BP = "FASTSCP_BP_010"


#: defaults of the inflation limits (ServerConfig and fastscp.deflate)
MAX_INFLATED_SIZE = 4096 * 1024 * 1024
MAX_INFLATION_RATIO = 100

#: sort modes (ServerConfig.sort_mode)
SORT_TIMESTAMP = "timestamp"          # -ss
SORT_STUDY_UID = "study-uid"          # -su
SORT_PATIENT_NAME = "patient-name"    # -sp
SORT_MODES = (SORT_TIMESTAMP, SORT_STUDY_UID, SORT_PATIENT_NAME)

#: group length handling (ServerConfig.group_length)
GROUP_LENGTH_RECALC = "recalc"        # +g=
GROUP_LENGTH_CREATE = "create"        # +g
GROUP_LENGTH_REMOVE = "remove"        # -g
GROUP_LENGTH_MODES = (GROUP_LENGTH_RECALC, GROUP_LENGTH_CREATE, GROUP_LENGTH_REMOVE)

#: process models (ServerConfig.process_model; fastscp.processes)
PROCESS_AUTO = "auto"        # worker processes when the options keep no state across associations
PROCESS_SINGLE = "single"    # --single-process: one process, a thread per association
PROCESS_FORK = "fork"        # --fork: a child process per association
PROCESS_MODELS = (PROCESS_AUTO, PROCESS_SINGLE, PROCESS_FORK)

#: CRL checks (ServerConfig.tls_crl_check)
CRL_CHECK_LEAF = "leaf"               # +crv (also implied by a +crl that loads)
CRL_CHECK_CHAIN = "chain"             # +cra
CRL_CHECKS = (CRL_CHECK_LEAF, CRL_CHECK_CHAIN)

#: what is asked of a TLS peer's certificate (ServerConfig.tls_peer_cert)
PEER_CERT_REQUIRE = "require"         # -rc
PEER_CERT_VERIFY = "verify"           # -vc
PEER_CERT_IGNORE = "ignore"           # -ic
PEER_CERT_MODES = (PEER_CERT_REQUIRE, PEER_CERT_VERIFY, PEER_CERT_IGNORE)

#: bounds of -pdu (ServerConfig.max_pdu)
MIN_MAX_PDU = 4096
MAX_MAX_PDU = 131072


class ServerConfig(Record):
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
    #: look up the peer's host name (reverse DNS); False = dotted IP (-dhl)
    host_lookup: bool = True
    #: check each connection against /etc/hosts.allow and /etc/hosts.deny
    #: with the system's TCP wrappers library, daemon name "storescp",
    #: before any PDU (+ac; fastscp.access); False = every host (-ac)
    access_control: bool = False
    #: refuse every association: A-ASSOCIATE-RJ 1/1/1 (--refuse)
    refuse: bool = False
    #: reject associations without an Implementation Class UID (--reject)
    reject_without_implementation_uid: bool = False
    #: receive and parse data sets but write nothing (--ignore)
    ignore: bool = False
    #: seconds to pause after each C-STORE response (--sleep-after)
    sleep_after: float = 0.0
    #: seconds to pause at the start, after each data PDV and at the end of
    #: each C-STORE (--sleep-during)
    sleep_during: float = 0.0
    #: A-ABORT once a data set is complete, before storing (--abort-after)
    abort_after: bool = False
    #: A-ABORT as soon as data set PDVs arrive (--abort-during)
    abort_during: bool = False
    #: storescp's -up; fastscp always removes white space from UIDs (as dcmdata)
    uid_padding: bool = False
    #: how `fastscp.serve` runs associations: "auto" (worker processes unless
    #: the options keep state across associations, then "single"), "single"
    #: (--single-process: threads of one process; what `Server` always does),
    #: "fork" (--fork: a child process per association)
    process_model: str = PROCESS_AUTO
    #: connections served at once (--max-associations); more wait in the
    #: listen backlog until one ends
    max_associations: int = 200
    #: load balancers (IP addresses or networks, e.g. "10.0.0.5",
    #: "10.0.0.0/24") whose connections must begin with a PROXY protocol v1
    #: or v2 header; its sender address then stands for the peer
    #: (--proxy-protocol, a fastscp extension; fastscp.balancer); () = none
    proxy_protocol: Tuple[str, ...] = ()
    #: seconds a PDU may take from its first byte to its last, however the
    #: bytes trickle in (--pdu-timeout); None = no limit
    pdu_timeout: Optional[float] = 60.0
    #: a deflated data set may not inflate to more than this many bytes
    #: (--max-inflated-size, in MiB on the command line)
    max_inflated_size: int = MAX_INFLATED_SIZE
    #: ... nor, once past deflate.INFLATION_RATIO_FLOOR bytes, to more than
    #: this many times the deflated bytes received so far (--max-inflation-ratio)
    max_inflation_ratio: int = MAX_INFLATION_RATIO
    #: serve Prometheus metrics over HTTP on this port (--metrics-port; needs
    #: prometheus_client; 0 = any free port, see `Server.metrics_port`); None = no endpoint
    metrics_port: Optional[int] = None
    #: the address the metrics endpoint listens on (--metrics-address); the
    #: default keeps it on this machine
    metrics_address: str = "127.0.0.1"
    #: seconds between the one-line summaries logged at INFO (-v) while
    #: associations are active
    summary_interval: float = 10.0
    #: transfer syntax preference list (+x=, +xe, ... +xa: uids.PREFERENCE_LISTS);
    #: None = storescp's default (explicit VR local byte order first)
    transfer_syntaxes: Optional[Tuple[str, ...]] = None
    #: accept abstract syntaxes the UID dictionary does not name (-pm)
    promiscuous: bool = False
    #: association negotiation profile (-xf; fastscp.profiles.Profile); replaces
    #: the built-in lists
    profile: Optional[Any] = None
    #: log the A-ASSOCIATE-RQ/AC parameters at INFO level (+v)
    verbose_pc: bool = False
    #: write data sets byte for byte as received, meta from the command (+B)
    bit_preserving: bool = False
    #: write the file meta information (+F); False = bare data set (-F)
    write_file_meta: bool = True
    #: group length elements: "recalc" (+g=), "create" (+g), "remove" (-g)
    group_length: str = GROUP_LENGTH_RECALC
    #: sequences and items with undefined lengths (-e); False = explicit (+e)
    undefined_lengths: bool = False
    #: +p f i: pad the file to a multiple of f bytes, items to a multiple of
    #: i bytes (0 = not); None = no padding (-p)
    padding: Optional[Tuple[int, int]] = None
    #: give defined-length UN elements their dictionary VR (+uc; -uc keeps them)
    convert_un: bool = False
    #: write VRs newer than 1993 (UN, UT, UC, UR, OF, OD, OL, OV, SV, UV) as
    #: they are (+u); False: as OB (-u)
    new_vrs: bool = True
    #: transfer syntax UID files are written in (+te/+tb/+ti/+td); None = as
    #: received (+t=).  Encapsulated (compressed) objects cannot be converted:
    #: they fail with status 0xA700 and leave no file, as in storescp
    write_transfer_syntax: Optional[str] = None
    #: zlib level for objects stored deflated (+cl, 0..9)
    compression_level: int = 6
    #: sort objects into one subdirectory per study: "timestamp" (-ss),
    #: "study-uid" (-su), "patient-name" (-sp); None = flat (fastscp.placement)
    sort_mode: Optional[str] = None
    #: the prefix of -ss/-su subdirectory names
    sort_prefix: str = ""
    #: file names "<prefix>.X.<new UID>" (+uf)
    unique_filenames: bool = False
    #: file names from the time of the C-STORE-RQ, "YYYYMMDDHHMMSSmmm[_NNNN].<prefix>" (-tn)
    timenames: bool = False
    #: appended verbatim to every file name (-fe)
    filename_extension: str = ""
    #: shell command run after each C-STORE (-xcr; placeholders #p #f #a #c #r)
    exec_on_reception: Optional[str] = None
    #: shell command run when a study is complete (-xcs; #p #a #c #r)
    exec_on_eostudy: Optional[str] = None
    #: rename a complete study's files to <2-char prefix><6-digit number> (-rns)
    rename_on_eostudy: bool = False
    #: seconds without objects after which the current study is complete (-tos)
    eostudy_timeout: Optional[float] = None
    #: wait for the commands to finish (-xs); otherwise they run in the background
    exec_sync: bool = False
    # -- TLS (fastscp.tls; every connection must complete a TLS handshake) --
    #: (private key file, certificate file): serve TLS (+tls); None = plain TCP
    tls_key_cert: Optional[Tuple[str, str]] = None
    #: the private key's password (+pw; "" = -pw); None = asked for on the
    #: terminal or stdin if the key is encrypted (+ps)
    tls_password: Optional[str] = None
    #: key, certificate, trusted certificates and CRLs are DER files (-der)
    tls_der: bool = False
    #: files of trusted certificates (and CRLs) (+cf), directories of them (+cd)
    tls_ca_files: Tuple[str, ...] = ()
    tls_ca_dirs: Tuple[str, ...] = ()
    #: CRL files (+crl; one that loads implies leaf checks)
    tls_crl_files: Tuple[str, ...] = ()
    #: CRL checks: "leaf" (+crv), "chain" (+cra), None (unless a +crl loaded)
    tls_crl_check: Optional[str] = None
    #: security profile: "8996" (+pg), "8996-mod" (+pm), "bcp195-nd" (+py),
    #: "bcp195" (+px), "bcp195-ex" (+pz), "basic" (+pb), "aes" (+pa), "null" (+pn)
    tls_profile: str = "8996"
    #: ciphersuites added to the profile's (+cs; IANA or OpenSSL names)
    tls_ciphers: Tuple[str, ...] = ()
    #: DH parameter file replacing the built-in ffdhe2048 group (+dp)
    tls_dh_params: Optional[str] = None
    #: refuse clients whose SNI names another server (--expect-sni)
    tls_expect_sni: Optional[str] = None
    #: mixed into the random generator at start-up (+rs)
    tls_seed_file: Optional[str] = None
    #: write 1024 random bytes after each connection (+ws/+wf) to
    #: tls_write_seed_file, or back to tls_seed_file if that is None
    tls_write_seed: bool = False
    tls_write_seed_file: Optional[str] = None
    #: the peer's certificate: "require" (-rc), "verify" (-vc), "ignore" (-ic)
    tls_peer_cert: str = PEER_CERT_REQUIRE
    #: an embedding application's own server context, used as it is instead
    #: of the tls_* settings above (which must then keep their defaults)
    tls_context: Optional[Any] = None

    def validate(self) -> None:
        """Raise ConfigError for a value or a combination storescp refuses
        (its message, naming the options that set the fields), or one the
        server cannot honour.  Checks run in storescp's order, so the first
        message is the one storescp prints."""
        from fastscp import configcheck
        configcheck.validate(self)
