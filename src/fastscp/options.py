"""The option table of fastscp and a parser for DCMTK's command line notation.

fastscp replaces DCMTK's ``storescp``, so scripts written for ``storescp``
must keep working: every option of ``storescp`` is known here under the same
short and long name, takes the same number of values, and produces the same
error messages as ``storescp`` when it is misused.  Options whose behaviour
fastscp does not implement yet are still recognised (so argument errors are
identical) but refused after parsing with a clear message.

The notation (measured against Debian's storescp 3.6.7):

* an argument is an option if it is at least two characters long, starts
  with ``+`` or ``-`` and its second character is not a decimal digit
  (``-5`` and ``+5`` are parameters); there is no bundling of short options;
* option values are the following argument words, whatever they look like;
* ``@file`` (as a top-level argument) is replaced by the words of ``file``;
  inside a command file, ``@x`` is an ordinary word;
* for mutually exclusive options ("groups") the rightmost one wins; for a
  value option given twice the last one wins;
* integers are parsed like C's ``sscanf("%ld")``/``sscanf("%lu")``: leading
  white space, optional sign, then digits; trailing junk is ignored.

Evaluation after parsing follows storescp's fixed order (behaviour spec
§1.3): port, logging, value minimums, then combinations section by
section; the first failing check is reported.  Only then are options that
fastscp does not implement refused (:func:`unavailable`).  Like storescp,
the ``--config-file`` profile is read right after its conflict checks; its
failures are fatal log lines (:class:`StartupError`), not command line
errors.  The TLS options are checked here; keys and certificates are loaded
when the server starts (`fastscp.tls`).
"""
from __future__ import annotations

import os
from fastscp.record import Record, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from fastscp import config as cfg
from fastscp import uids

PROGRAM = "fastscp"
DESCRIPTION = "DICOM storage (C-STORE) SCP"

#: the largest and smallest values of C's ``long``/``unsigned long`` (LP64)
LONG_MAX = 2 ** 63 - 1
LONG_MIN = -(2 ** 63)
ULONG_MAX = 2 ** 64 - 1

#: characters C's isspace() accepts (sscanf skips them before a number)
_C_SPACE = " \t\n\v\f\r"
#: characters that separate words in a command file
_CMDFILE_SPACE = " \t\n\r"

#: log level names accepted by ``--log-level`` (case-insensitive)
LOG_LEVELS = ("off", "fatal", "error", "warn", "info", "debug", "trace", "all")


class CommandLineError(Exception):
    """A command line storescp would refuse; ``str(exc)`` is the message
    printed after ``error: ``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StartupError(Exception):
    """A start-up failure that storescp reports as a fatal log line
    (``F: message``, exit 1) rather than a command line error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAvailableError(CommandLineError):
    """A valid storescp option that fastscp does not implement yet."""

    def __init__(self, option: "Option") -> None:
        super().__init__("option %s is not available yet in %s" % (option.long, PROGRAM))
        self.option = option


# ---------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------

class Value(Record, frozen=True):
    """One value word of an option."""

    #: "str", "int" (signed, like C long) or "uint" (unsigned, like C unsigned long)
    kind: str = "str"
    min: Optional[int] = None
    max: Optional[int] = None


class Option(Record, frozen=True):
    long: str
    short: Optional[str]
    #: help text (own words); "\n" separates lines
    help: str
    #: value description in DCMTK notation, e.g. "[s]econds: integer"
    value_help: str = ""
    values: Tuple[Value, ...] = ()
    #: mutually exclusive group: only the rightmost member given is honoured
    group: Optional[str] = None
    #: implemented by fastscp (otherwise recognised, then refused)
    built: bool = False
    #: wins over everything else if the line parses (-h, --version, +cc, +ph)
    exclusive: bool = False
    section: str = ""
    subsection: Optional[str] = None
    #: present in the DCMTK 3.6.9 manual only; Debian's 3.6.7 says "Unknown option"
    since_369: bool = False
    #: the ServerConfig field the option sets (None: it sets none, e.g. logging)
    field: Optional[str] = None
    #: what a flag (an option without values) sets `field` to
    value: Any = None
    #: a value option's converter: its checked values -> the value of `field`
    convert: Optional[Callable[..., Any]] = None
    #: further (field, value) pairs the option sets
    also: Tuple[Tuple[str, Any], ...] = ()
    #: every occurrence counts (+cf, +cs, ...): `field` gets the tuple of
    #: the converted values, in the order given
    repeatable: bool = False
    #: the OpenSSL ciphersuite the option needs: without it the option does
    #: not exist, as in storescp built with that TLS library (+pb needs 3DES)
    needs_suite: Optional[str] = None

    @property
    def available(self) -> bool:
        if self.needs_suite is None:
            return True
        from fastscp.tls_suites import suite_available
        return suite_available(self.needs_suite)

    def settings(self, values: Tuple[object, ...] = ()) -> List[Tuple[str, Any]]:
        """The (ServerConfig field, value) pairs this option sets, given its
        checked values."""
        if self.field is None:
            return []
        value = self.convert(*values) if self.convert is not None else self.value
        return [(self.field, value)] + list(self.also)

    @property
    def nvalues(self) -> int:
        return len(self.values)

    @property
    def names(self) -> str:
        return "%s/%s" % (self.short, self.long) if self.short else self.long


#: all options in help (and, per section, storescp evaluation) order
OPTIONS: List[Option] = []
#: [(section, [(subsection or None, [Option, ...]), ...]), ...] for the help text
SECTIONS: List[Tuple[str, List[Tuple[Optional[str], List[Option]]]]] = []

_S = Value("str")


def _section(title: str) -> None:
    SECTIONS.append((title, [(None, [])]))


def _sub(title: str) -> None:
    SECTIONS[-1][1].append((title, []))


def _opt(short: Optional[str], long: str, help: str, value_help: str = "",
         values: Sequence[Value] = (), **kw: Any) -> None:
    title, subs = SECTIONS[-1]
    opt = Option(long=long, short=short, help=help, value_help=value_help,
                 values=tuple(values), section=title, subsection=subs[-1][0], **kw)
    OPTIONS.append(opt)
    subs[-1][1].append(opt)


_DEFAULT_TS_NOTE = "(not with --bit-preserving or compression)"


# -- converters: checked option values -> ServerConfig field values ------------

def _seconds_or_no_limit(seconds: int) -> Optional[float]:
    """-ts, --pdu-timeout: as DCMTK, 0 (and -1) mean no limit."""
    return float(seconds) if seconds > 0 else None


