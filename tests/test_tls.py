"""DICOM over TLS against real peers over loopback: DCMTK storescu/echoscu
with +tls, openssl s_client, pynetdicom; Debian's storescp +tls as the
reference for stored files and log lines (spec storescp-tls.md)."""
from __future__ import annotations

import os
import re
import socket
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

import dicomnet as dn
from conftest import DCMTK_ENV, ECHOSCU, InProcessServer, final_files, run_storescu, wait_for
from test_differential import _compare_dirs, _pydicom_test_files
from tlscerts import PASSWORD, Certificates

from fastscp import Server, ServerConfig
from fastscp.errors import ConfigError, TLSSetupError

CT_SMALL = get_testdata_file("CT_small.dcm")


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(params=["records-in-c", "records-through-ssl"])
def read_path(request, monkeypatch):
    """Both ways a TLS connection reads its records (fastscp._openssl, and
    _ssl's read where that cannot be used) for an in-process server."""
    import fastscp.tls
    if request.param == "records-through-ssl":
        monkeypatch.setattr(fastscp.tls, "_OPENSSL_BOUND", False)
    else:
        assert fastscp.tls._OPENSSL_BOUND
    return request.param


def server_tls(c: Certificates, *extra: str):
    return ["+tls", c.server_key, c.server, "+cf", c.ca, *extra]


def client_tls(c: Certificates, *extra: str, key=None, cert=None):
    return ["+tls", key or c.client_key, cert or c.client, "+cf", c.ca, *extra]


