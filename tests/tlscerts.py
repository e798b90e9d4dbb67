"""Keys, certificates and CRLs for the TLS tests, made with the openssl CLI
(spec storescp-tls.md §7): a root CA, RSA and EC server certificates for
localhost, client certificates (valid, expired, revoked, from another CA),
an encrypted server key, a CRL, a hashed CA directory and DER copies."""
from __future__ import annotations

import subprocess
from pathlib import Path

PASSWORD = "secret"

_CONFIG = """\
[ca]
default_ca = ca_default
[ca_default]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/issued
serial = {d}/serial
crlnumber = {d}/crlnumber
certificate = {d}/ca.pem
private_key = {d}/ca.key
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_srv]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[v3_cli]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Certificates:
    """Everything in one directory; attributes are paths (str)."""

    def __init__(self, directory: Path) -> None:
        d = directory
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        (d / "issued").mkdir(exist_ok=True)
        (d / "index.txt").write_text("")
        (d / "index.txt.attr").write_text("unique_subject = no\n")    # reruns in one directory
        (d / "serial").write_text("1000\n")
        (d / "crlnumber").write_text("1000\n")
        (d / "ca.cnf").write_text(_CONFIG.format(d=d))
        self._ca("ca", "Test Root CA")
        self._ca("otherca", "Other Root CA")
        self.ca, self.other_ca = str(d / "ca.pem"), str(d / "otherca.pem")
        self.server_key, self.server = self._leaf("server", "localhost", "v3_srv")
        self.client_key, self.client = self._leaf("client", "Test Client", "v3_cli")
        self.ec_server_key, self.ec_server = self._leaf("ecserver", "localhost", "v3_srv",
                                                        key=("ec", "ec_paramgen_curve:P-256"))
        self.expired_key, self.expired = self._leaf(
            "expired", "Expired Client", "v3_cli",
            dates=("-startdate", "20200101000000Z", "-enddate", "20210101000000Z"))
        self.revoked_key, self.revoked = self._leaf("revoked", "Revoked Client", "v3_cli")
        self.stranger_key, self.stranger = self._leaf("stranger", "Stranger", "v3_cli",
                                                      ca="otherca")
        _run("ca", "-batch", "-config", "ca.cnf", "-revoke", "revoked.pem", cwd=d)
        _run("ca", "-batch", "-config", "ca.cnf", "-gencrl", "-out", "ca.crl", cwd=d)
        self.crl = str(d / "ca.crl")
        # the server key, encrypted with PASSWORD
        _run("pkey", "-in", "server.key", "-aes256", "-passout", "pass:" + PASSWORD,
             "-out", "server-enc.key", cwd=d)
        self.server_key_encrypted = str(d / "server-enc.key")
        # DER copies
        _run("pkey", "-in", "server.key", "-outform", "DER", "-out", "server.key.der", cwd=d)
        _run("x509", "-in", "server.pem", "-outform", "DER", "-out", "server.der", cwd=d)
        _run("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der", cwd=d)
        self.server_key_der, self.server_der = str(d / "server.key.der"), str(d / "server.der")
        self.ca_der = str(d / "ca.der")
        # a directory of trusted certificates, named by subject hash (+cd)
        (d / "cadir").mkdir(exist_ok=True)
        (d / "cadir" / "ca.pem").write_bytes((d / "ca.pem").read_bytes())
        _run("rehash", "cadir", cwd=d)
        self.ca_dir = str(d / "cadir")

    def _ca(self, name: str, cn: str) -> None:
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
             "-out", name + ".pem", "-days", "30", "-subj", "/CN=" + cn, "-config", "ca.cnf",
             "-extensions", "v3_ca", cwd=self.dir)

    def _leaf(self, name: str, cn: str, ext: str, dates=("-days", "30"), ca: str = "ca",
              key=("rsa:2048", None)):
        d = self.dir
        algorithm, option = key
        _run("req", "-new", "-newkey", algorithm, *(["-pkeyopt", option] if option else []),
             "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", "/CN=" + cn, "-config", "ca.cnf", cwd=d)
        _run("ca", "-batch", "-config", "ca.cnf", "-cert", ca + ".pem", "-keyfile", ca + ".key",
             "-extfile", "ca.cnf", "-extensions", ext, *dates, "-notext",
             "-in", name + ".csr", "-out", name + ".pem", cwd=d)
        return str(d / (name + ".key")), str(d / (name + ".pem"))