def _mebibytes(n: int) -> int:
    return n * 1024 * 1024


def _directory(path: str) -> str:
    """-od: storescp takes an empty directory name for the current directory."""
    return path or "."


def _address_list(text: str) -> Tuple[str, ...]:
    """--proxy-protocol: comma-separated addresses (checked by config.validate())."""
    return tuple(item.strip() for item in text.split(","))


def _pair(first: int, second: int) -> Tuple[int, int]:
    return (first, second)


def _load_profile(path: str, name: str) -> object:
    """-xf: the profile, read now (storescp reads it while checking the
    options; a failure is a fatal log line, StartupError)."""
    from .profiles import ProfileError, load_profile
    try:
        return load_profile(path, name)
    except ProfileError as exc:
        raise StartupError(str(exc)) from None


# -- general -----------------------------------------------------------------
_section("general options")
_opt("-h", "--help", "show this help text and exit", built=True, exclusive=True)
_opt(None, "--version", "show version and build information and exit",
     built=True, exclusive=True)
_opt(None, "--arguments", "log the command line after expanding @files",
     built=True)
_opt("-q", "--quiet", "quiet mode: report fatal errors only",
     group="verbosity", built=True)
_opt("-v", "--verbose", "verbose mode: report what is being processed",
     group="verbosity", built=True)
_opt("-d", "--debug", "debug mode: report internal details too",
     group="verbosity", built=True)
_opt("-ll", "--log-level", "log messages of level l and more severe",
     "[l]evel: string constant\n(fatal, error, warn, info, debug, trace)",
     [_S], built=True)
_opt("-lc", "--log-config", "configure logging from file f",
     "[f]ilename: string", [_S], built=True)
_opt("+v", "--verbose-pc", "list presentation contexts in verbose mode",
     built=True,
     field="verbose_pc", value=True)

# -- multi-process -----------------------------------------------------------
_section("multi-process options")
_opt(None, "--single-process",
     "one process serving associations concurrently\n(default: several worker processes unless\nsorting, -tn or end-of-study options need one)",
     group="process", built=True, field="process_model", value=cfg.PROCESS_SINGLE)
_opt(None, "--fork", "start a child process per association",
     group="process", built=True, field="process_model", value=cfg.PROCESS_FORK)

# -- network -----------------------------------------------------------------
_section("network options")
_sub("association negotiation profile from configuration file:")
_opt("-xf", "--config-file", "negotiate with profile p of config file f",
     "[f]ilename, [p]rofile: string", [_S, _S], built=True,
     field="profile", convert=_load_profile)
_sub("preferred network transfer syntaxes (not with --config-file):")
for _short, _long, _help, _built in (
    ("+x=", "--prefer-uncompr", "prefer explicit VR, local byte order first\n(default)", True),
    ("+xe", "--prefer-little", "prefer explicit VR little endian", True),
    ("+xb", "--prefer-big", "prefer explicit VR big endian", True),
    ("+xs", "--prefer-lossless", "prefer JPEG lossless (process 14, SV1)", True),
    ("+xy", "--prefer-jpeg8", "prefer JPEG baseline (8 bit lossy)", True),
    ("+xx", "--prefer-jpeg12", "prefer JPEG extended (12 bit lossy)", True),
    ("+xv", "--prefer-j2k-lossless", "prefer JPEG 2000 (lossless only)", True),
    ("+xw", "--prefer-j2k-lossy", "prefer JPEG 2000 (lossy allowed)", True),
    ("+xt", "--prefer-jls-lossless", "prefer JPEG-LS lossless", True),
    ("+xu", "--prefer-jls-lossy", "prefer JPEG-LS near-lossless", True),
    ("+xm", "--prefer-mpeg2", "prefer MPEG-2 main profile, main level", True),
    ("+xh", "--prefer-mpeg2-high", "prefer MPEG-2 main profile, high level", True),
    ("+xn", "--prefer-mpeg4", "prefer H.264 high profile, level 4.1", True),
    ("+xl", "--prefer-mpeg4-bd", "prefer H.264 BD-compatible high profile 4.1", True),
    ("+x2", "--prefer-mpeg4-2-2d", "prefer H.264 high profile 4.2, 2D video", True),
    ("+x3", "--prefer-mpeg4-2-3d", "prefer H.264 high profile 4.2, 3D video", True),
    ("+xo", "--prefer-mpeg4-2-st", "prefer H.264 stereo high profile 4.2", True),
    ("+x4", "--prefer-hevc", "prefer H.265 main profile, level 5.1", True),
    ("+x5", "--prefer-hevc10", "prefer H.265 main 10 profile, level 5.1", True),
    ("+xr", "--prefer-rle", "prefer RLE lossless", True),
    ("+xd", "--prefer-deflated", "prefer deflated explicit VR little endian", True),
    ("+xi", "--implicit", "accept implicit VR little endian only", True),
    ("+xa", "--accept-all", "accept every transfer syntax known", True),
):
    _opt(_short, _long, _help, group="prefer", built=_built, field="transfer_syntaxes",
         value=None if _long == "--prefer-uncompr" else uids.PREFERENCE_LISTS[_long[2:]])
_sub("network host access control (tcp wrapper):")
_opt("-ac", "--access-full", "let every host connect (default)",
     group="access", built=True, field="access_control", value=False)
_opt("+ac", "--access-control", "apply hosts.allow/hosts.deny rules",
     group="access", built=True, field="access_control", value=True)
_sub("other network options:")
_opt("-id", "--inetd", "serve one connection handed over by inetd\n(not with --fork)",
     built=True)
_opt("-ts", "--socket-timeout", "seconds a connection may stay silent\n(0 or -1 for no limit)",
     "[s]econds: integer (default: 60)", [Value("int", min=-1)], built=True,
     field="socket_timeout", convert=_seconds_or_no_limit)
_opt("-ta", "--acse-timeout", "seconds to wait for association messages",
     "[s]econds: integer (default: 30)", [Value("int", min=1)], built=True,
     field="acse_timeout", convert=float)
_opt("-td", "--dimse-timeout", "seconds to wait for data set PDVs\n(never for a next command)",
     "[s]econds: integer (default: unlimited)", [Value("int", min=1)], built=True,
     field="dimse_timeout", convert=float)
_opt("-aet", "--aetitle", "use a as our AE title (default: STORESCP)",
     "[a]etitle: string", [_S], built=True,
     field="ae_title", convert=str)