def s_client(port: int, *args: str) -> str:
    """openssl s_client's brief output (handshake result) for one connection."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-brief", *args],
                       input="", capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def negotiated(text: str):
    """(protocol, ciphersuite) of a completed handshake, or None."""
    proto = re.search(r"Protocol version: (\S+)", text)
    suite = re.search(r"Ciphersuite: (\S+)", text)
    return (proto.group(1), suite.group(1)) if proto and suite else None


def echo(port: int, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([ECHOSCU, *options, "127.0.0.1", str(port)], env=DCMTK_ENV,
                          capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------------------
# stored files: the same as storescp's, under each profile 3.6.7 has
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["+py", "+px", "+pz", "+pa", "+pn"])
def test_storescu_over_tls_stores_what_storescp_stores(spawn, tmp_path, certs, profile):
    files = _pydicom_test_files()
    dirs = {}
    for kind in ("dcmtk", "fastscp"):
        out = dirs[kind] = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, *server_tls(certs, profile))
        # the client speaks the same profile (+pa/+pn servers need it)
        r = run_storescu(proc.port, files, ["-nh", *client_tls(certs, profile)])
        assert r.returncode == 0, (kind, r.stderr)
        proc.stop()
    assert _compare_dirs(dirs["dcmtk"], dirs["fastscp"]) >= 12


def test_echoscu_under_default_profile(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, "-d", *server_tls(certs))
    r = echo(proc.port, *client_tls(certs))
    assert r.returncode == 0, r.stderr
    _, err = proc.stop()
    # storescp's -d block after the handshake (spec §3.5)
    block = err[err.index("D: ================== BEGIN TLS CONNECTION DETAILS"):]
    assert "D: Transport connection: TLS over TCP/IP\n" in block
    assert "D:   Protocol    : TLSv1.3\n" in block
    assert "D:   Ciphersuite : TLS_AES_256_GCM_SHA384, encryption: 256 bits\n" in block
    assert "D:   Subject     : /CN=Test Client\n" in block
    assert "D:   Issued by   : /CN=Test Root CA\n" in block
    assert "D:   Public key  : RSA, 2048 bits\n" in block
    assert "I: Association Received" in err


# ---------------------------------------------------------------------------
# versions and suites per profile (storescp 3.6.9, spec §2.1), as a peer sees them
# ---------------------------------------------------------------------------

_TLS10 = ("-tls1", "-cipher", "ALL:@SECLEVEL=0")
PROFILE_PROBES = [
    # (profile, s_client arguments, expected (version, suite) or None = refused)
    ("+pg", (), ("TLSv1.3", "TLS_AES_256_GCM_SHA384")),
    ("+pg", ("-tls1_2",), ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")),
    ("+pg", ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"), ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")),
    ("+pg", ("-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384"), None),
    ("+pg", ("-tls1_2", "-cipher", "AES128-SHA"), None),
    ("+pg", ("-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"), None),
    ("+pg", _TLS10, None),
    ("+pg", ("-groups", "X25519"), None),
    ("+pg", ("-groups", "P-384"), ("TLSv1.3", "TLS_AES_256_GCM_SHA384")),          # storescp's groups
    ("+pg", ("-tls1_2", "-groups", "brainpoolP256r1"), ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")),
    ("+pg", ("-ciphersuites", "TLS_AES_128_CCM_SHA256"), None),
    ("+pg", ("-ciphersuites", "TLS_AES_128_GCM_SHA256"), ("TLSv1.3", "TLS_AES_128_GCM_SHA256")),
    ("+pm", ("-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"), ("TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305")),
    ("+pm", ("-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384"), None),
    ("+pm", ("-ciphersuites", "TLS_AES_128_CCM_SHA256"), ("TLSv1.3", "TLS_AES_128_CCM_SHA256")),
    ("+pm", ("-ciphersuites", "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"),
     ("TLSv1.3", "TLS_AES_128_CCM_8_SHA256")),                                     # server order
    ("+py", ("-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"), ("TLSv1.2", "DHE-RSA-AES128-GCM-SHA256")),
    ("+py", ("-tls1_2", "-cipher", "AES128-SHA"), None),
    ("+py", _TLS10, None),
    ("+px", ("-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"), ("TLSv1", "AES128-SHA")),
    ("+px", ("-tls1_2",), ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")),
    ("+pz", ("-tls1_3",), None),
    ("+pz", ("-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384"), ("TLSv1.2", "DHE-RSA-AES256-GCM-SHA384")),
    ("+pz", _TLS10, None),
    ("+pa", (), ("TLSv1.2", "AES128-SHA")),
    ("+pa", ("-tls1_3",), None),
    ("+pa", ("-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"), ("TLSv1", "AES128-SHA")),
    ("+pn", ("-cipher", "NULL-SHA:@SECLEVEL=0"), ("TLSv1.2", "NULL-SHA")),
    ("+pn", ("-tls1_2",), None),
]


@pytest.mark.parametrize("profile", sorted({p for p, _, _ in PROFILE_PROBES}))
def test_profile_versions_and_suites(spawn, tmp_path, certs, profile):
    proc = spawn("fastscp", tmp_path, *server_tls(certs, profile))
    got = [(args, negotiated(s_client(proc.port, "-cert", certs.client, "-key", certs.client_key,
                                      *args)))
           for p, args, _ in PROFILE_PROBES if p == profile]
    proc.stop()
    assert got == [(args, want) for p, args, want in PROFILE_PROBES if p == profile]


def test_server_preference_order(spawn, tmp_path, certs):
    """The server picks by its own order (strongest first), not the client's."""
    proc = spawn("fastscp", tmp_path, *server_tls(certs, "+py"))
    text = s_client(proc.port, "-tls1_2", "-cert", certs.client, "-key", certs.client_key,
                    "-cipher", "DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                               "DHE-RSA-AES256-GCM-SHA384")
    proc.stop()
    assert negotiated(text) == ("TLSv1.2", "DHE-RSA-AES256-GCM-SHA384")


@pytest.mark.parametrize("args, line", [
    (("-tls1_2", "-cipher", "AES128-SHA"), "000b:08c1 TLS error: no shared cipher"),
    (("-groups", "X25519"), "000b:0865 TLS error: no suitable key share"),
])
def test_refused_handshakes_logged_like_storescp(spawn, tmp_path, certs, args, line):
    """Same refusal, same log line as Debian's storescp under +py."""
    errs = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, *server_tls(certs, "+py"))
        assert negotiated(s_client(proc.port, "-cert", certs.client, "-key", certs.client_key,
                                   *args)) is None
        _, errs[kind] = proc.stop()
    for err in errs.values():
        assert "E: Receiving Association failed: " + line in err


def _temp_key(text: str):
    m = re.search(r"(?:Server|Peer) Temp Key: ([^\n]+)", text)
    return m.group(1).strip() if m else None


@pytest.mark.parametrize("groups", ["P-384", "P-521", "X25519:P-521:P-384"])
def test_key_exchange_groups_as_storescp(spawn, tmp_path, certs, groups):
    """storescp's group list (P-256 first, then the other NIST, Koblitz and
    Brainpool curves), set through fastscp._openssl: a TLS 1.3 client
    without P-256 gets the same handshake and key exchange group from both."""
    seen = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, *server_tls(certs, "+py"))
        text = s_client(proc.port, "-cert", certs.client, "-key", certs.client_key,
                        "-groups", groups)
        proc.stop()
        seen[kind] = (negotiated(text), _temp_key(text))
    assert seen["dcmtk"][0] is not None and seen["dcmtk"][1] is not None, seen
    assert seen["fastscp"] == seen["dcmtk"]


# ---------------------------------------------------------------------------
# peer certificates, CRLs, SNI, ALPN
# ---------------------------------------------------------------------------

def _handshake_log(spawn, tmp_path, certs, server_options, client_args):
    proc = spawn("fastscp", tmp_path, *server_tls(certs, *server_options))
    text = s_client(proc.port, "-tls1_2", *client_args)
    # TLS 1.2: the client sees the refusal in the handshake itself
    _, err = proc.stop()
    return negotiated(text), err


