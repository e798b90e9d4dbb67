"""DICOM over TLS as storescp does it (spec ``storescp-tls.md``): the server
context built from a `ServerConfig` with storescp's start-up checks and log
lines, and the handshake of each connection, run in that connection's own
association thread within the ACSE timeout.

The standard library's `ssl` does the TLS.  At start-up `cryptography`
reads keys and certificates first (`plan_context`), so that storescp's
order of failures (key, certificate, match) and its certificate policy can
be reproduced, and so that DER files and encrypted keys reach `ssl` as
unencrypted PEM in an anonymous memory file that never touches a disk; the
command line's multi-process servers do that in a short-lived child
(`plan_context_apart`).  A peer's certificate is read by
`fastscp.certinfo`, so server processes never load `cryptography`.  Two
settings of storescp have no `ssl` API in Python 3.11, the key exchange
groups and the TLS 1.3 suites: they are set through `fastscp._openssl`,
and where that cannot be used they are approximated on the safe side
(README, "DICOM over TLS"): P-256 alone, and ``+pm`` without its two TLS
1.3 CCM suites.
"""
from __future__ import annotations

import _ssl
import contextlib
import logging
import marshal
import os
import select
import socket
import ssl
import struct
import sys
import time
import warnings
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from fastscp import _openssl
from fastscp.certinfo import CertInfo, Time, read_certificate
from fastscp.config import (
    CRL_CHECK_CHAIN, CRL_CHECK_LEAF, PEER_CERT_IGNORE, PEER_CERT_REQUIRE, ServerConfig,
)
from fastscp.errors import TLSSetupError
from fastscp.log import flush_output
from fastscp.tls_suites import BY_KEY, Profile, SuiteError, negotiated_suites

log = logging.getLogger("fastscp")

#: whether OpenSSL's read can be called in C on ``_ssl``'s objects (`TLSConnection`)
_OPENSSL_BOUND = _openssl.bind(getattr(_ssl, "__file__", None))

#: storescp's built-in DH group (3.6.9): RFC 7919 ffdhe2048, for DHE suites
FFDHE2048 = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""
#: storescp 3.6.9's key exchange groups, preferred first (no X25519/X448)
GROUPS = ("P-256", "secp256k1", "P-384", "P-521", "sect283k1", "sect283r1", "sect409k1",
          "sect409r1", "sect571k1", "sect571r1", "brainpoolP256r1", "brainpoolP384r1",
          "brainpoolP512r1")
#: the one group offered where `fastscp._openssl` cannot set them (ssl's
#: set_ecdh_curve takes one)
FALLBACK_GROUP = "prime256v1"
#: what storescp asks on the terminal for an encrypted key (+ps)
PASSWORD_PROMPT = "Enter PEM pass phrase:"
#: random bytes written to the seed file after each connection (+ws/+wf)
SEED_BYTES = 1024
#: the ALPN protocol DICOM over TLS names
ALPN = "dicom"
#: the log condition of a handshake that did not end within the ACSE timeout
HANDSHAKE_TIMEOUT = "000b:000b TLS read operation did not complete (SSL_ERROR_WANT_READ)"
VERIFY_FAILED = "000b:0886 TLS error: certificate verify failed"

_WEAK_HASHES = ("md2", "md4", "md5")
#: OpenSSL's short names of signature algorithms that are not SHA-2/3
#: based, as storescp prints them
_SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.5": "RSA-SHA1", "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10040.4.3": "DSA-SHA1", "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.3.101.112": "ED25519", "1.3.101.113": "ED448",
}
#: OpenSSL's short names of name attributes (the debug output's /CN=... form)
_NAME_ATTRIBUTES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "1.2.840.113549.1.9.1": "emailAddress", "2.5.4.5": "serialNumber",
    "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}


# ---------------------------------------------------------------------------
# the server context
# ---------------------------------------------------------------------------

