"""fastscp.certinfo, the X.509 reader the server uses for a peer's
certificate, against OpenSSL's and `cryptography`'s reading of certificates
the openssl CLI makes: every key kind and size storescp's policy looks at,
weak and strong signatures, names, serial numbers and both time forms
(binary curves too, which `cryptography` cannot load)."""
from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from fastscp.certinfo import read_certificate

SUBJECT = "/C=DE/ST=Hessen/O=Kl\u00e4rwerk GmbH/OU=Radiologie/CN=modality-7/emailAddress=pacs@example.org"

# (name, openssl req key arguments, extra req arguments)
CERTIFICATES = [
    ("rsa2048-sha256", ("-newkey", "rsa:2048"), ("-sha256",)),
    ("rsa1024-sha1", ("-newkey", "rsa:1024"), ("-sha1",)),
    ("rsa2048-md5", ("-newkey", "rsa:2048"), ("-md5",)),
    ("rsa2048-sha512", ("-newkey", "rsa:2048"), ("-sha512",)),
    ("rsa2048-sha3", ("-newkey", "rsa:2048"), ("-sha3-256",)),
    ("rsa-pss", ("-newkey", "rsa:2048"), ("-sha256", "-sigopt", "rsa_padding_mode:pss")),
    ("p256", ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"), ("-sha384",)),
    ("p384", ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"), ("-sha256",)),
    ("p521", ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"), ("-sha512",)),
    ("p224-sha1", ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-224"), ("-sha1",)),
    ("secp256k1", ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"), ("-sha256",)),
    ("brainpool", ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:brainpoolP384r1"), ("-sha384",)),
    *[(curve, ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + curve), ("-sha256",))
      for curve in ("P-192", "sect163k1", "sect163r2", "sect233k1", "sect233r1", "sect283k1",
                    "sect283r1", "sect409k1", "sect409r1", "sect571k1", "sect571r1",
                    "brainpoolP224r1", "brainpoolP256r1", "brainpoolP320r1", "brainpoolP512r1",
                    "brainpoolP192r1")],
    ("dsa1024", ("-newkey", "dsa:{dsaparam}"), ("-sha256",)),
    ("ed25519", ("-newkey", "ed25519"), ()),
    ("ed448", ("-newkey", "ed448"), ()),
]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """name -> (DER bytes, OpenSSL's text dump)."""
    d: Path = tmp_path_factory.mktemp("certinfo")
    dsaparam = d / "dsa.param"
    subprocess.run(["openssl", "dsaparam", "-out", str(dsaparam), "1024"], check=True,
                   capture_output=True)
    out = {}
    for number, (name, key, extra) in enumerate(CERTIFICATES):
        key = tuple(k.format(dsaparam=dsaparam) for k in key)
        # a serial above 2**63 (storescp prints -1) and one UTCTime, one GeneralizedTime
        serial = "0x%x" % (2 ** 70 + number) if number % 2 else str(1000 + number)
        subprocess.run(["openssl", "req", "-x509", *key, "-nodes", "-keyout", str(d / "k"),
                        "-out", str(d / (name + ".der")), "-outform", "DER", "-utf8",
                        "-subj", SUBJECT, "-set_serial", serial, "-days", "30000", *extra],
                       check=True, capture_output=True)
        der = (d / (name + ".der")).read_bytes()
        text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text"],
                              input=der, check=True, capture_output=True).stdout.decode()
        out[name] = der, text
    return out


def _times(when) -> tuple:
    return when.timetuple()[:6]


@pytest.mark.parametrize("name", [c[0] for c in CERTIFICATES])
def test_fields_as_openssl_and_cryptography_read_them(made, name):
    der, text = made[name]
    info = read_certificate(der)
    ref = x509.load_der_x509_certificate(der)
    assert info.signature_oid == ref.signature_algorithm_oid.dotted_string
    if name == "rsa-pss":
        assert info.signature_hash is None      # RSASSA-PSS is weak by name, whatever its hash
    else:
        try:
            ref_hash = ref.signature_hash_algorithm
        except Exception:
            ref_hash = None
        assert info.signature_hash == (ref_hash.name if ref_hash is not None else None)
    algorithm = re.search(r"Public Key Algorithm: (\S+)", text).group(1)
    kind = {"rsaEncryption": "RSA", "id-ecPublicKey": "ECDSA",
            "dsaEncryption": "DSA"}.get(algorithm, "unknown")
    assert info.key_kind == kind
    bits = re.search(r"Public-Key: \((\d+) bit\)", text)
    assert info.key_bits == (int(bits.group(1)) if bits and kind != "unknown" else 0), text
    assert info.serial == ref.serial_number
    assert info.subject == tuple((a.oid.dotted_string, a.value) for a in ref.subject)
    assert info.issuer == info.subject
    assert ("2.5.4.10", "Kl\u00e4rwerk GmbH") in info.subject
    before = getattr(ref, "not_valid_before_utc", None) or ref.not_valid_before
    after = getattr(ref, "not_valid_after_utc", None) or ref.not_valid_after
    assert info.not_before == _times(before)
    assert info.not_after == _times(after)
    assert info.not_after[0] > 2050            # written as GeneralizedTime


def test_every_cut_certificate_is_refused(made):
    der = made["p256"][0]
    for end in range(len(der)):
        with pytest.raises(ValueError):
            read_certificate(der[:end])
    with pytest.raises(ValueError):
        read_certificate(der + b"\x00")


def test_damaged_certificates_give_fields_or_value_error(made):
    rng = random.Random(1234)
    seen_errors = 0
    for name, (der, _) in made.items():
        for _ in range(300):
            damaged = bytearray(der)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            try:
                read_certificate(bytes(damaged))
            except ValueError:
                seen_errors += 1
    assert seen_errors > 0