@pytest.mark.parametrize("mode, client, accepted", [
    ("-rc", "none", False), ("-rc", "valid", True), ("-rc", "stranger", False),
    ("-rc", "expired", False), ("-vc", "none", True), ("-vc", "valid", True),
    ("-vc", "stranger", False), ("-ic", "none", True), ("-ic", "stranger", True),
    ("-ic", "expired", True),
])
def test_peer_certificate_modes(spawn, tmp_path, certs, mode, client, accepted):
    args = {"none": [], "valid": ["-cert", certs.client, "-key", certs.client_key],
            "stranger": ["-cert", certs.stranger, "-key", certs.stranger_key],
            "expired": ["-cert", certs.expired, "-key", certs.expired_key]}[client]
    result, err = _handshake_log(spawn, tmp_path, certs, [mode], args)
    assert (result is not None) == accepted, err
    if not accepted:
        line = "000b:08c7 TLS error: peer did not return a certificate" if client == "none" \
            else "000b:0886 TLS error: certificate verify failed"
        assert "E: Receiving Association failed: " + line in err


@pytest.mark.parametrize("options, client, accepted", [
    (["+crl", "CRL"], "valid", True), (["+crl", "CRL"], "revoked", False),
    (["+crv"], "valid", False),                       # leaf check without a CRL: refused
    (["+cra", "+crl", "CRL"], "revoked", False), (["-ic", "+crl", "CRL"], "revoked", True),
    ([], "revoked", True),
])
def test_crls(spawn, tmp_path, certs, options, client, accepted):
    options = [certs.crl if o == "CRL" else o for o in options]
    key, cert = {"valid": (certs.client_key, certs.client),
                 "revoked": (certs.revoked_key, certs.revoked)}[client]
    result, err = _handshake_log(spawn, tmp_path, certs, options, ["-cert", cert, "-key", key])
    assert (result is not None) == accepted, err


def test_dcmtk_client_refused_without_certificate(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, *server_tls(certs))
    r = echo(proc.port, "+tla", "+cf", certs.ca)          # TLS without a client certificate
    assert r.returncode != 0
    r = echo(proc.port, *client_tls(certs))
    assert r.returncode == 0, r.stderr
    _, err = proc.stop()
    assert "E: Receiving Association failed: 000b:08c7 TLS error: peer did not return a certificate" in err


def test_expect_sni(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, *server_tls(certs, "--expect-sni", "localhost"))
    mine = ["-cert", certs.client, "-key", certs.client_key]
    assert negotiated(s_client(proc.port, "-servername", "localhost", *mine)) is not None
    assert negotiated(s_client(proc.port, "-noservername", *mine)) is not None
    assert negotiated(s_client(proc.port, "-servername", "other.example", *mine)) is None
    _, err = proc.stop()
    assert ("E: SNI failure: client requested server 'other.example', my name is 'localhost'.\n"
            "E: Receiving Association failed: 000b:08ea TLS error: callback failed") in err


def test_alpn_dicom_selected(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, *server_tls(certs))
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % proc.port, "-alpn", "dicom",
                        "-cert", certs.client, "-key", certs.client_key],
                       input="", capture_output=True, text=True, timeout=30)
    proc.stop()
    assert "ALPN protocol: dicom" in r.stdout


# ---------------------------------------------------------------------------
# start-up: keys, passwords, formats, suites
# ---------------------------------------------------------------------------

def run_fastscp(args, input_text=None, timeout=30):
    import sys
    # a new session: no controlling terminal, so +ps reads stdin
    return subprocess.run([sys.executable, "-m", "fastscp", *args], input=input_text,
                          capture_output=True, text=True, timeout=timeout, start_new_session=True)


def _starts(spawn, tmp_path, *options, env=None) -> bool:
    try:
        spawn("fastscp", tmp_path, *options, env=env).stop()
    except RuntimeError:
        return False
    return True


def test_wrong_key_password_is_storescp_startup_error(certs, tmp_path):
    argv = ["+tls", certs.server_key_encrypted, certs.server, "+pw", "wrong", "-od", str(tmp_path), "11112"]
    r = run_fastscp(argv)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[-1] == "F: 000b:0004 Unable to load private TLS key from '%s'" % certs.server_key_encrypted
    assert re.match(r"E: OpenSSL error [0-9a-f]{8}: .*bad decrypt", lines[-2])
    assert "wrong" not in r.stderr


