"""Association negotiation profiles (``-xf FILE PROFILE``), DCMTK's format.

The format (DCMTK's ``asconfig.txt``): an INI-like text file with
supersections ``[[Name]]`` holding sections ``[Name]`` holding
``Key = Value`` entries.  Lines that are empty or start with ``#`` are
ignored.  Supersection, section and key names are compared with white space
removed and upper-cased (``[My Profile]`` is ``MYPROFILE``); values keep
their case.

Supersections used (others are ignored, as storescp does):

* ``[[TransferSyntaxes]]``: sections of ``TransferSyntax1``, ``TransferSyntax2``
  ... (read in increasing number until one is missing);
* ``[[PresentationContexts]]``: ``PresentationContextN = <abstract>\\<TS list>``;
* ``[[SCPSCURoleSelection]]`` (optional): ``RoleN = <abstract>\\SCU|SCP|BOTH``;
* ``[[ExtendedNegotiation]]`` (optional): ``ExtendedNegotiationN = <abstract>\\<hex>``;
* ``[[Profiles]]``: ``PresentationContexts``, ``SCPSCURoleSelection`` and
  ``ExtendedNegotiation`` keys naming the lists.

Syntaxes are UIDs or DCMTK's symbolic names.  Transfer syntax names are
DCMTK's (``LittleEndianExplicit``, ``JPEGExtended:Process2+4`` …, plus
``LocalEndianExplicit``/``OppositeEndianExplicit``, resolved by host byte
order).  SOP class names resolve through the names of :mod:`fastscp.uids`
(DCMTK's, as the storescp manual prints them), pydicom's UID dictionary
keywords (with DCMTK's ``…SOPClass`` suffix optional) and a few DCMTK names
that differ from both (:data:`DCMTK_SOP_CLASS_ALIASES`).  A value that is no
known name is taken as a UID if it consists of digits and dots only.

Errors carry the problem text storescp prints after ``cannot read config
file:``; fastscp adds the file and, where there is one, the line.
"""
from __future__ import annotations

import sys
from fastscp.record import Record, field
from typing import Dict, List, Optional, Tuple

from fastscp import uids

__all__ = [
    "ProfileError", "Profile", "ConfigFile", "read_config", "load_profile",
    "normalise", "transfer_syntax_uid", "sop_class_uid", "DCMTK_TRANSFER_SYNTAX_NAMES",
]


class ProfileError(Exception):
    """A profile that cannot be used; ``str(exc)`` is the text after ``F: ``."""


def normalise(name: str) -> str:
    """Section/profile/key name as DCMTK compares it: no white space, upper case."""
    return "".join(name.split()).upper()


# ---------------------------------------------------------------------------
# symbolic names
# ---------------------------------------------------------------------------

#: DCMTK's symbolic transfer syntax names (its UID name map) -> UID
#: (the names are part of the one transfer syntax table, `uids.KNOWN_TRANSFER_SYNTAXES`).
DCMTK_TRANSFER_SYNTAX_NAMES: Dict[str, str] = {
    t.dcmtk_name: t.uid for t in uids.KNOWN_TRANSFER_SYNTAXES}

#: DCMTK SOP class names that are neither pydicom keywords nor in uids.py.
DCMTK_SOP_CLASS_ALIASES: Dict[str, str] = {
    "VerificationSOPClass": uids.VERIFICATION_SOP_CLASS,
    "ImplantationPlanSRDocumentStorage": "1.2.840.10008.5.1.4.1.1.88.70",
    "StorageCommitmentPushModelSOPClass": "1.2.840.10008.1.20.1",
}


def _pydicom_keywords() -> Dict[str, str]:
    try:
        from pydicom._uid_dict import UID_dictionary
    except ImportError:  # pragma: no cover - pydicom is a dependency
        return {}
    return {entry[4]: uid for uid, entry in UID_dictionary.items() if entry[4]}


_SOP_NAMES: Optional[Dict[str, str]] = None


def _sop_names() -> Dict[str, str]:
    global _SOP_NAMES
    if _SOP_NAMES is None:
        names = _pydicom_keywords()
        for c in uids.STORAGE_SOP_CLASSES + uids.OTHER_PREFIXED_SOP_CLASSES:
            names[c.name] = c.uid
        names.update(DCMTK_SOP_CLASS_ALIASES)
        _SOP_NAMES = names
    return _SOP_NAMES


def _is_uid_text(value: str) -> bool:
    return bool(value) and all(ch in "0123456789." for ch in value)