def server_tls(config: ServerConfig, *, apart: bool = False) -> Optional["ServerTLS"]:
    """The TLS side of a server, or None for plain TCP.  Raises
    TLSSetupError (storescp's fatal lines) after logging its warnings.
    `apart`: the files are checked in a child process (`plan_context_apart`)."""
    if config.tls_context is not None:
        return ServerTLS(config.tls_context, config)
    if config.tls_key_cert is None:
        return None
    plan = plan_context_apart(config) if apart else plan_context(config)
    return ServerTLS(make_context(plan, config), config)


def build_context(config: ServerConfig) -> ssl.SSLContext:
    """An `ssl.SSLContext` set up as storescp sets up its TLS layer, in its
    order, with its warnings and fatal errors."""
    return make_context(plan_context(config), config)


class ContextPlan(NamedTuple):
    """What `plan_context` found in the files and options, checked and
    logged: plain data, so that a short-lived process can work it out."""
    #: +cf files (and +crl files) that load, in the order they are loaded
    ca_files: Tuple[str, ...]
    crl_files: Tuple[str, ...]
    verify_flags: int
    #: the unencrypted key and the certificate chain, PEM
    key_and_chain: bytes
    #: a DSA certificate: TLS 1.2 at most
    dsa: bool
    suites: Tuple[str, ...]
    #: +dp's parameters (PEM), None for the built-in group
    dh_params: Optional[bytes]


def plan_context(config: ServerConfig) -> ContextPlan:
    """storescp's checks of the TLS options and files, in its order, with
    its warnings; TLSSetupError with its fatal lines."""
    assert config.tls_key_cert is not None
    profile = BY_KEY[config.tls_profile]
    _set_groups_and_tls13_suites(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), profile, log.debug)
    ca_files, crl_files, verify_flags = _plan_trust(config)
    key_file, cert_file = config.tls_key_cert
    key = _load_key(key_file, config.tls_der, config.tls_password)
    chain = _load_certificates(cert_file, config.tls_der)
    from cryptography.hazmat.primitives import serialization as ser
    own = read_certificate(chain[0].public_bytes(ser.Encoding.DER))
    dsa = _check_own_certificate(own, cert_file, profile)
    if key.public_key() != chain[0].public_key():
        raise TLSSetupError("000b:0006 Private key '%s' and certificate '%s' do not match"
                            % (key_file, cert_file))
    pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    pem += b"".join(c.public_bytes(ser.Encoding.PEM) for c in chain)
    try:
        suites = negotiated_suites(profile, config.tls_ciphers)
    except SuiteError as exc:
        raise TLSSetupError(*exc.lines) from None
    dh_params = None
    if config.tls_dh_params is not None:
        dh_params = _plan_dh_file(config.tls_dh_params, config.tls_der, profile)
    return ContextPlan(ca_files, crl_files, verify_flags, pem, dsa, tuple(suites), dh_params)


def make_context(plan: ContextPlan, config: ServerConfig) -> ssl.SSLContext:
    """The context `plan` describes (logs nothing: `plan_context` did)."""
    profile = BY_KEY[config.tls_profile]
    if config.tls_seed_file is not None:
        _read_seed(config.tls_seed_file)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # storescp: OpenSSL security level 0, server preference (Python sets it);
    # the profile, not OpenSSL, decides what is weak
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    _set_groups_and_tls13_suites(ctx, profile, lambda *_: None)
    _load_dh_params(ctx, FFDHE2048)
    for path in plan.ca_files:
        _add_verify_file(ctx, path, config.tls_der)
    for path in reversed(config.tls_ca_dirs):
        with contextlib.suppress(ssl.SSLError, OSError):   # read lazily: never checked
            ctx.load_verify_locations(capath=path)
    for path in plan.crl_files:
        _add_verify_file(ctx, path, False)
    ctx.verify_flags |= plan.verify_flags
    with _memory_file(plan.key_and_chain) as path:
        ctx.load_cert_chain(path)
    ctx.minimum_version = profile.minimum
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if plan.dsa else profile.maximum
    ctx.set_ciphers(":".join(plan.suites) + ":@SECLEVEL=0")
    if plan.dh_params is not None:
        _load_dh_params(ctx, plan.dh_params)
    ctx.verify_mode = {PEER_CERT_REQUIRE: ssl.CERT_REQUIRED,
                       PEER_CERT_IGNORE: ssl.CERT_NONE}.get(config.tls_peer_cert,
                                                            ssl.CERT_OPTIONAL)
    ctx.set_alpn_protocols([ALPN])
    if config.tls_expect_sni is not None:
        ctx.sni_callback = _sni_check(config.tls_expect_sni)
    return ctx