def test_password_options(spawn, tmp_path, certs):
    enc = certs.server_key_encrypted
    assert _starts(spawn, tmp_path, "+tls", enc, certs.server, "+pw", PASSWORD)
    # +ps without a terminal: prompt on stderr, one line of stdin (spec §5);
    # at the end of input: storescp's start-up error
    r = run_fastscp(["+tls", enc, certs.server, "-od", str(tmp_path), "11112"], input_text="")
    assert r.returncode == 1 and "Enter PEM pass phrase:" in r.stderr
    assert r.stderr.splitlines()[-1] == "F: 000b:0004 Unable to load private TLS key from '%s'" % enc


def test_password_on_stdin(tmp_path, certs):
    import sys
    port = str(_free_port())
    proc = subprocess.Popen([sys.executable, "-m", "fastscp", "+tls", certs.server_key_encrypted,
                             certs.server, "+cf", certs.ca, "-od", str(tmp_path), port],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)          # no controlling terminal
    try:
        proc.stdin.write(PASSWORD + "\n")
        proc.stdin.flush()
        assert wait_for(lambda: echo(int(port), *client_tls(certs)).returncode == 0, timeout=20)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert PASSWORD not in err


def _free_port():
    from conftest import free_port
    return free_port()


def test_der_keys_and_certificates(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, "-der", "+tls", certs.server_key_der, certs.server_der,
                 "+cf", certs.ca_der)
    r = echo(proc.port, *client_tls(certs))
    proc.stop()
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("which, line", [
    ("key", "F: 000b:0004 Unable to load private TLS key from '{key}'"),
    ("cert", "F: 000b:0005 Unable to load certificate from '{cert}'"),
    ("mismatch", "F: 000b:0006 Private key '{key}' and certificate '{cert}' do not match"),
])
def test_key_and_certificate_errors(certs, tmp_path, which, line):
    key, cert = certs.server_key, certs.server
    if which == "key":
        key = str(tmp_path / "missing.key")
    elif which == "cert":
        cert = certs.server_key                   # not a certificate
    else:
        key = certs.client_key
    r = run_fastscp(["+tls", key, cert, "-od", str(tmp_path), str(_free_port())])
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == line.format(key=key, cert=cert)


def test_unloadable_trust_files_are_warnings(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, *server_tls(certs, "+cf", "/nonexistent.pem",
                                                  "+crl", "/nonexistent.crl"))
    r = echo(proc.port, *client_tls(certs))
    _, err = proc.stop()
    assert r.returncode == 0, r.stderr
    assert "W: unable to load certificate file '/nonexistent.pem', ignoring" in err
    assert "W: unable to load CRL file '/nonexistent.crl', ignoring" in err


@pytest.mark.parametrize("options, lines, exit_code", [
    (["+cs", "TLS_RSA_WITH_AES_128_CBC_SHA"],
     ["F: Ciphersuite 'TLS_RSA_WITH_AES_128_CBC_SHA' using SHA-1 MAC not permitted with security "
      "profile 'BCP 195 RFC 8996 TLS Profile'",
      "F: 000b:000a Ciphersuite not allowed in current DICOM security profile"], 1),
    (["+pm", "+cs", "TLS_RSA_WITH_AES_128_GCM_SHA256"],
     ["F: Additional ciphersuites not permitted with security profile 'Modified BCP 195 RFC 8996 "
      "TLS Profile'", "F: 000b:000a Ciphersuite not allowed in current DICOM security profile"], 1),
    (["+cs", "TLS_NO_SUCH_SUITE"], ["F: 000b:0003 Unknown or invalid ciphersuite: TLS_NO_SUCH_SUITE"], 1),
    (["+cs", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
     ["F: Ciphersuite 'TLS_RSA_WITH_3DES_EDE_CBC_SHA' not supported by the OpenSSL library used to "
      "compile this application.",
      "F: 000b:0003 Unknown or invalid ciphersuite: TLS_RSA_WITH_3DES_EDE_CBC_SHA"], 1),
])
def test_cipher_option_refusals(certs, tmp_path, options, lines, exit_code):
    r = run_fastscp(server_tls(certs, *options) + ["-od", str(tmp_path), str(_free_port())])
    assert r.returncode == exit_code
    assert r.stderr.splitlines()[-len(lines):] == lines


def test_added_suite_is_negotiated_with_warning(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, *server_tls(certs, "+py", "+cs", "TLS_RSA_WITH_AES_128_GCM_SHA256"))
    text = s_client(proc.port, "-tls1_2", "-cipher", "AES128-GCM-SHA256", "-cert", certs.client,
                    "-key", certs.client_key)
    _, err = proc.stop()
    assert negotiated(text) == ("TLSv1.2", "AES128-GCM-SHA256")
    assert ("W: Ciphersuite 'TLS_RSA_WITH_AES_128_GCM_SHA256' uses RSA key transport. RFC 7525 "
            "recommends that such cipher suites should not be used.") in err


def test_dh_parameter_file(spawn, tmp_path, certs):
    dh = tmp_path / "dh.pem"
    subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                    "group:ffdhe3072", "-out", str(dh)], check=True, capture_output=True)
    proc = spawn("fastscp", tmp_path, *server_tls(certs, "+py", "+dp", str(dh), "+dp", str(dh)))
    text = s_client(proc.port, "-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384", "-cert",
                    certs.client, "-key", certs.client_key, "-msg")
    proc.stop()
    assert negotiated(text) == ("TLSv1.2", "DHE-RSA-AES256-GCM-SHA384")
    assert "Server Temp Key: DH, 3072 bits" in text


