"""Typed stub of the compiled dataset stream writer (fastscp._writer)."""
from typing import Any, Dict, Optional, final

import sys

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

from fastscp._sink import DatasetSink

@final
class WriteResult:
    """What a writer's ``finish()`` reports (``DatasetWriter``; ``DeflatedWriter``
    with the deflated file's size): immutable, compared by value."""

    def __init__(self, *, bytes_written: int, elements_discarded: bool,
                 sop_class_uid_anywhere: bool, sop_instance_uid_anywhere: bool,
                 sop_class_uid: Optional[str] = None, sop_instance_uid: Optional[str] = None,
                 study_instance_uid: Optional[str] = None, modality: Optional[str] = None,
                 specific_character_set: Optional[str] = None,
                 patient_name: Optional[bytes] = None) -> None: ...
    @property
    def bytes_written(self) -> int:
        """Size of the file written (file meta included)."""
    @property
    def elements_discarded(self) -> bool:
        """Received data was dropped or emptied to store the rest (a data set
        cut inside an element, a repeated element): the status is 0xB006."""
    @property
    def sop_class_uid_anywhere(self) -> bool:
        """A (0008,0016) of a string VR was seen at any depth."""
    @property
    def sop_instance_uid_anywhere(self) -> bool:
        """A (0008,0018) of a string VR was seen at any depth."""
    @property
    def sop_class_uid(self) -> Optional[str]:
        """The picked-out UIDs as written (white space removed, trailing NULs
        stripped); None when absent, and always with bit preserving writing."""
    @property
    def sop_instance_uid(self) -> Optional[str]: ...
    @property
    def study_instance_uid(self) -> Optional[str]: ...
    @property
    def modality(self) -> Optional[str]:
        """Text without trailing NULs and spaces."""
    @property
    def specific_character_set(self) -> Optional[str]: ...
    @property
    def patient_name(self) -> Optional[bytes]:
        """(0010,0010) as received."""
    def as_dict(self) -> Dict[str, Any]: ...
    def replace(self, **changes: Any) -> "WriteResult":
        """A copy with the given fields changed."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class DatasetWriter(DatasetSink):
    """Streams one received data set into a DICOM file on ``fd``, as DCMTK storescp writes it.

    ``fd`` is a regular file opened for writing, positioned at 0; it is never
    closed, renamed or reopened here.  Raises ``NotImplementedError`` for
    deflated or unknown transfer syntaxes (unless ``bit_preserving``).
    """

    def __init__(
        self,
        fd: int,
        transfer_syntax: str,
        *,
        calling_ae_title: str,
        implementation_class_uid: str,
        implementation_version_name: str,
        command_sop_class_uid: str,
        command_sop_instance_uid: str,
        bit_preserving: bool = False,
        write_file_meta: bool = True,
        group_length: str = "recalc",
        undefined_lengths: bool = False,
        padding: Optional[tuple[int, int]] = None,
        convert_un: bool = False,
        new_vrs: bool = True,
        output_transfer_syntax: Optional[str] = None,
        meta_transfer_syntax: Optional[str] = None,
    ) -> None:
        """``bit_preserving``: +B; ``write_file_meta=False``: -F; ``group_length``:
        "recalc" (+g=), "create" (+g) or "remove" (-g); ``undefined_lengths``: -e; ``padding``:
        ``(f, i)`` of +p (file and item padding; 0 = none);
        ``convert_un``: +uc; ``new_vrs=False``: -u (newer VRs written as OB);
        ``output_transfer_syntax``: the syntax written (+te/+tb/+ti; default: the one received);
        ``meta_transfer_syntax``: the (0002,0010) written, if not the written syntax."""
    def restart(self, fd: int, command_sop_class_uid: str, command_sop_instance_uid: str) -> None:
        """Write the next data set, with the same settings, to ``fd`` (a writer
        whose `finish` succeeded; not ``bit_preserving``: RuntimeError)."""
    def finish(self) -> WriteResult:
        """Complete the file; report its size and the picked-out attributes.  A data set that ends inside an element header, or
        where a value has not begun, is completed as storescp completes it
        (``elements_discarded``); one cut inside a value or at an element
        boundary inside a sequence or item raises ``fastscp.errors.DatasetError``."""
    def close(self) -> None:
        """Release what the writer holds besides ``fd`` (an abandoned object)."""
    @property
    def bytes_received(self) -> int: ...

def _vr_for_tag(tag: int) -> str: ...
