"""DIMSE status codes fastscp sends (PS3.7 Annex C, PS3.4 B.2.3)."""

SUCCESS = 0x0000
#: Refused: out of resources (the object could not be written)
OUT_OF_RESOURCES = 0xA700
#: Error: data set does not match SOP class
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
#: Warning: elements discarded (a data set cut short was stored without what was missing)
ELEMENTS_DISCARDED = 0xB006
#: Error: cannot understand
CANNOT_UNDERSTAND = 0xC000
#: Failure: processing failure (a Python hook raised)
PROCESSING_FAILURE = 0x0110


def is_failure_status(status: int) -> bool:
    """A failure status of C-STORE (PS3.4 B.2.3; PS3.7 C.4: 0x01xx, 0x02xx)."""
    return (0xA000 <= status <= 0xAFFF or 0xC000 <= status <= 0xCFFF
            or 0x0100 <= status <= 0x02FF)