def test_seed_files(spawn, tmp_path, certs):
    seed, out = tmp_path / "seed.bin", tmp_path / "out.bin"
    seed.write_bytes(b"x" * 100)
    proc = spawn("fastscp", tmp_path, *server_tls(certs, "+rs", str(seed), "+wf", str(out)))
    assert echo(proc.port, *client_tls(certs)).returncode == 0
    proc.stop()
    assert seed.read_bytes() == b"x" * 100
    assert out.stat().st_size == 1024 and stat.S_IMODE(out.stat().st_mode) == 0o600


# ---------------------------------------------------------------------------
# transport: wrong peers, stalls, concurrency, the library
# ---------------------------------------------------------------------------

def test_plain_client_on_tls_port_and_tls_client_on_plain_port(spawn, tmp_path, certs):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    tls = spawn("fastscp", tmp_path / "a", *server_tls(certs))
    plain = spawn("fastscp", tmp_path / "b")
    assert echo(tls.port).returncode != 0
    assert echo(plain.port, *client_tls(certs)).returncode != 0
    assert echo(tls.port, *client_tls(certs)).returncode == 0      # both still serve
    assert echo(plain.port).returncode == 0
    _, err = tls.stop()
    assert "E: Receiving Association failed: 000b:090b TLS error: wrong version number" in err
    _, err = plain.stop()
    assert "E: Receiving Association failed: Unrecognized PDU type" in err


def test_stalled_handshake_does_not_hold_up_others(certs, tmp_path):
    """A client that stops mid-handshake costs its own thread only; it is
    dropped when the ACSE timeout (-ta) ends, with storescp's log line."""
    import logging
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("fastscp").addHandler(handler)
    srv = InProcessServer(tmp_path, tls_key_cert=(certs.server_key, certs.server),
                          tls_ca_files=(certs.ca,), acse_timeout=8)
    stalled = socket.create_connection(("127.0.0.1", srv.port))
    try:
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # a ClientHello's start
        start = time.monotonic()
        r = run_storescu(srv.port, [CT_SMALL] * 3, client_tls(certs), timeout=60)
        assert r.returncode == 0, r.stderr
        assert len(srv.stored) == 3
        stalled.setblocking(False)
        with pytest.raises(BlockingIOError):       # the stalled one is still held open
            stalled.recv(100)
        stalled.settimeout(20)
        assert stalled.recv(100) == b""            # and closed by the server after -ta
        assert time.monotonic() - start >= 2
        assert wait_for(lambda: any("000b:000b TLS read operation did not complete" in r.getMessage()
                                    for r in records), timeout=5)
    finally:
        stalled.close()
        logging.getLogger("fastscp").removeHandler(handler)
        srv.stop()


@pytest.mark.parametrize("config", [dict(dimse_timeout=0.5, socket_timeout=30.0),
                                    dict(socket_timeout=0.5)],
                         ids=["dimse-timeout", "socket-timeout"])
def test_timeouts_bound_a_tls_association(certs, tmp_path, config, read_path):
    """-td (and -ts) bound the waits of an association over TLS as over
    plain TCP: a data set that stops coming ends in an A-ABORT, sent over
    TLS, and leaves no file."""
    out = tmp_path / "out"
    out.mkdir()
    srv = InProcessServer(out, tls_key_cert=(certs.server_key, certs.server),
                          tls_ca_files=(certs.ca,), **config)
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(certs.client, certs.client_key)
    peer = dn.RawPeer(srv.port)
    try:
        peer.sock = ctx.wrap_socket(peer.sock)
        assert peer.associate([(1, dn.CT_IMAGE, [dn.ELE])])[0] == 2          # A-ASSOCIATE-AC
        peer.send(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, "1.2.3.4"), True)
                  + dn.pdata(1, b"\x08\x00\x16\x00UI", False, last=False))
        start = time.monotonic()
        p = peer.read_pdu(timeout=10)
        assert p is not None and p[0] == 7                                   # A-ABORT
        assert 0.3 < time.monotonic() - start < 5
        assert peer.closed_by_peer(timeout=10)
        assert wait_for(lambda: not any(out.iterdir()))
        assert srv.stored == []
    finally:
        peer.close()
        srv.stop()