def transfer_syntax_uid(value: str, byteorder: str = sys.byteorder) -> Optional[str]:
    """UID for a transfer syntax name or UID of a profile, or None."""
    if value == "LocalEndianExplicit":
        return uids.EXPLICIT_VR_BIG_ENDIAN if byteorder == "big" else uids.EXPLICIT_VR_LITTLE_ENDIAN
    if value == "OppositeEndianExplicit":
        return uids.EXPLICIT_VR_LITTLE_ENDIAN if byteorder == "big" else uids.EXPLICIT_VR_BIG_ENDIAN
    uid = DCMTK_TRANSFER_SYNTAX_NAMES.get(value)
    if uid is not None:
        return uid
    return value if _is_uid_text(value) else None


def sop_class_uid(value: str) -> Optional[str]:
    """UID for a SOP class name or UID of a profile, or None."""
    names = _sop_names()
    uid = names.get(value)
    if uid is None and value.endswith("SOPClass"):
        uid = names.get(value[:-len("SOPClass")])
    if uid is not None:
        return uid
    return value if _is_uid_text(value) else None


def transfer_syntax_display_name(uid: str) -> Optional[str]:
    """DCMTK's symbolic name of a transfer syntax (for log output)."""
    ts = uids.transfer_syntax(uid)
    return ts.dcmtk_name if ts is not None else None


# ---------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------

class Entry(Record):
    key: str        # normalised
    value: str      # stripped, case kept
    line: int


class Section(Record):
    name: str       # normalised
    line: int
    entries: Dict[str, Entry] = field(default_factory=dict)


class ConfigFile(Record):
    path: str
    #: normalised supersection name -> normalised section name -> Section
    supersections: Dict[str, Dict[str, Section]] = field(default_factory=dict)

    def error(self, message: str, line: Optional[int] = None) -> ProfileError:
        where = "%s, line %d" % (self.path, line) if line else self.path
        return ProfileError("cannot read config file: %s: %s" % (where, message))


