"""The writer's dictionary tables, generated from pydicom at build time
(fastscp.dictdata) and read at start-up without importing pydicom."""
from __future__ import annotations

import importlib.metadata

import pydicom
import pytest

import fastscp
from fastscp import _dictionary, dictdata


def test_installed_tables_are_pydicoms():
    installed = dictdata.load()
    if installed.pydicom_version != pydicom.__version__:
        pytest.skip("tables built with pydicom %s, pydicom %s installed"
                    % (installed.pydicom_version, pydicom.__version__))
    assert installed == dictdata.from_pydicom()


def test_tables_hold_public_repeating_and_private_entries():
    t = dictdata.load()
    assert len(t.tags) > 4000 and list(t.tags) == sorted(t.tags)
    assert list(t.private_keys) == sorted(t.private_keys) and len(t.creators) > 100
    assert (_dictionary.lookup_vr(0x00100010), _dictionary.lookup_vr(0x7FE00010),
            _dictionary.lookup_vr(0x60003000), _dictionary.lookup_vr(0x00280106)) == ("PN", "OW", "OW", "US")
    assert _dictionary.lookup_private_vr(b"SIEMENS CSA HEADER", 0x00291010) == "OB"


def test_encoding_round_trip_and_damage_detected():
    t = dictdata.load()
    data = dictdata.encode(t)
    assert dictdata.decode(data) == t
    for damaged in (data[:-1], data + b"\0", b"x" + data[1:]):
        with pytest.raises(ValueError):
            dictdata.decode(damaged)


@pytest.mark.parametrize("vr,expected", [
    ("US or SS", "US"), ("OB or OW", "OW"), ("US or SS or OW", "OW"), ("OB_OW", "OW"),
    ("NONE", "UN"), ("", "UN"), (" LO ", "LO"),
])
def test_ambiguous_vrs(vr, expected):
    assert dictdata.VRS[dictdata.resolve_vr(vr)] == expected


def test_version_is_the_packages():
    assert fastscp.__version__ == importlib.metadata.version("fastscp")
