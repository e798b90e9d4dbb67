"""storescp's TLS security profiles and ciphersuite table: which versions and
suites each profile negotiates, in which server preference order, what
``+cs`` may add, and the ``+cc``/``+ph`` listings (spec storescp-tls.md §2).

Suites are named here as DCMTK names them (IANA names without ``TLS_``);
OpenSSL's names, which Python's `ssl` takes, are derived (`openssl_name`).
"""
from __future__ import annotations

import functools
import logging
import re
import ssl
from fastscp.record import Record
from typing import Dict, List, Optional, Sequence, Tuple

log = logging.getLogger("fastscp")

#: DCMTK 3.6.9's ciphersuite table with OpenSSL 3.0, weakest first: the
#: order ``+cc`` lists and the order a profile's list (plus ``+cs``) is
#: sorted into, strongest first, for the server's preference
RANKED_SUITES: Tuple[str, ...] = tuple("""
RSA_WITH_NULL_SHA RSA_WITH_AES_128_CBC_SHA RSA_WITH_CAMELLIA_128_CBC_SHA RSA_WITH_AES_128_CBC_SHA256
RSA_WITH_AES_128_GCM_SHA256 RSA_WITH_CAMELLIA_256_CBC_SHA RSA_WITH_AES_256_CBC_SHA RSA_WITH_AES_256_CBC_SHA256
RSA_WITH_AES_256_GCM_SHA384 DHE_DSS_WITH_AES_128_CBC_SHA DHE_DSS_WITH_CAMELLIA_128_CBC_SHA
DHE_RSA_WITH_AES_128_CBC_SHA DHE_RSA_WITH_CAMELLIA_128_CBC_SHA DHE_DSS_WITH_AES_128_CBC_SHA256
DHE_RSA_WITH_AES_128_CBC_SHA256 DHE_DSS_WITH_AES_128_GCM_SHA256 DHE_RSA_WITH_AES_128_GCM_SHA256
ECDHE_ECDSA_WITH_AES_128_CBC_SHA ECDHE_RSA_WITH_AES_128_CBC_SHA ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
ECDHE_RSA_WITH_AES_128_CBC_SHA256 ECDHE_ECDSA_WITH_AES_128_CCM ECDHE_ECDSA_WITH_AES_128_CCM_8
ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ECDHE_RSA_WITH_AES_128_GCM_SHA256 DHE_DSS_WITH_AES_256_CBC_SHA
DHE_RSA_WITH_AES_256_CBC_SHA DHE_DSS_WITH_CAMELLIA_256_CBC_SHA DHE_RSA_WITH_CAMELLIA_256_CBC_SHA
DHE_RSA_WITH_CHACHA20_POLY1305_SHA256 DHE_DSS_WITH_AES_256_CBC_SHA256 DHE_RSA_WITH_AES_256_CBC_SHA256
DHE_DSS_WITH_AES_256_GCM_SHA384 DHE_RSA_WITH_AES_256_GCM_SHA384 ECDHE_ECDSA_WITH_AES_256_CBC_SHA
ECDHE_RSA_WITH_AES_256_CBC_SHA ECDHE_ECDSA_WITH_AES_256_CBC_SHA384 ECDHE_RSA_WITH_AES_256_CBC_SHA384
ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
ECDHE_ECDSA_WITH_AES_256_CCM ECDHE_ECDSA_WITH_AES_256_CCM_8 ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
ECDHE_RSA_WITH_AES_256_GCM_SHA384
""".split())
#: in DCMTK's table, but not in OpenSSL 3 (``+cs`` names it "not supported")
TRIPLE_DES = "RSA_WITH_3DES_EDE_CBC_SHA"


def openssl_name(suite: str) -> str:
    """DCMTK/IANA name (without ``TLS_``) -> OpenSSL's name, exact for the
    suites of `RANKED_SUITES` and 3DES."""
    kx, cipher = suite.split("_WITH_")
    cipher = re.sub(r"(AES|CAMELLIA)_(128|256)", r"\1\2", cipher).replace("_CBC_", "_")
    cipher = cipher.replace("CCM_8", "CCM8").replace("POLY1305_SHA256", "POLY1305")
    cipher = cipher.replace("3DES_EDE_SHA", "DES-CBC3-SHA")
    prefix = "" if kx == "RSA" else kx.replace("_", "-") + "-"
    return prefix + cipher.replace("_", "-")


