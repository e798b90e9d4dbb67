"""What a data set writer's ``finish()`` reports: `WriteResult`.

One definition for both writers, `fastscp._writer.DatasetWriter` and
`fastscp.deflate.DeflatedWriter` (which replaces ``bytes_written`` by the
size of the deflated file); the storage service reads it for the SOP
consistency check, the sort directory and the status.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["WriteResult"]


@dataclass(frozen=True)
class WriteResult:
    """A completed file and the attributes picked out of its data set.

    The picked-out values are those of the first element of each tag in
    stream order (see `fastscp._writer`); None when the data set has none
    (always with bit preserving writing, ``+B``, which parses nothing out).
    """

    #: size of the file written (file meta included)
    bytes_written: int
    #: received data was dropped or emptied to store the rest (a data set cut
    #: inside an element, a repeated element): the status is 0xB006
    elements_discarded: bool
    #: a (0008,0016) / (0008,0018) of a string VR was seen at any depth
    #: (storescp's "bad DICOM file" check)
    sop_class_uid_anywhere: bool
    sop_instance_uid_anywhere: bool
    #: UIDs as written: white space removed, trailing NULs stripped
    sop_class_uid: Optional[str] = None
    sop_instance_uid: Optional[str] = None
    study_instance_uid: Optional[str] = None
    #: text without trailing NULs and spaces
    modality: Optional[str] = None
    specific_character_set: Optional[str] = None
    #: the raw value of (0010,0010), as received
    patient_name: Optional[bytes] = None