def test_large_object_over_tls_stored_whole(certs, tmp_path, read_path):
    """A data set of many TLS records and many reads: the stored pixel data
    is what was sent, byte for byte, whichever way the records are read."""
    out = tmp_path / "out"
    out.mkdir()
    srv = InProcessServer(out, tls_key_cert=(certs.server_key, certs.server),
                          tls_ca_files=(certs.ca,))
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(certs.client, certs.client_key)
    peer = dn.RawPeer(srv.port)
    pixels = os.urandom(3 * 1024 * 1024)
    uid = "1.2.826.0.1.3680043.8.498.98"
    data = (b"\x08\x00\x16\x00UI\x1a\x00" + dn.CT_IMAGE.encode() + b"\0"
            + b"\x08\x00\x18\x00UI" + len(dn.uid(uid)).to_bytes(2, "little") + dn.uid(uid)
            + b"\xe0\x7f\x10\x00OB\0\0" + len(pixels).to_bytes(4, "little"))
    try:
        peer.sock = ctx.wrap_socket(peer.sock)
        assert peer.associate([(1, dn.CT_IMAGE, [dn.ELE])])[0] == 2
        peer.send(dn.pdata(1, dn.store_rq(dn.CT_IMAGE, uid), True)
                  + dn.pdata(1, data, False, last=False))
        sizes = [16000, 1, 9000, 16370, 333]       # PDVs across record boundaries
        pos, i, pdus = 0, 0, []
        while pos < len(pixels):
            n = min(sizes[i % len(sizes)], len(pixels) - pos)
            pdus.append(dn.pdata(1, pixels[pos:pos + n], False, last=pos + n == len(pixels)))
            pos, i = pos + n, i + 1
        for k in range(0, len(pdus), 50):
            peer.send(b"".join(pdus[k:k + 50]))
        rsp = peer.read_pdu(60)
        assert rsp is not None and rsp[0] == 4, rsp
        assert dn.parse_command(rsp[1][6:])[0x0900] == b"\0\0"
        peer.send(dn.release_rq())
        assert peer.read_pdu(10)[0] == 6                                     # A-RELEASE-RP
    finally:
        peer.close()
        srv.stop()
    (f,) = final_files(out)
    assert pydicom.dcmread(f).PixelData == pixels


def test_many_tls_associations_at_once(certs, tmp_path):
    srv = InProcessServer(tmp_path, tls_key_cert=(certs.server_key, certs.server), tls_ca_files=(certs.ca,))
    try:
        procs = [subprocess.Popen([str(Path(ECHOSCU).parent / "storescu"), *client_tls(certs),
                                   "127.0.0.1", str(srv.port), CT_SMALL], env=DCMTK_ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
        for p in procs:
            assert p.wait(timeout=120) == 0, p.stderr.read()
        assert [s.status for s in srv.stored] == [0] * 8
    finally:
        srv.stop()


def test_tls_with_output_and_event_options(spawn, tmp_path, certs):
    out = tmp_path / "out"
    out.mkdir()
    marker = tmp_path / "xcr.txt"
    proc = spawn("fastscp", out, "-su", "st", "+te", "-xcr", "echo #f >> %s" % marker, "-xs",
                 *server_tls(certs))
    r = run_storescu(proc.port, [CT_SMALL], client_tls(certs))
    proc.stop()
    assert r.returncode == 0, r.stderr
    (study,) = [p for p in out.iterdir() if p.is_dir()]
    (f,) = final_files(study)
    assert pydicom.dcmread(f).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert marker.read_text().strip() == f.name


def test_pynetdicom_tls_client(certs, tmp_path, read_path):
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage
    srv = InProcessServer(tmp_path, tls_key_cert=(certs.server_key, certs.server), tls_ca_files=(certs.ca,))
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=certs.ca)
        ctx.load_cert_chain(certs.client, certs.client_key)
        ae = AE(ae_title="PYNETDICOM")
        ae.add_requested_context(CTImageStorage)
        assoc = ae.associate("127.0.0.1", srv.port, tls_args=(ctx, "localhost"))
        assert assoc.is_established
        assert assoc.send_c_store(pydicom.dcmread(CT_SMALL)).Status == 0
        assoc.release()
        (f,) = final_files(tmp_path)
        assert pydicom.dcmread(f).file_meta.SourceApplicationEntityTitle == "PYNETDICOM"
    finally:
        srv.stop()


def test_library_takes_an_ssl_context(certs, tmp_path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server, certs.server_key)        # no client certificates asked
    srv = InProcessServer(tmp_path, tls_context=ctx)
    try:
        r = echo(srv.port, "+tla", "+cf", certs.ca)
        assert r.returncode == 0, r.stderr
    finally:
        srv.stop()


def test_library_refusals(certs, tmp_path):
    base = dict(port=0, host="127.0.0.1", output_directory=str(tmp_path))
    with pytest.raises(ConfigError, match="--add-cert-file only allowed with --enable-tls"):
        ServerConfig(tls_ca_files=("x",), **base).validate()
    with pytest.raises(ConfigError, match="tls_context replaces"):
        ServerConfig(tls_context=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), tls_peer_cert="ignore",
                     **base).validate()
    with pytest.raises(TLSSetupError) as info:
        Server(ServerConfig(tls_key_cert=(certs.client_key, certs.server), **base))
    assert info.value.lines == ("000b:0006 Private key '%s' and certificate '%s' do not match"
                                % (certs.client_key, certs.server),)