@functools.lru_cache(maxsize=None)
def suite_available(openssl: str) -> bool:
    """Whether the OpenSSL that Python's `ssl` uses has this TLS <= 1.2 suite."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(openssl + ":@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return any(c["name"] == openssl for c in ctx.get_ciphers())


def _known(suites: Sequence[str]) -> Tuple[str, ...]:
    return tuple(s for s in suites if suite_available(openssl_name(s)))


class Profile(Record, frozen=True):
    """One of storescp's security profiles (the ServerConfig value is `key`)."""

    key: str
    #: the name storescp prints (+ph, messages)
    name: str
    #: TLS <= 1.2 suites (DCMTK names); those OpenSSL lacks are left out
    suites: Tuple[str, ...]
    #: lowest and highest TLS version
    minimum: ssl.TLSVersion
    maximum: ssl.TLSVersion
    #: the RFC its +cs warnings cite ("9325", "7525") or None (no checks)
    rfc: Optional[str]
    retired: bool = False
    #: +cs refused outright (+pm)
    fixed_suites: bool = False
    #: +pg/+pm: refuse SHA-1 MAC suites, warn on DHE and CBC too
    rfc8996: bool = False
    #: +pm: the stricter key and hash rules for certificates (§3.1, §3.4)
    strict_certificates: bool = False
    #: TLS 1.3 suites (OpenSSL names), server preference first; unused
    #: where the profile stops at TLS 1.2
    tls13_suites: Tuple[str, ...] = ()

    def available_suites(self) -> Tuple[str, ...]:
        return _known(self.suites)


_T10, _T12, _T13 = ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED
#: OpenSSL's default TLS 1.3 suites, which storescp keeps (spec §2.1 "D")
_TLS13 = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256")
_PY = ("ECDHE_RSA_WITH_AES_256_GCM_SHA384", "DHE_RSA_WITH_AES_256_GCM_SHA384",
       "ECDHE_RSA_WITH_AES_128_GCM_SHA256", "DHE_RSA_WITH_AES_128_GCM_SHA256")