def plan_context_apart(config: ServerConfig) -> ContextPlan:
    """`plan_context` run in a short-lived child process, which logs what it
    logs and prompts for a password as it would here: the caller never
    imports `cryptography` (its extension and objects cost each server
    process ~10 MB).  Only for a process without threads (a fork copies
    none of them but all their locks)."""
    read_end, write_end = os.pipe()
    flush_output()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            try:
                reply: Tuple[str, Any] = ("plan", tuple(plan_context(config)))
            except TLSSetupError as exc:
                reply = ("fatal", tuple(exc.lines))
            except BaseException as exc:    # reported by the parent, not lost
                reply = ("failed", "%s: %s" % (type(exc).__name__, exc))
            data = marshal.dumps(reply)     # plain data: no pickle to import
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
        except BaseException:
            code = 1
        finally:
            flush_output()
            os._exit(code)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
    finally:
        os.waitpid(pid, 0)
    try:
        kind, value = marshal.loads(data)
    except Exception:
        kind, value = "failed", "it ended without an answer"
    if kind == "fatal":
        raise TLSSetupError(*value)
    if kind != "plan":
        raise TLSSetupError("cannot set up TLS: the process reading the keys and certificates "
                            "failed (%s)" % (value,))
    return ContextPlan(*value)


def _set_groups_and_tls13_suites(ctx: ssl.SSLContext, profile: Profile,
                                 say: Callable[..., None]) -> None:
    """storescp's groups and the profile's TLS 1.3 suites, through
    `fastscp._openssl`; where that cannot be used, P-256 alone and
    OpenSSL's default TLS 1.3 suites (less than storescp offers, never
    more: +pm then lacks its two CCM suites), which `say` is told."""
    try:
        if not _OPENSSL_BOUND:
            raise LookupError("OpenSSL's functions were not found through _ssl")
        _openssl.set_groups(ctx, GROUPS)
        if profile.tls13_suites:
            _openssl.set_tls13_ciphersuites(ctx, ":".join(profile.tls13_suites))
    except (LookupError, ValueError) as exc:
        ctx.set_ecdh_curve(FALLBACK_GROUP)
        say("TLS key exchange group P-256 alone, TLS 1.3 suites OpenSSL's defaults "
            "(storescp's cannot be set here: %s)", exc)


def _openssl_error(code: str, reason: str) -> None:
    """The one ``E: OpenSSL error`` line storescp prints before a fatal
    file error (OpenSSL's first queued error)."""
    log.error("OpenSSL error %s: %s", code, reason)