_opt("-pdu", "--max-pdu", "receive PDUs of up to n bytes (default: 16384)",
     "[n]umber of bytes: integer (4096..131072)",
     [Value("uint", min=cfg.MIN_MAX_PDU, max=cfg.MAX_MAX_PDU)], built=True,
     field="max_pdu", convert=int)
_opt("-dhl", "--disable-host-lookup", "do not look up peer host names", built=True,
     field="host_lookup", value=False)
_opt(None, "--refuse", "refuse every association", built=True,
     field="refuse", value=True)
_opt(None, "--reject", "reject associations that lack an\nimplementation class UID",
     built=True,
     field="reject_without_implementation_uid", value=True)
_opt(None, "--ignore", "receive data but store nothing", built=True,
     field="ignore", value=True)
_opt(None, "--sleep-after", "wait s seconds after each store (default: 0)",
     "[s]econds: integer", [Value("uint", min=0)], built=True,
     field="sleep_after", convert=float)
_opt(None, "--sleep-during", "wait s seconds while storing (default: 0)",
     "[s]econds: integer", [Value("uint", min=0)], built=True,
     field="sleep_during", convert=float)
_opt(None, "--abort-after", "abort once a C-STORE-RQ has been received\n(before the response is sent)",
     built=True,
     field="abort_after", value=True)
_opt(None, "--abort-during", "abort while a C-STORE-RQ is being received", built=True,
     field="abort_during", value=True)
_opt("-pm", "--promiscuous", "accept unknown SOP classes as well\n(not with --config-file)",
     built=True,
     field="promiscuous", value=True)
_opt("-up", "--uid-padding", "fix UIDs padded with spaces without warning", built=True,
     field="uid_padding", value=True)
_sub("limits (fastscp):")
_opt(None, "--max-associations", "serve at most n connections at once; more\nwait in the listen backlog (default: 200)",
     "[n]umber: integer", [Value("uint", min=1)], built=True,
     field="max_associations", convert=int)
_opt(None, "--pdu-timeout", "seconds a PDU may take from its first byte\nto its last (default: 60; 0 for no limit)",
     "[s]econds: integer", [Value("uint", min=0)], built=True,
     field="pdu_timeout", convert=_seconds_or_no_limit)
_opt(None, "--max-inflated-size", "a deflated data set may inflate to n MiB\nat most (default: 4096)",
     "[n]umber of MiB: integer", [Value("uint", min=1)], built=True,
     field="max_inflated_size", convert=_mebibytes)
_opt(None, "--max-inflation-ratio", "past 64 MiB, a deflated data set may inflate\nto r times the bytes received at most\n(default: 100)",
     "[r]atio: integer", [Value("uint", min=1)], built=True,
     field="max_inflation_ratio", convert=int)
_sub("monitoring (fastscp):")
_opt(None, "--metrics-port", "serve Prometheus metrics over HTTP on port n\n(not with --inetd; needs prometheus_client)",
     "[n]umber: integer (1..65535)", [Value("uint", min=1, max=65535)], built=True,
     field="metrics_port", convert=int)
_opt(None, "--metrics-address", "the metrics endpoint listens on address a\n(default: 127.0.0.1; 0.0.0.0: every interface)",
     "[a]ddress: string", [_S], built=True,
     field="metrics_address", convert=str)
_opt(None, "--summary-interval", "with -v, log a summary line (objects/s, MB/s,\nactive associations) every s seconds while\nassociations are active (default: 10)",
     "[s]econds: integer", [Value("uint", min=1)], built=True,
     field="summary_interval", convert=float)

_sub("load balancer (fastscp):")
_opt(None, "--proxy-protocol", "connections from these load balancer addresses\nmust begin with a PROXY protocol v1/v2 header\nwhose sender address is then the peer's\n(default: none)",
     "[a]ddresses: string (IP addresses or networks,\ncomma-separated)", [_S], built=True,
     field="proxy_protocol", convert=_address_list)

# -- TLS ---------------------------------------------------------------------
_section("transport layer security (TLS) options")
_sub("transport protocol stack:")
_opt("-tls", "--disable-tls", "plain TCP/IP connections (default)",
     group="tls", built=True, field="tls_key_cert", value=None)
_opt("+tls", "--enable-tls", "secure connections with TLS",
     "[p]rivate key file, [c]ertificate file: string", [_S, _S], group="tls", built=True,
     field="tls_key_cert", convert=_pair)
_sub("private key password (only with --enable-tls):")
_opt("+ps", "--std-passwd", "ask for the password on stdin (default)", group="passwd",
     built=True, field="tls_password", value=None)
_opt("+pw", "--use-passwd", "use password p", "[p]assword: string", [_S], group="passwd",
     built=True, field="tls_password", convert=str)
_opt("-pw", "--null-passwd", "use an empty password", group="passwd", built=True,
     field="tls_password", value="")
_sub("key and certificate file format:")
_opt("-pem", "--pem-keys", "keys and certificates are PEM files (default)", group="keyformat",
     built=True, field="tls_der", value=False)
_opt("-der", "--der-keys", "keys and certificates are DER files", group="keyformat",
     built=True, field="tls_der", value=True)
_sub("certification authority:")
_opt("+cf", "--add-cert-file", "trust the certificate in file f", "[f]ilename: string", [_S],
     built=True, repeatable=True, field="tls_ca_files", convert=str)
_opt("+cd", "--add-cert-dir", "trust the certificates in directory d",
     "[d]irectory: string", [_S], built=True, repeatable=True, field="tls_ca_dirs", convert=str)
_opt("+crl", "--add-crl-file", "load a certificate revocation list\n(implies --enable-crl-vfy)",
     "[f]ilename: string", [_S], built=True, repeatable=True, field="tls_crl_files", convert=str)
_opt("+crv", "--enable-crl-vfy", "check the peer certificate against CRLs", group="crl",
     built=True, field="tls_crl_check", value=cfg.CRL_CHECK_LEAF)
_opt("+cra", "--enable-crl-all", "check the whole chain against CRLs", group="crl",
     built=True, field="tls_crl_check", value=cfg.CRL_CHECK_CHAIN)
_sub("security profile:")
_opt("+ph", "--list-profiles", "list the TLS profiles and exit", exclusive=True,
     since_369=True, built=True)