#: in storescp's order (+ph lists them so; the first is the default)
PROFILES: Tuple[Profile, ...] = (
    Profile("8996", "BCP 195 RFC 8996 TLS Profile",
            ("ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
             "ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            _T10, _T13, "9325", rfc8996=True, tls13_suites=_TLS13),
    Profile("8996-mod", "Modified BCP 195 RFC 8996 TLS Profile",
            ("ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
             "ECDHE_ECDSA_WITH_AES_256_CCM_8", "ECDHE_ECDSA_WITH_AES_256_CCM",
             "ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
             "ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
             "ECDHE_ECDSA_WITH_AES_128_CCM_8", "ECDHE_ECDSA_WITH_AES_128_CCM"),
            _T10, _T13, "9325", fixed_suites=True, rfc8996=True, strict_certificates=True,
            tls13_suites=_TLS13 + ("TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_SHA256")),
    Profile("bcp195-nd", "Non-downgrading BCP 195 TLS Profile", _PY, _T12, _T13, "7525",
            retired=True, tls13_suites=_TLS13),
    Profile("bcp195", "BCP 195 TLS Profile", _PY + ("RSA_WITH_AES_128_CBC_SHA", TRIPLE_DES),
            _T10, _T13, "7525", retired=True, tls13_suites=_TLS13),
    Profile("bcp195-ex", "Extended BCP 195 TLS Profile",
            ("ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
             "DHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE_RSA_WITH_AES_128_GCM_SHA256",
             "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "DHE_RSA_WITH_AES_128_GCM_SHA256"),
            _T12, _T12, "7525", retired=True),
    Profile("basic", "Basic TLS Secure Transport Connection Profile", (TRIPLE_DES,),
            _T10, _T12, "7525", retired=True),
    Profile("aes", "AES TLS Secure Transport Connection Profile",
            ("RSA_WITH_AES_128_CBC_SHA", TRIPLE_DES), _T10, _T12, "7525", retired=True),
    Profile("null", "Authenticated unencrypted communication", ("RSA_WITH_NULL_SHA",),
            _T10, _T12, None, retired=True),
)
BY_KEY: Dict[str, Profile] = {p.key: p for p in PROFILES}


def profile_available(profile: Profile) -> bool:
    """storescp offers a profile only if the TLS library has its suites
    (+pb: 3DES; +pm: CCM; +pn: NULL-SHA)."""
    return bool(profile.available_suites())


class SuiteError(Exception):
    """``+cs`` refused: the fatal lines storescp prints, in order."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def lookup_suite(name: str) -> str:
    """A +cs name (IANA ``TLS_…`` or OpenSSL's) -> DCMTK's name, or SuiteError."""
    unknown = SuiteError("000b:0003 Unknown or invalid ciphersuite: %s" % name)
    bare = name[4:] if name.startswith("TLS_") else None
    for suite in RANKED_SUITES + (TRIPLE_DES,):
        if suite == bare or openssl_name(suite) == name:
            if not suite_available(openssl_name(suite)):
                raise SuiteError("Ciphersuite '%s' not supported by the OpenSSL library used "
                                 "to compile this application." % name, unknown.lines[0])
            return suite
    raise unknown


def negotiated_suites(profile: Profile, added: Sequence[str]) -> List[str]:
    """The profile's suites plus those of +cs (given order; checked and
    warned about as storescp does, last given first), strongest first as
    OpenSSL names; SuiteError for a suite the profile refuses."""
    suites = list(profile.available_suites())
    for name in reversed(added):
        suite = lookup_suite(name)
        _check_added(profile, name, suite)
        if suite not in suites:
            suites.append(suite)
    rank = {s: i for i, s in enumerate(RANKED_SUITES)}
    suites.sort(key=lambda s: rank.get(s, -1), reverse=True)
    return [openssl_name(s) for s in suites]


def _check_added(profile: Profile, name: str, suite: str) -> None:
    not_allowed = "000b:000a Ciphersuite not allowed in current DICOM security profile"
    if profile.fixed_suites:
        raise SuiteError("Additional ciphersuites not permitted with security profile '%s'"
                         % profile.name, not_allowed)
    if profile.rfc is None:
        return
    if "_NULL_" in suite:
        raise SuiteError("Unencrypted ciphersuite '%s' not permitted with security profile '%s'"
                         % (name, profile.name), not_allowed)
    if profile.rfc8996 and suite.endswith("_SHA"):
        raise SuiteError("Ciphersuite '%s' using SHA-1 MAC not permitted with security profile "
                         "'%s'" % (name, profile.name), not_allowed)
    recommends = "RFC %s recommends that such cipher suites should not be used" % profile.rfc
    if suite.startswith("RSA_"):
        log.warning("Ciphersuite '%s' uses RSA key transport. %s.", name, recommends)
    if profile.rfc8996:
        if suite.startswith("DHE_"):
            log.warning("Ciphersuite '%s' uses ephemeral finite-field Diffie-Hellman key "
                        "agreement. %s.", name, recommends)
        if "_CBC_" in suite:
            log.warning("Ciphersuite '%s' uses CBC mode of operation. %s, unless both sides "
                        "support the encrypt_then_mac extension (we do).", name, recommends)


def cipher_listing() -> List[str]:
    """The lines +cc prints after the banner."""
    return ["Supported TLS ciphersuites are:"] + ["  TLS_" + s for s in _known(RANKED_SUITES)]


def profile_listing() -> List[str]:
    """The lines +ph prints after the banner."""
    lines = ["Cryptographic algorithms implemented by: %s" % ssl.OPENSSL_VERSION, "",
             "Supported TLS Secure Transport Connection Profiles are:"]
    for i, profile in enumerate(p for p in PROFILES if profile_available(p)):
        lines.append("- %s%s%s" % (profile.name, " (default)" if i == 0 else "",
                                   " (retired)" if profile.retired else ""))
    return lines