def test_password_never_logged(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, "-d", "+tls", certs.server_key_encrypted, certs.server,
                 "+pw", PASSWORD, "+cf", certs.ca)
    assert echo(proc.port, *client_tls(certs)).returncode == 0
    _, err = proc.stop()
    assert PASSWORD not in err and "PRIVATE KEY" not in err


def test_connect_and_close_logged_like_storescp(spawn, tmp_path, certs):
    """A client that closes during the handshake: the same line as storescp."""
    errs = {}
    for kind in ("dcmtk", "fastscp"):
        out = tmp_path / kind
        out.mkdir()
        proc = spawn(kind, out, *server_tls(certs))
        with socket.create_connection(("127.0.0.1", proc.port)) as s:
            s.sendall(b"\x16\x03\x01\x00\x10abc")           # a ClientHello cut short
        assert echo(proc.port, *client_tls(certs)).returncode == 0   # served after it
        _, errs[kind] = proc.stop()
    lines = {k: [l for l in e.splitlines() if l.startswith("E: ")] for k, e in errs.items()}
    assert lines["fastscp"] == lines["dcmtk"]
    assert "E: Receiving Association failed: 000b:0926 TLS error: unexpected eof while reading" in lines["fastscp"]


def test_trusted_certificate_directory(spawn, tmp_path, certs):
    proc = spawn("fastscp", tmp_path, "+tls", certs.server_key, certs.server, "+cd", certs.ca_dir)
    r = echo(proc.port, *client_tls(certs))
    proc.stop()
    assert r.returncode == 0, r.stderr


def test_ecdsa_suites_of_the_modified_profile(spawn, tmp_path, certs):
    """+pm with an EC server certificate: its ECDSA suites, in its order
    (CCM_8 ranks above CCM)."""
    proc = spawn("fastscp", tmp_path, "+tls", certs.ec_server_key, certs.ec_server, "+cf", certs.ca, "+pm")
    mine = ["-cert", certs.client, "-key", certs.client_key]
    got = [negotiated(s_client(proc.port, "-tls1_2", "-cipher", c, *mine)) for c in (
        "ECDHE-ECDSA-AES128-CCM:ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES256-GCM-SHA384")]
    proc.stop()
    assert got == [("TLSv1.2", "ECDHE-ECDSA-AES128-CCM8"),
                   ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"), None]


@pytest.mark.parametrize("model", ["--fork", "--single-process"])
def test_tls_in_every_process_model(spawn, tmp_path, certs, model):
    """The default (worker processes) is what the tests above use; --fork
    children and the one-process server shake hands the same way."""
    files = _pydicom_test_files()[:3]
    proc = spawn("fastscp", tmp_path, model, *server_tls(certs))
    r = run_storescu(proc.port, files, ["-nh", *client_tls(certs)])
    assert r.returncode == 0, r.stderr
    assert echo(proc.port, *client_tls(certs)).returncode == 0
    proc.stop()
    assert len(final_files(tmp_path)) == 3


@pytest.mark.parametrize("bound", [True, False], ids=["openssl-calls", "ssl-only"])
def test_groups_and_tls13_suites_of_the_context(certs, tmp_path, monkeypatch, caplog, bound):
    """+pm's context: storescp's TLS 1.3 suites (CCM included) through
    fastscp._openssl; without it OpenSSL's defaults, P-256 alone and a
    debug line, never more than storescp offers."""
    import logging
    import fastscp.tls
    if not bound:
        monkeypatch.setattr(fastscp.tls, "_OPENSSL_BOUND", False)
    caplog.set_level(logging.DEBUG, logger="fastscp")
    config = ServerConfig(port=0, host="127.0.0.1", output_directory=str(tmp_path),
                          tls_key_cert=(certs.server_key, certs.server), tls_ca_files=(certs.ca,),
                          tls_profile="8996-mod")
    ctx = fastscp.tls.build_context(config)
    tls13 = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"]
    fallback = [r for r in caplog.records if "P-256 alone" in r.getMessage()]
    if bound:
        assert tls13 == ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                         "TLS_AES_128_GCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
                         "TLS_AES_128_CCM_SHA256"]
        assert not fallback
    else:
        assert "TLS_AES_128_CCM_SHA256" not in tls13 and "TLS_AES_256_GCM_SHA384" in tls13
        assert len(fallback) == 1