for _short, _long, _help, _needs in (
    ("+pg", "--profile-8996", "BCP 195 RFC 8996 profile (default)", None),
    ("+pm", "--profile-8996-mod", "modified BCP 195 RFC 8996 profile", "ECDHE-ECDSA-AES128-CCM"),
    ("+py", "--profile-bcp195-nd", "non-downgrading BCP 195 profile (retired)", None),
    ("+px", "--profile-bcp195", "BCP 195 profile (retired)", None),
    ("+pz", "--profile-bcp195-ex", "extended BCP 195 profile (retired)", None),
    ("+pb", "--profile-basic", "basic TLS secure transport profile (retired)", "DES-CBC3-SHA"),
    ("+pa", "--profile-aes", "AES TLS secure transport profile (retired)", None),
    ("+pn", "--profile-null", "authentication without encryption (retired)", "NULL-SHA"),
):
    # the profile's ServerConfig value is its long name without "--profile-"
    _opt(_short, _long, _help, group="profile", built=True, needs_suite=_needs,
         since_369=_short in ("+pg", "+pm", "+pb"),
         field="tls_profile", value=_long[len("--profile-"):])
_sub("ciphersuite:")
_opt("+cc", "--list-ciphers", "list the TLS ciphersuites and exit", exclusive=True, built=True)
_opt("+cs", "--cipher", "add ciphersuite c to the negotiated list",
     "[c]iphersuite name: string", [_S], built=True, repeatable=True,
     field="tls_ciphers", convert=str)
_opt("+dp", "--dhparam", "read DH parameters from file f", "[f]ilename: string", [_S],
     built=True, field="tls_dh_params", convert=str)
_sub("server name indication:")
_opt(None, "--no-sni", "ignore server name indication (default)", since_369=True, built=True,
     field="tls_expect_sni", value=None)
_opt(None, "--expect-sni", "expect clients to ask for server name s",
     "[s]erver name: string", [_S], since_369=True, built=True,
     field="tls_expect_sni", convert=str)
_sub("pseudo random generator:")
_opt("+rs", "--seed", "seed the random generator from file f", "[f]ilename: string", [_S],
     built=True, field="tls_seed_file", convert=str)
_opt("+ws", "--write-seed", "write the changed seed back (only with --seed)",
     group="writeseed", built=True, field="tls_write_seed", value=True,
     also=(("tls_write_seed_file", None),))
_opt("+wf", "--write-seed-file", "write the changed seed to file f",
     "[f]ilename: string (only with --seed)", [_S], group="writeseed", built=True,
     field="tls_write_seed_file", convert=str, also=(("tls_write_seed", True),))
_sub("peer authentication:")
_opt("-rc", "--require-peer-cert", "require a valid peer certificate (default)",
     group="peercert", built=True, field="tls_peer_cert", value=cfg.PEER_CERT_REQUIRE)
_opt("-vc", "--verify-peer-cert", "check the peer certificate if there is one",
     group="peercert", built=True, field="tls_peer_cert", value=cfg.PEER_CERT_VERIFY)
_opt("-ic", "--ignore-peer-cert", "do not check peer certificates", group="peercert",
     built=True, field="tls_peer_cert", value=cfg.PEER_CERT_IGNORE)

# -- output ------------------------------------------------------------------
_section("output options")
_sub("general:")
_opt("-od", "--output-directory", "store received objects in existing directory d",
     '[d]irectory: string (default: ".")', [_S], built=True,
     field="output_directory", convert=_directory)
_sub("bit preserving mode:")
_opt("-B", "--normal", "allow re-encoding when writing (default)",
     group="bitpreserving", built=True,
     field="bit_preserving", value=False)
_opt("+B", "--bit-preserving", "write data sets byte for byte as received",
     group="bitpreserving", built=True,
     field="bit_preserving", value=True)
_sub("output file format:")
_opt("+F", "--write-file", "write DICOM files with meta header (default)",
     group="fileformat", built=True,
     field="write_file_meta", value=True)
_opt("-F", "--write-dataset", "write bare data sets without meta header",
     group="fileformat", built=True,
     field="write_file_meta", value=False)
_sub("output transfer syntax " + _DEFAULT_TS_NOTE + ":")
_opt("+t=", "--write-xfer-same", "keep the transfer syntax received (default)",
     group="writexfer", built=True,
     field="write_transfer_syntax", value=None)
_opt("+te", "--write-xfer-little", "write explicit VR little endian", group="writexfer", built=True,
     field="write_transfer_syntax", value=uids.EXPLICIT_VR_LITTLE_ENDIAN)
_opt("+tb", "--write-xfer-big", "write explicit VR big endian", group="writexfer", built=True,
     field="write_transfer_syntax", value=uids.EXPLICIT_VR_BIG_ENDIAN)
_opt("+ti", "--write-xfer-implicit", "write implicit VR little endian", group="writexfer", built=True,
     field="write_transfer_syntax", value=uids.IMPLICIT_VR_LITTLE_ENDIAN)
