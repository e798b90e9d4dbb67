"""The output format options (+B/-B, +F/-F, +g=/+g/-g, +e/-e ...): which
writer a C-STORE's data set streams into, and how it is configured.

`make_writer` is the one place that turns a `ServerConfig` into a writer; the
storage service calls it for every C-STORE.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

from fastscp.config import (
    IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, IMPLEMENTATION_VERSION_NAME_BP,
    ServerConfig,
)
from fastscp.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN


if TYPE_CHECKING:
    from typing import Union

    from fastscp._writer import DatasetWriter
    from fastscp.deflate import DeflatedWriter

    #: what make_writer returns: a sink with finish() (a WriteResult) and close()
    Writer = Union[DatasetWriter, DeflatedWriter]

def writer_options(config: ServerConfig) -> Dict[str, Any]:
    """Keyword arguments of `DatasetWriter` for the output options of ``config``
    (the output transfer syntax apart: `stored_transfer_syntax`)."""
    if config.bit_preserving:
        return {"bit_preserving": True, "write_file_meta": config.write_file_meta}
    return {
        "write_file_meta": config.write_file_meta,
        "group_length": config.group_length,
        "undefined_lengths": config.undefined_lengths,
        "padding": config.padding,
        "convert_un": config.convert_un,
        "new_vrs": config.new_vrs,
    }


def stored_transfer_syntax(config: ServerConfig, received: str, convert: bool = True) -> str:
    """The transfer syntax an object received in ``received`` is written in:
    the +te/+tb/+ti/+td one, or as received (+t=, +B, ``convert=False``)."""
    if config.bit_preserving or not convert or config.write_transfer_syntax is None:
        return received
    return config.write_transfer_syntax


def make_writer(config: ServerConfig, fd: int, transfer_syntax: str, *, calling_ae_title: str,
                command_sop_class_uid: str, command_sop_instance_uid: str,
                temp_dir: Optional[str], convert: bool = True) -> "Writer":
    """The sink that writes one received data set (``transfer_syntax`` as
    negotiated) to ``fd`` as the output options of ``config`` say.
    ``convert=False`` (--ignore: parsed, never stored) keeps the received
    transfer syntax, so that an object storescp would fail to convert still
    succeeds, as in storescp, which never writes it."""
    common = dict(
        calling_ae_title=calling_ae_title,
        implementation_class_uid=IMPLEMENTATION_CLASS_UID,
        implementation_version_name=(IMPLEMENTATION_VERSION_NAME_BP if config.bit_preserving
                                     else IMPLEMENTATION_VERSION_NAME),
        command_sop_class_uid=command_sop_class_uid,
        command_sop_instance_uid=command_sop_instance_uid,
        **writer_options(config),
    )
    stored = stored_transfer_syntax(config, transfer_syntax, convert)
    if stored != transfer_syntax:
        common["output_transfer_syntax"] = stored
    if not config.bit_preserving and DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN in (transfer_syntax, stored):
        # inflated as it arrives / written to a temporary file and deflated at the end
        from fastscp.deflate import DeflatedWriter
        return DeflatedWriter(fd, transfer_syntax, temp_dir=temp_dir,
                              compression_level=config.compression_level,
                              max_inflated_size=config.max_inflated_size,
                              max_inflation_ratio=config.max_inflation_ratio, **common)
    # imported at the first C-STORE, not at start-up: the writer loads the
    # data dictionary, which an association of C-ECHOs never needs
    from fastscp._writer import DatasetWriter
    return DatasetWriter(fd, transfer_syntax, **common)