def _read_file(path: str, fatal: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        _openssl_error("80000002", "system library: %s" % (exc.strerror or exc))
        raise TLSSetupError(fatal) from None


def _plan_trust(config: ServerConfig) -> Tuple[Tuple[str, ...], Tuple[str, ...], int]:
    """+cf and +crl (storescp: each last given first; those that do not
    load are warned about and left out) and the CRL mode's verify flags."""
    trial = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca_files = []
    for path in reversed(config.tls_ca_files):
        if _add_verify_file(trial, path, config.tls_der):
            ca_files.append(path)
        else:
            log.warning("unable to load certificate file '%s', ignoring", path)
    crl_files = []
    for path in reversed(config.tls_crl_files):
        # a DER CRL never loads in storescp (it reads DER files as certificates)
        if not config.tls_der and _add_verify_file(trial, path, False):
            crl_files.append(path)
        else:
            log.warning("unable to load CRL file '%s', ignoring", path)
    flags = 0
    if config.tls_crl_check == CRL_CHECK_CHAIN:
        flags = ssl.VERIFY_CRL_CHECK_CHAIN
    elif config.tls_crl_check == CRL_CHECK_LEAF or crl_files:
        flags = ssl.VERIFY_CRL_CHECK_LEAF
    return tuple(ca_files), tuple(crl_files), int(flags)


def _add_verify_file(ctx: ssl.SSLContext, path: str, der: bool) -> bool:
    try:
        if der:
            with open(path, "rb") as fh:
                ctx.load_verify_locations(cadata=fh.read())
        else:
            ctx.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        return False
    return True


def _load_key(path: str, der: bool, password: Optional[str]) -> Any:
    """The server's private key.  An RSA key's primes are not tested (as
    OpenSSL does not when storescp loads it): the test costs ~70 ms of CPU at
    each start, and the key's match with the certificate is checked anyway."""
    from cryptography.hazmat.primitives import serialization as ser
    fatal = "000b:0004 Unable to load private TLS key from '%s'" % path
    data = _read_file(path, fatal)
    if der:                         # as storescp: DER keys are never encrypted
        try:
            return ser.load_der_private_key(data, None, unsafe_skip_rsa_key_validation=True)
        except (ValueError, TypeError):
            _openssl_error("0680007b", "asn1 encoding routines: header too long")
            raise TLSSetupError(fatal) from None
    try:
        return ser.load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except TypeError:               # encrypted: the password is needed now, once
        pass
    except ValueError:
        _openssl_error("0480006c", "PEM routines: no start line")
        raise TLSSetupError(fatal) from None
    if password is None:
        password = _ask_password()
        if password is None:
            raise TLSSetupError(fatal)
    try:
        return ser.load_pem_private_key(data, password.encode(),
                                        unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        _openssl_error("1c800064", "Provider routines: bad decrypt")
        raise TLSSetupError(fatal) from None


def _ask_password() -> Optional[str]:
    """+ps: the terminal if there is one (no echo), else one line of stdin
    after the prompt on stderr; None at end of input."""
    try:
        with open("/dev/tty"):
            pass
    except OSError:
        sys.stderr.write(PASSWORD_PROMPT + "\n")
        sys.stderr.flush()
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else None
    import getpass
    try:
        return getpass.getpass(PASSWORD_PROMPT)
    except EOFError:
        return None


def _load_certificates(path: str, der: bool) -> List[Any]:
    from cryptography import x509
    fatal = "000b:0005 Unable to load certificate from '%s'" % path
    data = _read_file(path, fatal)
    try:
        if der:
            return [x509.load_der_x509_certificate(data)]
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        _openssl_error("0480006c", "PEM routines: no start line")
        raise TLSSetupError(fatal) from None
    return chain


def _signature(cert: CertInfo) -> Tuple[str, bool]:
    """(the name storescp prints, SHA-2/3 based) of a certificate's signature."""
    oid, name = cert.signature_oid, cert.signature_hash or ""
    if name in _WEAK_HASHES:
        return name.upper(), False
    strong = oid not in _SIGNATURE_NAMES and name.startswith(("sha224", "sha256", "sha384",
                                                               "sha512", "sha3"))
    return _SIGNATURE_NAMES.get(oid, oid), strong


def _check_own_certificate(cert: CertInfo, path: str, profile: Profile) -> bool:
    """storescp 3.6.9's checks of its own certificate (§3.1); True for a DSA
    key (which rules out TLS 1.3)."""
    fatal = "000b:0005 Unable to load certificate from '%s'" % path
    strict = profile.rfc8996
    kind, bits = cert.key_kind, cert.key_bits
    tail = "but the key in certificate file '%s' is only %d bits." % (path, bits)
    if kind == "RSA" and bits < 2048:
        if strict:
            raise TLSSetupError("Key length of RSA public key too short: RFC 9325 requires at "
                                "least 2048 bits for server RSA keys, " + tail, fatal)
        log.warning("Key length of RSA public key too short: RFC 9325 recommends at least "
                    "2048 bits for RSA keys, " + tail)
    elif kind == "ECDSA" and profile.strict_certificates and bits < 256:
        raise TLSSetupError("Key length of ECDSA public key too short: TLS profile requires at "
                            "least 256 bits for ECDSA keys, " + tail, fatal)
    elif kind == "ECDSA" and bits < 224:
        log.warning("Key length of ECDSA public key too short: RFC 9325 recommends at least "
                    "224 bits for ECDSA keys, " + tail)
    elif kind == "DSA":
        if strict:
            raise TLSSetupError("DSA certificate '%s' not permitted in the selected TLS profile "
                                "because it prevents the use of TLS 1.3." % path, fatal)
        log.warning("Use of DSA certificate not recommended because it prevents the use of "
                    "TLS 1.3, which does not support this certificate type.")
    name, strong = _signature(cert)
    if name in ("MD2", "MD4", "MD5"):
        log.error("Weak certificate hash key: certificate file '%s' uses '%s'.", path, name)
        raise TLSSetupError(fatal)
    if not strong:
        if profile.strict_certificates:
            raise TLSSetupError("Weak certificate hash key: TLS profile requires SHA-256 (or "
                                "better) for certificates, but certificate file '%s' uses '%s'."
                                % (path, name), fatal)
        log.warning("Possibly weak certificate hash key: RFC 9325 recommends the use of "
                    "SHA-256 (or better) for certificates, but certificate file '%s' uses "
                    "'%s'.", path, name)
    return kind == "DSA"


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path to `data` for the `ssl` calls that take only paths: an
    anonymous memory file where there is one, else a private temporary file
    removed at once."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("fastscp-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield "/proc/self/fd/%d" % fd
        finally:
            os.close(fd)
        return
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tls.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            yield path
        finally:
            os.unlink(path)


def _load_dh_params(ctx: ssl.SSLContext, pem: bytes) -> None:
    with _memory_file(pem) as path:
        ctx.load_dh_params(path)


def _plan_dh_file(path: str, der: bool, profile: Profile) -> Optional[bytes]:
    """+dp: its parameters (PEM) to replace the built-in group, None if
    they do not load; one below 2048 bits is warned about, and refused
    under +pz."""
    from cryptography.hazmat.primitives import serialization as ser
    with warnings.catch_warnings():     # cryptography deprecates finite-field DH
        warnings.simplefilter("ignore")
        from cryptography.hazmat.primitives.asymmetric import dh
    unloadable = "unable to load temporary DH parameter file '%s', ignoring" % path
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        params = ser.load_der_parameters(data) if der else ser.load_pem_parameters(data)
        if not isinstance(params, dh.DHParameters):
            raise ValueError(path)
    except (OSError, ValueError):
        log.warning(unloadable)
        return None
    bits = params.parameter_numbers().p.bit_length()
    if bits < 2048:
        log.warning("Key length of Diffie-Hellman parameter file too short: RFC 9325 recommends "
                    "at least 2048 bits, but the key in file '%s' is only %d bits.", path, bits)
        if profile.key == "bcp195-ex":
            log.warning(unloadable)
            return None
    return params.parameter_bytes(ser.Encoding.PEM, ser.ParameterFormat.PKCS3)


def _sni_check(expected: str) -> Callable[[Any, Optional[str], ssl.SSLContext],
                                          Optional[int]]:
    """--expect-sni: no SNI or exactly ours passes; another name is refused."""
    def check(sslobj: Any, name: Optional[str], ctx: ssl.SSLContext) -> Optional[int]:
        if name is None or name == expected:
            return None
        log.error("SNI failure: client requested server '%s', my name is '%s'.", name, expected)
        return int(ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME)
    return check


def _read_seed(path: str) -> None:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return                      # as storescp: silently nothing
    ssl.RAND_add(data, 0.0)


def _write_seed(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, ssl.RAND_bytes(SEED_BYTES))
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------
# connections
# ---------------------------------------------------------------------------

def condition(exc: BaseException) -> str:
    """storescp's condition text for a failed handshake."""
    reason = getattr(exc, "reason", None) if isinstance(exc, ssl.SSLError) else None
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError)) and not reason:
        # the peer closed mid-handshake: Python 3.11.2 (Debian 12's) reports
        # the end of the memory BIO as a clean close without OpenSSL's reason,
        # later versions as OpenSSL's own UNEXPECTED_EOF_WHILE_READING
        reason = "UNEXPECTED_EOF_WHILE_READING"
    if reason:
        names = getattr(_ssl, "err_names_to_codes", {})
        code = names.get(reason, (0, 0))[1]
        return "000b:%04x TLS error: %s" % (0x800 + code, reason.lower().replace("_", " "))
    if isinstance(exc, TimeoutError):
        return HANDSHAKE_TIMEOUT
    return "000b:0017 OpenSSL I/O error (SSL_ERROR_SYSCALL)"