_opt("+td", "--write-xfer-deflated", "write deflated explicit VR little endian",
     group="writexfer", built=True,
     field="write_transfer_syntax",
     value=uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
_sub("post-1993 value representations (not with --bit-preserving):")
_opt("+u", "--enable-new-vr", "keep newer VRs such as UN and UT (default)",
     group="newvr", built=True,
     field="new_vrs", value=True)
_opt("-u", "--disable-new-vr", "write newer VRs as OB", group="newvr", built=True,
     field="new_vrs", value=False)
_sub("group length encoding (not with --bit-preserving):")
_opt("+g=", "--group-length-recalc", "fix group lengths that are present (default)",
     group="grouplength", built=True,
     field="group_length", value=cfg.GROUP_LENGTH_RECALC)
_opt("+g", "--group-length-create", "add group length elements everywhere",
     group="grouplength", built=True,
     field="group_length", value=cfg.GROUP_LENGTH_CREATE)
_opt("-g", "--group-length-remove", "drop all group length elements", group="grouplength",
     built=True,
     field="group_length", value=cfg.GROUP_LENGTH_REMOVE)
_sub("length encoding in sequences and items (not with --bit-preserving):")
_opt("+e", "--length-explicit", "explicit item and sequence lengths (default)",
     group="length", built=True,
     field="undefined_lengths", value=False)
_opt("-e", "--length-undefined", "undefined item and sequence lengths",
     group="length", built=True,
     field="undefined_lengths", value=True)
_sub("data set trailing padding (not with --write-dataset or --bit-preserving):")
_opt("-p", "--padding-off", "add no padding (default)", group="padding", built=True,
     field="padding", value=None)
_opt("+p", "--padding-create", "pad the file to a multiple of f bytes and\nitems to a multiple of i bytes",
     "[f]ile-pad [i]tem-pad: integer", [Value("uint"), Value("uint")], group="padding", built=True,
     field="padding", convert=_pair)
_sub("handling of defined length UN elements:")
_opt("-uc", "--retain-un", "leave UN elements as they are (default)", group="un", built=True,
     field="convert_un", value=False)
_opt("+uc", "--convert-un", "give UN elements their real VR if known", group="un", built=True,
     field="convert_un", value=True)
_sub("deflate compression level (only with --write-xfer-deflated/same):")
_opt("+cl", "--compression-level", "0 = store only, 1 = fastest ... 9 = smallest",
     "[l]evel: integer (default: 6)", [Value("uint", min=0, max=9)], built=True,
     field="compression_level", convert=int)
_sub("sorting into subdirectories (not with --bit-preserving):")
_opt("-ss", "--sort-conc-studies", "one subdirectory per study: prefix p plus\nreception time",
     "[p]refix: string", [_S], group="sort", built=True,
     field="sort_prefix", convert=str,
     also=(("sort_mode", cfg.SORT_TIMESTAMP),))
_opt("-su", "--sort-on-study-uid", "one subdirectory per study: prefix p plus\nStudy Instance UID",
     "[p]refix: string", [_S], group="sort", built=True,
     field="sort_prefix", convert=str,
     also=(("sort_mode", cfg.SORT_STUDY_UID),))
_opt("-sp", "--sort-on-patientname", "one subdirectory per study: Patient's Name\nplus reception time",
     group="sort", built=True,
     field="sort_mode", value=cfg.SORT_PATIENT_NAME,
     also=(("sort_prefix", ""),))
_sub("filename generation:")
_opt("-uf", "--default-filenames", "file name from the SOP instance UID (default)",
     group="filenames", built=True,
     field="unique_filenames", value=False)
_opt("+uf", "--unique-filenames", "make up file names that are always new",
     group="filenames", built=True,
     field="unique_filenames", value=True)
_opt("-tn", "--timenames", "name files after the time they are written", built=True,
     field="timenames", value=True)
_opt("-fe", "--filename-extension", "add extension e to every file name",
     "[e]xtension: string", [_S], built=True,
     field="filename_extension", convert=str)

# -- events ------------------------------------------------------------------
_section("event options")
_opt("-xcr", "--exec-on-reception", "run command c after each received and\nprocessed C-STORE-RQ",
     "[c]ommand: string", [_S], built=True,
     field="exec_on_reception", convert=str)
_opt("-xcs", "--exec-on-eostudy", "run command c once all C-STORE-RQs of a\nstudy are received and processed",
     "[c]ommand: string", [_S], built=True,
     field="exec_on_eostudy", convert=str)
_opt("-rns", "--rename-on-eostudy", "rename the files of a study by a fixed\npattern once the study is complete",
     built=True,
     field="rename_on_eostudy", value=True)
_opt("-tos", "--eostudy-timeout", "a study is complete after t seconds without\nnew objects",
     "[t]imeout: integer", [Value("int", min=0)], built=True,
     field="eostudy_timeout", convert=float)
_opt("-xs", "--exec-sync", "run commands in the foreground and wait", built=True,
     field="exec_sync", value=True)

del _short, _long, _help, _built, _needs

#: lookup by short or long name
BY_NAME: Dict[str, Option] = {}
for _o in OPTIONS:
    BY_NAME[_o.long] = _o
    if _o.short:
        BY_NAME[_o.short] = _o
del _o


def option(name: str) -> Option:
    """The option called ``name`` (short or long)."""
    return BY_NAME[name]


def group_members(group: str) -> List[Option]:
    """Members of an exclusive group, in table (= storescp evaluation) order."""
    return [o for o in OPTIONS if o.group == group]


def unbuilt_options() -> List[Option]:
    return [o for o in OPTIONS if not o.built]


# ---------------------------------------------------------------------------
# integers as C reads them
# ---------------------------------------------------------------------------

def _scan_digits(text: str) -> Optional[Tuple[bool, int]]:
    """Like the start of sscanf("%ld"): (negative, magnitude) or None."""
    i = 0
    n = len(text)
    while i < n and text[i] in _C_SPACE:
        i += 1
    neg = False
    if i < n and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    j = i
    while j < n and "0" <= text[j] <= "9":
        j += 1
    if j == i:
        return None
    return neg, int(text[i:j])


def c_long(text: str) -> Optional[int]:
    """``sscanf(text, "%ld")`` on LP64: saturates at LONG_MIN/LONG_MAX."""
    r = _scan_digits(text)
    if r is None:
        return None
    neg, mag = r
    v = -mag if neg else mag
    return max(LONG_MIN, min(LONG_MAX, v))


def c_ulong(text: str) -> Optional[int]:
    """``sscanf(text, "%lu")`` on LP64: saturates at ULONG_MAX, a minus sign
    negates modulo 2**64 (so "-1" is ULONG_MAX)."""
    r = _scan_digits(text)
    if r is None:
        return None
    neg, mag = r
    if mag > ULONG_MAX:
        return ULONG_MAX
    return (-mag) % (ULONG_MAX + 1) if neg else mag


def check_value(opt: Option, text: str, spec: Value) -> object:
    """Convert one option value like storescp; raise CommandLineError."""
    if spec.kind == "str":
        return text

    def bad(detail: Optional[str]) -> CommandLineError:
        if not text:
            return CommandLineError("Invalid value for option %s" % opt.long)
        if detail is None:
            return CommandLineError("Invalid value for option %s (%s)" % (opt.long, text))
        return CommandLineError("Invalid value for option %s (%s: %s)" % (opt.long, detail, text))

    if spec.kind == "uint":
        # unsigned values: a leading minus (after blanks) is refused outright
        if text.lstrip(" ").startswith("-"):
            raise bad(None)
        value = c_ulong(text)
    else:
        value = c_long(text)
    if value is None:
        raise bad(None)
    if spec.min is not None and value < spec.min:
        raise bad("underflow")
    if spec.max is not None and value > spec.max:
        raise bad("overflow")
    return value


def check_port(text: str) -> int:
    """The ``port`` parameter: unsigned, 1..65535."""
    value = c_ulong(text)
    if value is None:
        raise CommandLineError("Invalid parameter value %s" % text)
    if value < 1:
        raise CommandLineError("Invalid parameter value %s (underflow)" % text)
    if value > 65535:
        raise CommandLineError("Invalid parameter value %s (overflow)" % text)
    return value


# ---------------------------------------------------------------------------
# command files and parsing
# ---------------------------------------------------------------------------

def split_command_file(text: str) -> List[str]:
    """Words of a command file.

    Blanks, tabs, CR and LF separate words.  A double or single quote starts
    a quoted part in which the other quote character and blanks are
    literal; the closing quote ends the word (so ``a"b c"d`` gives the
    two words ``ab c`` and ``d``, and ``""`` an empty word).  A quote left
    open runs to the end of the file.
    """
    words: List[str] = []
    cur: List[str] = []
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                words.append("".join(cur))
                cur = []
                quote = ""
            else:
                cur.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch in _CMDFILE_SPACE:
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur or quote:
        words.append("".join(cur))
    return words


def expand_command_files(argv: Sequence[str]) -> List[str]:
    """Replace each top-level ``@file`` argument by the words of the file."""
    out: List[str] = []
    for arg in argv:
        if len(arg) > 1 and arg[0] == "@":
            name = arg[1:]
            try:
                with open(name, "rb") as fh:
                    data = fh.read()
            except OSError:
                raise CommandLineError("Cannot open command file '%s'" % name) from None
            out.extend(split_command_file(os.fsdecode(data)))
        else:
            out.append(arg)
    return out


def is_option_word(arg: str) -> bool:
    return len(arg) >= 2 and arg[0] in "+-" and not ("0" <= arg[1] <= "9")


class Occurrence(Record):
    option: Option
    values: Tuple[str, ...]
    #: position of the option word in the expanded argument list
    index: int


class CommandLine(Record):
    """The result of parsing: expanded arguments, options and parameters."""

    args: List[str]
    occurrences: List[Occurrence] = field(default_factory=list)
    params: List[str] = field(default_factory=list)

    # -- queries -----------------------------------------------------------
    def has(self, name: str) -> bool:
        return self.last(name) is not None

    def last(self, name: str) -> Optional[Occurrence]:
        """Last occurrence of the option (short or long name)."""
        opt = BY_NAME[name]
        for occ in reversed(self.occurrences):
            if occ.option is opt:
                return occ
        return None

    def value(self, name: str, default: Optional[str] = None) -> Optional[str]:
        occ = self.last(name)
        return occ.values[0] if occ else default

    def winner(self, group: str) -> Optional[Option]:
        """The rightmost member of ``group`` given, or None."""
        for occ in reversed(self.occurrences):
            if occ.option.group == group:
                return occ.option
        return None

    def processed(self, names: Sequence[str]) -> List[Occurrence]:
        """Members of an option block that storescp's code acts upon.

        storescp tests the members of a block in code order; a member counts
        only if its last occurrence lies right of the previously found one.
        The last element is always the rightmost member given; the others
        matter because storescp checks their combinations too.
        """
        pos = -1
        out: List[Occurrence] = []
        for name in names:
            occ = self.last(name)
            if occ is not None and occ.index > pos:
                pos = occ.index
                out.append(occ)
        return out

    def processed_group(self, group: str) -> List[Occurrence]:
        return self.processed([o.long for o in group_members(group)])

    def effective(self) -> List[Occurrence]:
        """Options that take effect: per group the rightmost member, plus
        every option outside groups (last occurrence), in argument order."""
        seen = set()
        out: List[Occurrence] = []
        for occ in reversed(self.occurrences):
            key = occ.option.group or occ.option.long
            if key in seen:
                continue
            seen.add(key)
            out.append(occ)
        out.reverse()
        return out

    @property
    def exclusive(self) -> Optional[Option]:
        """The exclusive option that decides what happens, if any
        (help before version before the listing options)."""
        for name in ("--help", "--version", "--list-ciphers", "--list-profiles"):
            if self.has(name):
                return BY_NAME[name]
        return None

    def expanded_for_log(self) -> List[str]:
        """Arguments with short option names replaced by long ones."""
        out = list(self.args)
        for occ in self.occurrences:
            out[occ.index] = occ.option.long
        return out


def parse(argv: Sequence[str]) -> CommandLine:
    """Parse ``argv`` (without the program name).

    Raises CommandLineError for: unreadable command file, unknown option,
    missing value, too many parameters (unless an exclusive option such as
    ``--help`` is present).  Values are not checked here.
    """
    args = expand_command_files(argv)
    cmd = CommandLine(args=args)
    i = 0
    n = len(args)
    while i < n:
        arg = args[i]
        if is_option_word(arg):
            opt = BY_NAME.get(arg)
            if opt is None or not opt.available:
                raise CommandLineError("Unknown option %s" % arg)
            if i + opt.nvalues >= n and opt.nvalues:
                raise CommandLineError("Missing value for option %s" % opt.long)
            cmd.occurrences.append(Occurrence(opt, tuple(args[i + 1:i + 1 + opt.nvalues]), i))
            i += 1 + opt.nvalues
        else:
            cmd.params.append(arg)
            i += 1
    if cmd.exclusive is None and len(cmd.params) > 1:
        raise CommandLineError("Too many parameters")
    return cmd


# ---------------------------------------------------------------------------
# evaluation in storescp's order
# ---------------------------------------------------------------------------

#: numeric order of the log levels (lower = more verbose)
LEVEL_ORDER = {"all": 0, "trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4,
               "fatal": 5, "off": 6}

COMPRESSED_PREFER = (
    "--prefer-lossless", "--prefer-jpeg8", "--prefer-jpeg12", "--prefer-j2k-lossless",
    "--prefer-j2k-lossy", "--prefer-jls-lossless", "--prefer-jls-lossy", "--prefer-mpeg2",
    "--prefer-mpeg2-high", "--prefer-mpeg4", "--prefer-mpeg4-bd", "--prefer-mpeg4-2-2d",
    "--prefer-mpeg4-2-3d", "--prefer-mpeg4-2-st", "--prefer-hevc", "--prefer-hevc10",
    "--prefer-rle",
)
SORT_ONLY = "--sort-conc-studies, --sort-on-study-uid or --sort-on-patientname"
EOSTUDY_TIMEOUT_ONLY = ("--sort-conc-studies, --sort-on-study-uid, --sort-on-patientname, "
                        "--exec-on-eostudy or --rename-on-eostudy")
COMPRESSION_LEVEL_ONLY = "--write-xfer-deflated or --write-xfer-same"


def not_allowed_message(a: str, b: str) -> str:
    return "%s not allowed with %s" % (a, b)


def only_allowed_message(a: str, b: str) -> str:
    return "%s only allowed with %s" % (a, b)


def _not_allowed(a: str, b: str) -> CommandLineError:
    return CommandLineError(not_allowed_message(a, b))


def _only_allowed(a: str, b: str) -> CommandLineError:
    return CommandLineError(only_allowed_message(a, b))


def setting_option(field_name: str, *value: Any) -> Option:
    """The option that sets ServerConfig's `field_name`: the value option,
    or with `value` the flag that sets it to that (for storescp's messages)."""
    for o in OPTIONS:
        if value:
            if (o.field == field_name and o.convert is None and o.value == value[0]
                    or (field_name, value[0]) in o.also):
                return o
        elif o.field == field_name and o.convert is not None:
            return o
    raise KeyError((field_name,) + value)


def check_port_param(cmd: CommandLine) -> Optional[int]:
    """Step 1: the port (None in inetd mode without a port)."""
    if cmd.has("--inetd"):
        # inetd hands the socket over; storescp does not look at the port
        return None
    if not cmd.params:
        raise CommandLineError("Missing parameter port")
    return check_port(cmd.params[0])


def check_logging(cmd: CommandLine) -> str:
    """Step 2: the logging options; returns the effective level name."""
    verbosity = cmd.winner("verbosity")
    ll = cmd.last("--log-level")
    if ll is not None:
        if verbosity is not None:
            raise CommandLineError("--log-level not allowed with --verbose, --debug or --quiet")
        if ll.values[0].lower() not in LOG_LEVELS:
            raise CommandLineError("Invalid log level for --log-level option")
    lc = cmd.last("--log-config")
    if lc is not None:
        if ll is not None:
            raise _not_allowed("--log-config", "--log-level")
        if verbosity is not None:
            raise CommandLineError("--log-config not allowed with --verbose, --debug or --quiet")
        _check_log_config(lc.values[0])
    if ll is not None:
        return ll.values[0].lower()
    return {None: "warn", "--quiet": "fatal", "--verbose": "info",
            "--debug": "debug"}[verbosity.long if verbosity else None]


def _check_log_config(path: str) -> None:
    """The checks storescp makes on a log4cplus properties file."""
    from .logconfig import LogConfigError, read_config
    try:
        read_config(path)
    except LogConfigError as exc:
        raise CommandLineError(str(exc)) from None


class Settings(Record):
    """What the checks found: the port, the log level, and the options'
    checked values and ServerConfig settings (`config_fields`)."""

    port: Optional[int] = None
    log_level: str = "warn"
    #: the checked values of every option checked, by long name
    values: Dict[str, Tuple[object, ...]] = field(default_factory=dict)
    #: the (ServerConfig field, value) pairs of every value option checked,
    #: by long name (converted as checked: -xf reads its file then)
    settings: Dict[str, List[Tuple[str, Any]]] = field(default_factory=dict)


def _values(cmd: CommandLine, occ: Occurrence, settings: Settings) -> Tuple[object, ...]:
    vals = tuple(check_value(occ.option, text, spec)
                 for text, spec in zip(occ.values, occ.option.values))
    settings.values[occ.option.long] = vals
    settings.settings[occ.option.long] = occ.option.settings(vals)
    return vals


def config_fields(cmd: CommandLine, st: Optional[Settings] = None) -> Dict[str, Any]:
    """The ServerConfig fields the options that take effect set (each row's
    field and converter; values not checked yet are checked now, without the
    combination checks of `check_rest`), and the port."""
    out: Dict[str, Any] = {}
    for occ in cmd.effective():
        opt = occ.option
        if opt.field is None:
            continue
        if opt.repeatable:
            out[opt.field] = tuple(
                opt.settings(tuple(check_value(opt, text, spec)
                                   for text, spec in zip(o.values, opt.values)))[0][1]
                for o in cmd.occurrences if o.option is opt)
            continue
        pairs = st.settings.get(opt.long) if st is not None else None
        if pairs is None:
            pairs = opt.settings(tuple(check_value(opt, text, spec)
                                       for text, spec in zip(occ.values, opt.values)))
        out.update(pairs)
    if st is not None and st.port is not None:
        out["port"] = st.port
    return out


def check_rest(cmd: CommandLine, level: str, settings: Optional[Settings] = None) -> Settings:
    """Steps 3..: every other check of storescp, in its order."""
    st = settings or Settings()
    st.log_level = level

    def val(name: str) -> Optional[Tuple[object, ...]]:
        occ = cmd.last(name)
        return _values(cmd, occ, st) if occ else None

    # 3. verbose-pc needs INFO
    if cmd.has("--verbose-pc") and LEVEL_ORDER[level] > LEVEL_ORDER["info"]:
        raise _only_allowed("--verbose-pc", "verbose mode")
    # multi-process block
    for occ in cmd.processed_group("process"):
        if occ.option.long == "--fork" and cmd.has("--inetd"):
            raise _not_allowed("--inetd", "--fork")
    fork = (cmd.winner("process") or BY_NAME["--single-process"]).long == "--fork"
    inetd = cmd.has("--inetd")
    prefer = cmd.winner("prefer")
    prefer_name = prefer.long if prefer else None
    # 4. values with minimums (network section order)
    for name in ("--socket-timeout", "--acse-timeout", "--dimse-timeout"):
        val(name)
    val("--aetitle")
    val("--max-pdu")
    val("--sleep-after")
    val("--sleep-during")
    val("--max-associations")
    val("--pdu-timeout")
    val("--max-inflated-size")
    val("--max-inflation-ratio")
    val("--proxy-protocol")
    if cmd.has("--metrics-port") and inetd:
        raise _not_allowed("--metrics-port", "--inetd")
    val("--metrics-port")
    if cmd.has("--metrics-address") and not cmd.has("--metrics-port"):
        raise _only_allowed("--metrics-address", "--metrics-port")
    val("--metrics-address")
    val("--summary-interval")
    # 5. configuration file conflicts
    if cmd.has("--config-file"):
        if prefer_name not in (None, "--prefer-uncompr"):
            raise _not_allowed("--config-file", prefer_name)
        if cmd.has("--promiscuous"):
            raise _not_allowed("--config-file", "--promiscuous")
        # storescp reads the file and checks the profile here, before the
        # output options are checked (the row's converter reads it)
        val("--config-file")
    # output section
    val("--output-directory")
    bitpres = cmd.winner("bitpreserving") is BY_NAME["--bit-preserving"]
    dataset = cmd.winner("fileformat") is BY_NAME["--write-dataset"]
    # 6. output transfer syntax
    for occ in cmd.processed_group("writexfer"):
        name = occ.option.long
        if name == "--write-xfer-same":
            continue
        if prefer_name == "--accept-all":
            raise _not_allowed(name, "--accept-all")
        if bitpres:
            raise _not_allowed(name, "--bit-preserving")
        if prefer_name in COMPRESSED_PREFER:
            raise _not_allowed(name, prefer_name)
    # 7./8. encoding options that bit-preserving mode excludes
    for group in ("newvr", "grouplength", "length"):
        for occ in cmd.processed_group(group):
            if bitpres:
                raise _not_allowed(occ.option.long, "--bit-preserving")
    for occ in cmd.processed_group("padding"):
        if occ.option.long == "--padding-create":
            if dataset:
                raise _not_allowed("--padding-create", "--write-dataset")
            if bitpres:
                raise _not_allowed("--padding-create", "--bit-preserving")
            _values(cmd, occ, st)
    # 9. compression level
    if cmd.has("--compression-level"):
        wx = cmd.winner("writexfer")
        if wx is not None and wx.long not in ("--write-xfer-same", "--write-xfer-deflated"):
            raise _only_allowed("--compression-level", COMPRESSION_LEVEL_ONLY)
        val("--compression-level")
    # sorting
    sorting = cmd.processed_group("sort")
    for occ in sorting:
        if bitpres:
            raise _not_allowed(occ.option.long, "--bit-preserving")
        _values(cmd, occ, st)
    # 10. file names
    if cmd.winner("filenames") is BY_NAME["--unique-filenames"] and cmd.has("--timenames"):
        raise _not_allowed("--timenames", "--unique-filenames")
    val("--filename-extension")
    # 11./12. events
    val("--exec-on-reception")
    for name in ("--exec-on-eostudy", "--rename-on-eostudy"):
        if cmd.has(name):
            if fork:
                raise _not_allowed(name, "--fork")
            if inetd:
                raise _not_allowed(name, "--inetd")
            if not sorting:
                raise _only_allowed(name, SORT_ONLY)
            val(name)
    if cmd.has("--eostudy-timeout"):
        if not (sorting or cmd.has("--exec-on-eostudy") or cmd.has("--rename-on-eostudy")):
            raise _only_allowed("--eostudy-timeout", EOSTUDY_TIMEOUT_ONLY)
        val("--eostudy-timeout")
    # 13. TLS
    _check_tls(cmd, st)
    return st


#: order in which storescp 3.6.9 looks at the TLS options (its source, checked
#: against a build of it; Debian's 3.6.7 checks the CRL block after the
#: profiles); tuples of several names are option blocks, in storescp's order
#: within the block
_TLS_CHECK_ORDER: Tuple[Tuple[str, ...], ...] = (
    ("--std-passwd", "--use-passwd", "--null-passwd"),
    ("--pem-keys", "--der-keys"),
    ("--enable-crl-vfy", "--enable-crl-all"),
    ("--dhparam",),
    ("--no-sni",),
    ("--expect-sni",),
    ("--seed",),
    ("--write-seed", "--write-seed-file"),
    ("--require-peer-cert", "--ignore-peer-cert", "--verify-peer-cert"),
    ("--profile-8996", "--profile-8996-mod", "--profile-bcp195", "--profile-bcp195-nd",
     "--profile-bcp195-ex", "--profile-basic", "--profile-aes", "--profile-null"),
    ("--add-cert-file",),
    ("--add-cert-dir",),
    ("--add-crl-file",),
    ("--cipher",),
)
#: the SNI options work (and are ignored) without --enable-tls
_TLS_OPTIONAL = ("--no-sni", "--expect-sni")


def _check_tls(cmd: CommandLine, st: Settings) -> None:
    tls = cmd.winner("tls") is BY_NAME["--enable-tls"]
    if tls:
        _values(cmd, cmd.last("--enable-tls"), st)  # type: ignore[arg-type]
    for names in _TLS_CHECK_ORDER:
        if len(names) > 1:
            occs = cmd.processed(names)
        else:
            occ = cmd.last(names[0])
            occs = [occ] if occ else []
        for occ in occs:
            name = occ.option.long
            if name == "--no-sni" and cmd.has("--expect-sni"):
                raise _not_allowed("--no-sni", "--expect-sni")
            if not tls and name not in _TLS_OPTIONAL:
                # storescp's message for +pa names --profile-basic (kept quirk)
                shown = "--profile-basic" if name == "--profile-aes" else name
                raise _only_allowed(shown, "--enable-tls")
            if name in ("--write-seed", "--write-seed-file") and not cmd.has("--seed"):
                raise _only_allowed(name, "--seed")
            if name == "--cipher" and cmd.winner("profile") is BY_NAME["--profile-bcp195-ex"]:
                raise _not_allowed("--cipher", "--profile-bcp195-ex")
            _values(cmd, occ, st)


def unavailable(cmd: CommandLine) -> List[Option]:
    """Options given that take effect but fastscp does not implement yet,
    in argument order."""
    return [occ.option for occ in cmd.effective() if not occ.option.built]


def unsupported_here(cmd: CommandLine) -> Optional[str]:
    """Why an option given cannot work on this system (None: all can):
    +ac needs libwrap, as storescp built without it has no +ac;
    --metrics-port needs prometheus_client."""
    if cmd.winner("access") is BY_NAME["--access-control"]:
        from . import access
        if not access.available():
            return access.UNAVAILABLE
    if cmd.has("--metrics-port"):
        from . import metrics
        if not metrics.available():
            return metrics.UNAVAILABLE
    return None


def evaluate(argv: Sequence[str]) -> Tuple[CommandLine, Settings]:
    """Parse and check everything (no output, no logging set-up); raise
    CommandLineError/NotAvailableError.  Convenience for callers other than
    the CLI (the CLI interleaves logging set-up between the steps)."""
    cmd = parse(argv)
    port = check_port_param(cmd)
    level = check_logging(cmd)
    st = check_rest(cmd, level)
    st.port = port
    missing = unavailable(cmd)
    if missing:
        raise NotAvailableError(missing[0])
    refusal = unsupported_here(cmd)
    if refusal:
        raise CommandLineError(refusal)
    return cmd, st


def iter_help_rows() -> Iterator[Tuple[str, Optional[str], Option]]:
    for title, subs in SECTIONS:
        for sub, opts in subs:
            for o in opts:
                yield title, sub, o
