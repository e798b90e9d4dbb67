"""The output format options (+B/-B, +F/-F, +g=/+g/-g, +e/-e ...): which
writer a C-STORE's data set streams into, and how it is configured.

`make_writer` is the one place that turns a `ServerConfig` into a writer; the
storage service calls it for every C-STORE.
"""
from __future__ import annotations

from typing import Optional

from fastscp._writer import DatasetSink, DatasetWriter
from fastscp.config import (
    IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, IMPLEMENTATION_VERSION_NAME_BP,
    ServerConfig,
)
from fastscp.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN


def writer_options(config: ServerConfig) -> dict:
    """Keyword arguments of `DatasetWriter` for the output options of ``config``."""
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


def make_writer(config: ServerConfig, fd: int, transfer_syntax: str, *, calling_ae_title: str,
                command_sop_class_uid: str, command_sop_instance_uid: str,
                temp_dir: Optional[str]) -> DatasetSink:
    """The sink that writes one received data set (``transfer_syntax`` as
    negotiated) to ``fd`` as the output options of ``config`` say."""
    common = dict(
        calling_ae_title=calling_ae_title,
        implementation_class_uid=IMPLEMENTATION_CLASS_UID,
        implementation_version_name=(IMPLEMENTATION_VERSION_NAME_BP if config.bit_preserving
                                     else IMPLEMENTATION_VERSION_NAME),
        command_sop_class_uid=command_sop_class_uid,
        command_sop_instance_uid=command_sop_instance_uid,
        **writer_options(config),
    )
    if transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN and not config.bit_preserving:
        # inflated into a temporary file, deflated again at the end
        from fastscp.deflate import DeflatedWriter
        return DeflatedWriter(fd, transfer_syntax, temp_dir=temp_dir,
                              compression_level=config.compression_level, **common)
    return DatasetWriter(fd, transfer_syntax, **common)