class ServerTLS:
    """The TLS side of one server: its context and what happens around
    each connection's handshake."""

    def __init__(self, context: ssl.SSLContext, config: ServerConfig) -> None:
        self.context = context
        self.strict_peer = BY_KEY[config.tls_profile].strict_certificates
        self.seed_out: Optional[str] = None
        if config.tls_write_seed:
            self.seed_out = config.tls_write_seed_file or config.tls_seed_file

    def accept(self, conn: socket.socket, deadline: float) -> Optional["TLSConnection"]:
        """Run the handshake on the accepted, blocking `conn` in the caller's
        thread until the `time.monotonic()` deadline.  On failure, log
        storescp's line and return None; `conn` stays the caller's to close."""
        try:
            return self._handshake(conn, deadline)
        finally:
            if self.seed_out is not None:
                _write_seed(self.seed_out)

    def _handshake(self, conn: socket.socket, deadline: float) -> Optional["TLSConnection"]:
        tls = TLSConnection(conn, self.context)
        try:
            tls.handshake(deadline)
        except (OSError, ValueError) as exc:
            log.error("Receiving Association failed: %s", condition(exc))
            tls.close()
            return None
        cert = tls.ssl.getpeercert(binary_form=True)
        _log_details(tls.ssl, cert)
        if cert and not self._peer_acceptable(cert):
            log.error("Receiving Association failed: %s", VERIFY_FAILED)
            tls.close()
            return None
        return tls

    def _peer_acceptable(self, der: bytes) -> bool:
        """storescp 3.6.9's policy for the peer's certificate (§3.4; Python
        3.11 shows only the leaf of the verified chain)."""
        try:
            cert = read_certificate(der)
        except ValueError as exc:
            log.error("Peer certificate cannot be read (%s). Refusing TLS connection.", exc)
            return False
        name, strong = _signature(cert)
        if name in ("MD2", "MD4", "MD5"):
            log.error("Weak certificate hash key: peer provided certificate with '%s'. "
                      "Refusing TLS connection.", name)
            return False
        kind, bits = cert.key_kind, cert.key_bits
        least = {"RSA": 2048, "ECDSA": 256 if self.strict_peer else 224}.get(kind, 0)
        if bits < least:
            if self.strict_peer:
                log.error("%s key length too short: the DICOM TLS profile requires at least %d "
                          "bits, but peer provided %s certificate with %d bits. Refusing TLS "
                          "connection.", kind, least, kind, bits)
                return False
            log.warning("%s key length too short: RFC 9325 recommends at least %d bits, but "
                        "peer provided %s certificate with %d bits.", kind, least, kind, bits)
        if not strong:
            if self.strict_peer:
                log.error("Weak certificate hash key: the DICOM TLS profile requires SHA-256 (or "
                          "better) for certificates, but peer provided certificate with '%s'. "
                          "Refusing TLS connection.", name)
                return False
            log.warning("Weak certificate hash key: RFC 9325 recommends SHA-256 (or better, but "
                        "peer provided certificate with '%s'.", name)
        return True