def read_config(path: str) -> ConfigFile:
    """Read the tree of a configuration file (no interpretation yet)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        raise ProfileError("cannot read config file: unable to open configuration file: %s" % path) from None
    text = raw.decode("latin-1")
    cfg = ConfigFile(path)
    current_super: Optional[Dict[str, Section]] = None
    current: Optional[Section] = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or line.startswith("#"):
            continue
        if stripped.startswith("[["):
            if not stripped.endswith("]]"):
                raise cfg.error("syntax error: missing ']]' in supersection heading", lineno)
            name = normalise(stripped[2:-2])
            current_super = cfg.supersections.setdefault(name, {})
            current = None
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]"):
                raise cfg.error("syntax error: missing ']' in section heading", lineno)
            if current_super is None:
                raise cfg.error("syntax error: section [%s] outside any [[supersection]]"
                                % stripped[1:-1].strip(), lineno)
            name = normalise(stripped[1:-1])
            if name in current_super:
                raise cfg.error("duplicate section [%s]" % name, lineno)
            current = current_super[name] = Section(name, lineno)
            continue
        if "=" not in stripped:
            raise cfg.error("syntax error: neither a [section] heading nor a 'key = value' entry: %r"
                            % stripped, lineno)
        key, value = stripped.split("=", 1)
        key = normalise(key)
        if not key:
            raise cfg.error("syntax error: entry without a key", lineno)
        if current is None:
            raise cfg.error("syntax error: entry %s outside any [section]" % key, lineno)
        current.entries[key] = Entry(key, value.strip(), lineno)
    return cfg


# ---------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------

ROLE_SCU, ROLE_SCP, ROLE_BOTH = "SCU", "SCP", "BOTH"


class Profile(Record):
    """One negotiation profile, resolved to UIDs."""

    name: str
    #: (abstract syntax UID, [transfer syntax UIDs in preference order]) in file order
    contexts: List[Tuple[str, Tuple[str, ...]]]
    #: abstract syntax UID -> "SCU" | "SCP" | "BOTH"
    roles: Dict[str, str] = field(default_factory=dict)
    #: (abstract syntax UID, raw service class application information) in file order
    extended_negotiation: List[Tuple[str, bytes]] = field(default_factory=list)

    def preference(self) -> Dict[str, Tuple[str, ...]]:
        return dict(self.contexts)


def _numbered(section: Section, prefix: str) -> List[Entry]:
    out: List[Entry] = []
    n = 1
    while True:
        entry = section.entries.get("%s%d" % (prefix, n))
        if entry is None:
            return out
        out.append(entry)
        n += 1


def _split(cfg: ConfigFile, entry: Entry) -> Tuple[str, str]:
    if "\\" not in entry.value:
        raise cfg.error("syntax error: missing '\\' in entry %s in config file" % entry.key, entry.line)
    first, second = entry.value.split("\\", 1)
    return first.strip(), second.strip()


def _abstract(cfg: ConfigFile, text: str, entry: Entry) -> str:
    uid = sop_class_uid(text)
    if uid is None:
        raise cfg.error("not a valid abstract syntax UID: %s" % text, entry.line)
    return uid


def _list_section(cfg: ConfigFile, supersection: str, key: Optional[str], what: str,
                  line: int) -> Section:
    # (a missing optional supersection reads as an undefined key, as in storescp)
    section = cfg.supersections.get(supersection, {}).get(normalise(key or ""))
    if section is None:
        raise cfg.error("%s key undefined: %s" % (what, normalise(key or "")), line)
    return section


def _transfer_syntaxes(cfg: ConfigFile, label: str, line: int,
                       byteorder: str) -> Tuple[str, ...]:
    section = _list_section(cfg, "TRANSFERSYNTAXES", label, "transfer syntax", line)
    out = []
    for entry in _numbered(section, "TRANSFERSYNTAX"):
        uid = transfer_syntax_uid(entry.value, byteorder)
        if uid is None:
            raise cfg.error("not a valid transfer syntax UID: %s" % entry.value, entry.line)
        out.append(uid)
    if not out:
        raise cfg.error("transfer syntax list %s is empty" % section.name, section.line)
    return tuple(out)


def _parse_hex(cfg: ConfigFile, text: str, entry: Entry) -> bytes:
    if len(text) % 2 or not all(ch in "0123456789abcdefABCDEF" for ch in text):
        raise cfg.error("parse error in extended negotiation data in entry %s in config file"
                        % entry.key, entry.line)
    return bytes.fromhex(text)


def load_profile(path: str, profile_name: str, byteorder: str = sys.byteorder) -> Profile:
    """Read ``path`` and resolve profile ``profile_name`` for SCP use.

    Raises :class:`ProfileError` with storescp's start-up message."""
    cfg = read_config(path)
    for needed in ("TRANSFERSYNTAXES", "PRESENTATIONCONTEXTS", "PROFILES"):
        if needed not in cfg.supersections:
            raise cfg.error("cannot find section [[%s]] in config file" % needed)
    wanted = normalise(profile_name)
    section = cfg.supersections["PROFILES"].get(wanted)
    if section is None:
        raise ProfileError("unknown configuration profile name: %s" % wanted)

    pc_entry = section.entries.get("PRESENTATIONCONTEXTS")
    if pc_entry is None:
        # storescp's message has the two spaces
        raise cfg.error("no PRESENTATIONCONTEXTS  entry in section %s in config file" % section.name,
                        section.line)
    pcs = _list_section(cfg, "PRESENTATIONCONTEXTS", pc_entry.value, "presentation context",
                        pc_entry.line)
    contexts: List[Tuple[str, Tuple[str, ...]]] = []
    for entry in _numbered(pcs, "PRESENTATIONCONTEXT"):
        abstract_text, ts_label = _split(cfg, entry)
        abstract = _abstract(cfg, abstract_text, entry)
        contexts.append((abstract, _transfer_syntaxes(cfg, ts_label, entry.line, byteorder)))
    listed = [a for a, _ in contexts]

    roles: Dict[str, str] = {}
    role_entry = section.entries.get("SCPSCUROLESELECTION")
    if role_entry is not None:
        rsec = _list_section(cfg, "SCPSCUROLESELECTION", role_entry.value, "role selection",
                             role_entry.line)
        for entry in _numbered(rsec, "ROLE"):
            abstract_text, role_text = _split(cfg, entry)
            abstract = _abstract(cfg, abstract_text, entry)
            role = role_text.upper()
            if role not in (ROLE_SCU, ROLE_SCP, ROLE_BOTH):
                raise cfg.error("syntax error: unknown role key in entry %s in config file" % entry.key,
                                entry.line)
            if abstract not in listed:
                raise cfg.error("abstract syntax defined in role selection list '%s' but not in "
                                "presentation context list '%s': %s"
                                % (rsec.name, pcs.name, abstract), entry.line)
            roles[abstract] = role

    extneg: List[Tuple[str, bytes]] = []
    ext_entry = section.entries.get("EXTENDEDNEGOTIATION")
    if ext_entry is not None:
        esec = _list_section(cfg, "EXTENDEDNEGOTIATION", ext_entry.value, "extended negotiation",
                             ext_entry.line)
        for entry in _numbered(esec, "EXTENDEDNEGOTIATION"):
            abstract_text, data = _split(cfg, entry)
            abstract = _abstract(cfg, abstract_text, entry)
            if abstract not in listed:
                # storescp's message says "role selection list" here too
                raise cfg.error("abstract syntax defined in role selection list '%s' but not in "
                                "presentation context list '%s': %s"
                                % (esec.name, pcs.name, abstract), entry.line)
            extneg.append((abstract, _parse_hex(cfg, data, entry)))

    if len(set(listed)) != len(listed):
        raise ProfileError("profile '%s' is not valid for SCP use, duplicate abstract syntaxes found"
                           % wanted)
    return Profile(wanted, contexts, roles, extneg)