def test_server_processes_never_load_cryptography(spawn, tmp_path, certs):
    """The pool's parent has its key and certificates read in a child of its
    own, and a worker reads the client's certificate with fastscp.certinfo:
    no server process maps `cryptography` (~10 MB resident in each)."""
    proc = spawn("fastscp", tmp_path, "-rc", *server_tls(certs))
    r = run_storescu(proc.port, [CT_SMALL], ["-nh", *client_tls(certs)])
    assert r.returncode == 0, r.stderr
    pids = [proc.proc.pid] + [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                              and _parent_of(int(p.name)) == proc.proc.pid]
    maps = {pid: Path("/proc/%d/maps" % pid).read_text() for pid in pids}
    proc.stop()
    assert len(final_files(tmp_path)) == 1
    assert len(maps) >= 2                    # the parent and at least one worker
    assert all("_ssl." in text for text in maps.values())
    assert not [pid for pid, text in maps.items() if "cryptography" in text]


def _parent_of(pid: int) -> int:
    try:
        return int(Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def test_plan_made_apart_is_the_plan_made_here(certs, tmp_path, monkeypatch):
    """plan_context_apart (a child reads the files) answers what
    plan_context answers: the plan or storescp's fatal lines; a child that
    fails or dies is a start-up error, not a traceback."""
    import fastscp.tls
    def config_with(password):
        return ServerConfig(port=0, host="127.0.0.1", output_directory=str(tmp_path),
                            tls_key_cert=(certs.server_key_encrypted, certs.server),
                            tls_password=password, tls_ca_files=(certs.ca, "/nonexistent.pem"),
                            tls_crl_files=(certs.crl,))
    config, wrong = config_with(PASSWORD), config_with("wrong")
    here = fastscp.tls.plan_context(config)
    apart = fastscp.tls.plan_context_apart(config)
    assert apart == here and type(apart) is fastscp.tls.ContextPlan
    assert apart.ca_files == (certs.ca,) and apart.crl_files == (certs.crl,)
    assert b"ENCRYPTED" not in apart.key_and_chain
    with pytest.raises(TLSSetupError) as here_error:
        fastscp.tls.plan_context(wrong)
    with pytest.raises(TLSSetupError) as apart_error:
        fastscp.tls.plan_context_apart(wrong)
    assert apart_error.value.lines == here_error.value.lines
    assert "000b:0004" in apart_error.value.lines[-1]

    def broken(_config):
        raise KeyError("no such thing")
    monkeypatch.setattr(fastscp.tls, "plan_context", broken)
    with pytest.raises(TLSSetupError, match="failed .KeyError: 'no such thing'.$"):
        fastscp.tls.plan_context_apart(config)

    def killed(_config):
        os.kill(os.getpid(), 9)
    monkeypatch.setattr(fastscp.tls, "plan_context", killed)
    with pytest.raises(TLSSetupError, match="ended without an answer"):
        fastscp.tls.plan_context_apart(config)


def test_buffered_log_lines_are_written_once_by_every_process(spawn, tmp_path, certs):
    """An appender that buffers (ImmediateFlush=false): the parent's lines
    are not written again by the child that reads the keys or by a worker
    (both are forked), and what those children log is not lost when they
    leave with os._exit."""
    log_file = tmp_path / "app.log"
    config = tmp_path / "log.cfg"
    config.write_text("log4cplus.rootLogger = DEBUG, appfile\n"
                      "log4cplus.appender.appfile = log4cplus::FileAppender\n"
                      "log4cplus.appender.appfile.File = %s\n"
                      "log4cplus.appender.appfile.ImmediateFlush = false\n"
                      "log4cplus.appender.appfile.layout = log4cplus::PatternLayout\n"
                      "log4cplus.appender.appfile.layout.ConversionPattern = %%-5p|%%m%%n\n"
                      % log_file)
    out = tmp_path / "out"
    out.mkdir()
    proc = spawn("fastscp", out, "-lc", config, *server_tls(certs, "+cf", "/nonexistent.pem"))
    r = run_storescu(proc.port, [CT_SMALL], ["-nh", *client_tls(certs)])
    assert r.returncode == 0, r.stderr
    proc.stop()
    lines = log_file.read_text().splitlines()
    assert sum("fastscp v" in line for line in lines) == 1, lines[:8]
    assert lines.count("WARN |unable to load certificate file '/nonexistent.pem', ignoring") == 1
    assert "INFO |Association Release" in lines