def _x509_name(name: Sequence[Tuple[str, str]]) -> str:
    return "".join("/%s=%s" % (_NAME_ATTRIBUTES.get(oid, oid), value) for oid, value in name)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _asn1_time(when: Time) -> str:
    """OpenSSL's form of a time: ``Dec  2 20:50:00 2026 GMT``."""
    year, month, day, hour, minute, second = when
    return "%s %2d %02d:%02d:%02d %d GMT" % (_MONTHS[month - 1], day, hour, minute, second, year)


def _log_details(tls: ssl.SSLSocket, der: Optional[bytes]) -> None:
    """storescp's -d block after a handshake."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    cipher = tls.cipher()
    lines = ["================== BEGIN TLS CONNECTION DETAILS =================",
             "Transport connection: TLS over TCP/IP",
             "  Protocol    : %s" % tls.version(),
             "  Ciphersuite : %s, encryption: %s bits" % (cipher[0], cipher[2]) if cipher else ""]
    cert = None
    if der:
        with contextlib.suppress(ValueError):      # refused after this block
            cert = read_certificate(der)
    if cert is not None:
        serial = cert.serial if cert.serial < 2 ** 63 else -1
        kind = "unknown" if cert.key_kind == "ECDSA" else cert.key_kind
        lines += ["Peer X.509v3 Certificate",
                  "  Subject     : %s" % _x509_name(cert.subject),
                  "  Issued by   : %s" % _x509_name(cert.issuer),
                  "  Serial no.  : %d" % serial,
                  "  Validity    : not before %s, not after %s" % (_asn1_time(cert.not_before),
                                                                    _asn1_time(cert.not_after)),
                  "  Public key  : %s, %d bits" % (kind, cert.key_bits)]
    elif der:
        lines.append("Peer X.509v3 Certificate (cannot be read)")
    else:
        lines.append("Peer did not provide a certificate or certificate verification is "
                     "disabled.")
    lines.append("=================== END TLS CONNECTION DETAILS ==================")
    log.debug("\n".join(lines))


class TLSConnection:
    """One TLS connection as `server.drive` uses a socket (`recv_into`,
    `sendall`, `setsockopt`).  OpenSSL reads and writes a duplicate of the
    accepted socket itself, non-blocking: the ciphertext goes from the
    kernel into OpenSSL's record buffer and is decrypted there, with no
    memory BIO in between (whose write zeroes and copies every byte and whose
    read copies it again: 6 % of the server's CPU for 400 CT images).  The
    duplicate keeps the caller's socket object its own, to shut down and to
    close.  A read hands over every record that arrived, not one 16 KiB
    record per call as `ssl.SSLSocket.recv_into` does, in one C call
    (`fastscp._openssl`) where CPython's ``_ssl`` allows it; the timeouts
    that `drive` sets with setsockopt bound the waits in poll() here."""

    __slots__ = ("ssl", "_fd", "_read", "_write", "_records", "_poller", "_recv_timeout",
                 "_send_timeout")

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        own = sock.dup()
        try:
            own.setblocking(False)
            self.ssl = context.wrap_socket(own, server_side=True, do_handshake_on_connect=False)
        except BaseException:
            own.close()
            raise
        self._fd = self.ssl.fileno()
        # the C object's read and write, without the Python wrappers around
        # them (called once per record, tens of thousands of times for a
        # large object); with a buffer, read returns a count (typeshed: bytes)
        native: Any = getattr(self.ssl, "_sslobj", None) or self.ssl
        self._read: Callable[[int, memoryview], int] = native.read
        self._write: Callable[[Any], int] = native.write
        #: the records read in C (fastscp._openssl), or None: read here
        self._records: Optional[_openssl.RecordReader] = None
        if _OPENSSL_BOUND:
            with contextlib.suppress(LookupError):
                self._records = _openssl.RecordReader(native, native.context, self._fd)
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLIN)
        #: seconds a read or a write may wait (None: no limit), as drive sets them
        self._recv_timeout: Optional[float] = None
        self._send_timeout: Optional[float] = None

    def _wait(self, events: int, timeout: Optional[float]) -> bool:
        """Whether the socket became ready for `events` within `timeout`."""
        self._poller.modify(self._fd, events)
        return bool(self._poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1)))

    def handshake(self, deadline: float) -> None:
        """The handshake, bounded as a whole by `deadline` (monotonic)."""
        while True:
            try:
                self.ssl.do_handshake()
                return
            except ssl.SSLWantReadError:
                events = select.POLLIN
            except ssl.SSLWantWriteError:
                events = select.POLLOUT
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._wait(events, remaining):
                raise TimeoutError()

    def recv_into(self, buffer: memoryview) -> int:
        """Decrypted bytes into `buffer`: all that the records received so
        far hold (waiting for the socket only when there are none); 0 at
        the end of the connection; socket.timeout when none came in time."""
        records = self._records
        if records is None:
            return self._recv_records_here(buffer)
        while True:
            n = records.read_into(buffer)
            if n:
                return n
            state = records.state
            if state == _openssl.WANT_READ:
                ready = self._wait(select.POLLIN, self._recv_timeout)
            elif state == _openssl.WANT_WRITE:     # e.g. a key update answered
                ready = self._wait(select.POLLOUT, self._send_timeout)
            else:
                return 0                        # closed, or an empty buffer
            if not ready:
                raise socket.timeout("timed out")

    def _recv_records_here(self, buffer: memoryview) -> int:
        """`recv_into` through ``_ssl``'s read, a call per record (where
        `fastscp._openssl` cannot be used)."""
        read, size, total = self._read, len(buffer), 0
        while True:
            try:
                # once per TLS record: the first read goes without a slice
                n = read(size - total, buffer[total:]) if total else read(size, buffer)
            except ssl.SSLWantReadError:
                if total:
                    return total
                if not self._wait(select.POLLIN, self._recv_timeout):
                    raise socket.timeout("timed out") from None
                continue
            except ssl.SSLWantWriteError:       # e.g. a key update answered
                if not self._wait(select.POLLOUT, self._send_timeout):
                    raise socket.timeout("timed out") from None
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return total
            if not n:
                return total
            total += n
            if total == size:
                return total

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self._write(view):]
                continue
            except ssl.SSLWantWriteError:
                events = select.POLLOUT
            except ssl.SSLWantReadError:
                events = select.POLLIN
            if not self._wait(events, self._send_timeout):
                raise socket.timeout("timed out")

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        """drive's kernel timeouts (SO_RCVTIMEO/SO_SNDTIMEO, a struct
        timeval; zero = none) become the bounds of the waits here."""
        if level == socket.SOL_SOCKET and option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            seconds, micro = struct.unpack("@ll", value)
            timeout = seconds + micro / 1e6 or None
            if option == socket.SO_RCVTIMEO:
                self._recv_timeout = timeout
            else:
                self._send_timeout = timeout
            return
        self.ssl.setsockopt(level, option, value)

    def settimeout(self, timeout: Optional[float]) -> None:
        self._recv_timeout = self._send_timeout = timeout

    def close(self) -> None:
        """Send one close_notify without waiting for the peer's (storescp
        too), then close the duplicate; the caller's socket stays open."""
        try:
            with contextlib.suppress(OSError, ValueError):
                self.ssl.unwrap()
        finally:
            self.ssl.close()
