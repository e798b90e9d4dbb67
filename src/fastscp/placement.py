"""Names and places of received objects beyond the default: storescp's
file-name options (``+uf``, ``-tn``, ``-fe``), its sort subdirectories
(``-ss``, ``-su``, ``-sp``) and the study state that decides them.

Everything that depends on "the previous object" lives in one
:class:`Placement` per server, guarded by one lock, because fastscp serves
associations concurrently: "previous" means the object whose store
*completed* last (completion order), whatever association it came in.

Untrusted values (UIDs, patient names) only ever become one path component
each: UIDs through :func:`fastscp.storage.sanitize_component`, patient names
through :func:`patient_dir_name` (ASCII letters, digits and ``_`` only), and a
component made of dots only is refused (see :func:`safe_component`).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from fastscp.record import Record, field
from typing import TYPE_CHECKING, List, Optional, Set, Tuple

from fastscp.config import SORT_PATIENT_NAME, SORT_STUDY_UID
from fastscp.storage import display_directory, sanitize_component
from fastscp.uids import filename_prefix
from fastscp.log import APP_LOGGER

if TYPE_CHECKING:
    from fastscp.config import ServerConfig
    from fastscp.records import AssociationInfo

log = logging.getLogger(APP_LOGGER)

#: the longest name component most file systems take (bytes)
NAME_MAX = 255

ANONYMOUS = "ANONYMOUS"

# -- time stamps ---------------------------------------------------------------


def _stamp(now: Optional[float] = None) -> Tuple[str, str]:
    """('YYYYMMDD', 'HHMMSSmmm') in local time."""
    if now is None:
        now = time.time()
    tm = time.localtime(now)
    ms = int((now - int(now)) * 1000) % 1000
    return ("%04d%02d%02d" % (tm.tm_year, tm.tm_mon, tm.tm_mday),
            "%02d%02d%02d%03d" % (tm.tm_hour, tm.tm_min, tm.tm_sec, ms))


def dir_timestamp(now: Optional[float] = None) -> str:
    """``YYYYMMDD_HHMMSSmmm`` (sort subdirectories)."""
    return "%s_%s" % _stamp(now)


def file_timestamp(now: Optional[float] = None) -> str:
    """``YYYYMMDDHHMMSSmmm`` (``-tn`` file names)."""
    return "%s%s" % _stamp(now)


# -- patient names (-sp) -----------------------------------------------------------

def _latin1_table() -> List[str]:
    """Byte -> ASCII text, as storescp transliterates (measured against
    Debian's storescp 3.6.7 for every byte 0x20..0xFF)."""
    table = ["_"] * 256
    for b in range(256):
        c = chr(b)
        if c.isascii() and c.isalnum():
            table[b] = c
    upper = "AAAA" "Ae" "AA" "C" "EEEE" "IIII" "D" "N" "OOOO" "Oe" "_" "O" "UUU" "Ue" "Y" "_" "ss"
    lower = "aaaa" "ae" "aa" "c" "eeee" "iiii" "d" "n" "oooo" "oe" "_" "o" "uuu" "ue" "y" "_" "y"
    # split the strings above into one entry per byte 0xC0..0xDF / 0xE0..0xFF
    for base, text in ((0xC0, upper), (0xE0, lower)):
        entries = _split_entries(text)
        assert len(entries) == 32, entries
        for i, e in enumerate(entries):
            table[base + i] = e
    return table


def _split_entries(text: str) -> List[str]:
    # two-letter entries: Ae Oe Ue ae oe ue ss
    out: List[str] = []
    i = 0
    while i < len(text):
        pair = text[i:i + 2]
        if pair in ("Ae", "Oe", "Ue", "ae", "oe", "ue", "ss"):
            out.append(pair)
            i += 2
        else:
            out.append(text[i])
            i += 1
    return out


_LATIN1_TO_ASCII = _latin1_table()
#: bytes of the "_YYYYMMDD_HHMMSSmmm" suffix of a -sp directory name
_SP_SUFFIX_LEN = 19


def patient_dir_name(raw: Optional[bytes], charset: Optional[str]) -> str:
    """The Patient's Name part of a ``-sp`` directory name.

    First value of (0010,0010), trailing spaces removed; ASCII letters and
    digits kept, other ASCII bytes become ``_``; Latin-1 letters lose their
    accents (Ä → Ae, ß → ss, ...), other bytes become ``_``; empty → ANONYMOUS.
    """
    value = (raw or b"").split(b"\\", 1)[0].rstrip(b" \x00")
    if not value:
        log.warning("element PatientName (0010,0010) absent or empty in data set, "
                    "using '%s' instead", ANONYMOUS)
        return ANONYMOUS
    cs = (charset or "").strip()
    if cs and cs != "ISO_IR 100" and any(b >= 0x80 for b in value):
        log.warning("Patient name not in Latin-1 (charset: %s), ASCII dir name may be broken", cs)
    name = "".join(_LATIN1_TO_ASCII[b] for b in value)
    # fastscp: never more than one name component (storescp: mkdir fails)
    return name[:NAME_MAX - _SP_SUFFIX_LEN]


def safe_component(name: str, what: str) -> str:
    """A directory name built from received data must not be '', '.' or '..'."""
    if name.strip(".") == "":
        clean = name.replace(".", "_") or "_"
        log.warning('Sanitized unusual characters in %s, converted from "%s" to "%s".',
                    what, name, clean)
        return clean
    return name


# -- the shared state ------------------------------------------------------------

class Study(Record):
    """A study being received: its directory and the files stored in it so far."""
    uid: str
    directory: str
    #: (directory, file name) in completion order; entries outside
    #: `directory` were placed by an on_store_request hook (never renamed)
    files: List[Tuple[str, str]] = field(default_factory=list)
    #: the association of the last object (for -xcs after a timeout)
    last_info: Optional["AssociationInfo"] = None


class PlacementError(Exception):
    """The object cannot be placed (storescp answers 0xC000)."""


class Placement:
    """File names (-tn state) and the study state, shared by all associations.

    `lock` guards everything; `decide` and `record` are called with it held
    (`PendingStore.finish` holds it around deciding, renaming into place and
    recording, so completion order is one well-defined order).
    """

    def __init__(self, config: "ServerConfig") -> None:
        self.config = config
        self.root = display_directory(config.output_directory)
        self.sort_mode: Optional[str] = getattr(config, "sort_mode", None)
        self.prefix: str = getattr(config, "sort_prefix", "") or ""
        self.extension: str = getattr(config, "filename_extension", "") or ""
        self.unique: bool = bool(getattr(config, "unique_filenames", False))
        self.timenames: bool = bool(getattr(config, "timenames", False))
        self.lock = threading.RLock()
        #: the study of the previous object (None: none yet, or it ended)
        self.current: Optional[Study] = None
        #: -tn: last name generated and the serial in use (-1 = none)
        self._last_name: Optional[str] = None
        self._serial = -1
        #: time-stamped directories this process created (never shared by two studies)
        self._made: Set[str] = set()

    # -- names (at the C-STORE-RQ) ------------------------------------------------
    def file_name(self, sop_class_uid: str, sop_instance_uid: str,
                  now: Optional[float] = None) -> str:
        prefix = filename_prefix(sop_class_uid)
        if self.unique:
            import uuid     # here, not at start-up (uuid imports platform: ~5 ms)
            return "%s.X.2.25.%d%s" % (prefix, uuid.uuid4().int, self.extension)
        if self.timenames:
            return self._time_name(prefix, now)
        return "%s.%s%s" % (prefix, sanitize_component(sop_instance_uid, "SOP Instance UID"),
                            self.extension)

    def _time_name(self, prefix: str, now: Optional[float]) -> str:
        stamp = file_timestamp(now)
        with self.lock:
            if self._serial < 0:
                candidate = "%s.%s%s" % (stamp, prefix, self.extension)
            else:
                candidate = "%s_%04d.%s%s" % (stamp, self._serial, prefix, self.extension)
            if candidate == self._last_name:
                self._serial += 1
                name = "%s_%04d.%s%s" % (stamp, self._serial, prefix, self.extension)
            else:
                name = "%s.%s%s" % (stamp, prefix, self.extension)
                self._serial = -1
            self._last_name = name
            return name

    # -- directories (when the data set is complete; lock held) ----------------------
    def decide(self, study_uid: Optional[str], patient_name: Optional[bytes],
               charset: Optional[str], info: "AssociationInfo") -> Tuple[str, Optional[Study], Study]:
        """Directory for an object of `study_uid`; returns (directory,
        study that ended because of it or None, the object's study).
        Raises PlacementError when storescp answers 0xC000."""
        if not study_uid:
            if self.sort_mode is None:
                raise PlacementError("")       # not tracked, stored flat
            raise PlacementError("element StudyInstanceUID (0020,000d) absent or empty in data set")
        current = self.current
        if current is not None and current.uid == study_uid:
            current.last_info = info
            return current.directory, None, current
        ended = current
        directory = self._new_directory(study_uid, patient_name, charset)
        study = Study(study_uid, directory, last_info=info)
        self.current = study
        return directory, ended, study

    def _new_directory(self, study_uid: str, patient_name: Optional[bytes],
                       charset: Optional[str]) -> str:
        mode = self.sort_mode
        if mode is None:
            return self.root
        lead = self.prefix + "_" if self.prefix else ""
        if mode == SORT_STUDY_UID:
            name = safe_component(lead + sanitize_component(study_uid, "Study Instance UID"),
                                  "Study Instance UID")
            path = os.path.join(self.root, name)
        else:
            if mode == SORT_PATIENT_NAME:
                lead = patient_dir_name(patient_name, charset) + "_"
            now = time.time()
            path = os.path.join(self.root, lead + dir_timestamp(now))
            # two studies starting within one millisecond (likely with
            # concurrent associations) get two directories: the later one
            # is stamped a millisecond later (storescp would share one)
            while path in self._made:
                now += 0.001
                path = os.path.join(self.root, lead + dir_timestamp(now))
        if os.path.isdir(path):
            log.info("using existing subdirectory for study: %s", path)
            return path
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise PlacementError("could not create subdirectory for study: %s" % path)
            log.info("using existing subdirectory for study: %s", path)
            return path
        except OSError:
            raise PlacementError("could not create subdirectory for study: %s" % path)
        log.info("created new subdirectory for study: %s", path)
        if mode != SORT_STUDY_UID:
            self._made.add(path)
        # a new directory: the next -tn name cannot clash, so no serial
        self._serial = -1
        return path

    def record(self, study: Study, directory: str, name: str) -> None:
        study.files.append((directory, name))

    def end_current(self) -> Optional[Study]:
        """End the current study (timeout, shutdown); lock held."""
        study, self.current = self.current, None
        if study is not None:
            # storescp's -tn serial compares with the last file of the list,
            # which a timeout empties
            self._last_name = None
        return study
