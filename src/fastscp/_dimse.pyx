# cython: language_level=3
"""The DIMSE command set codec: group 0000 in implicit VR little endian
(PS3.7 §6.3.1, the only encoding DIMSE commands use), and the command
elements fastscp reads and writes -- their one definition.
"""
from libc.stdint cimport uint32_t
from libc.string cimport memcpy

from fastscp.errors import ProtocolError

# command elements (PS3.7 §E.1), as element numbers of group 0000
COMMAND_GROUP_LENGTH = 0x0000
AFFECTED_SOP_CLASS = 0x0002
REQUESTED_SOP_CLASS = 0x0003
COMMAND_FIELD = 0x0100
MESSAGE_ID = 0x0110
MESSAGE_ID_RESPONDED = 0x0120
MOVE_DESTINATION = 0x0600
PRIORITY = 0x0700
DATASET_TYPE = 0x0800
STATUS = 0x0900
OFFENDING_ELEMENT = 0x0901
ERROR_COMMENT = 0x0902
AFFECTED_SOP_INSTANCE = 0x1000
REQUESTED_SOP_INSTANCE = 0x1001
MOVE_ORIGINATOR_AE = 0x1030
MOVE_ORIGINATOR_MESSAGE_ID = 0x1031

# command field values and the data set type that means "none" (PS3.7 §E.1)
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
NO_DATASET = 0x0101

# VR of the command elements fastscp reads or writes; others are kept as bytes.
cdef enum:
    _US = 1
    _UL = 2
    _UI = 3
    _AE = 4
    _TEXT = 5
COMMAND_VR = {
    COMMAND_GROUP_LENGTH: _UL, AFFECTED_SOP_CLASS: _UI, REQUESTED_SOP_CLASS: _UI, COMMAND_FIELD: _US,
    MESSAGE_ID: _US, MESSAGE_ID_RESPONDED: _US, MOVE_DESTINATION: _AE, PRIORITY: _US,
    DATASET_TYPE: _US, STATUS: _US, OFFENDING_ELEMENT: _US, ERROR_COMMENT: _TEXT,
    AFFECTED_SOP_INSTANCE: _UI, REQUESTED_SOP_INSTANCE: _UI, 0x1005: _US, 0x1008: _US,
    0x1020: _US, 0x1021: _US, 0x1022: _US, 0x1023: _US,
    MOVE_ORIGINATOR_AE: _AE, MOVE_ORIGINATOR_MESSAGE_ID: _US,
}


# COMMAND_VR as a C table (the element numbers are small): no dict look-up per element
DEF _VR_TABLE_SIZE = 0x1100
cdef unsigned char _vr_table[_VR_TABLE_SIZE]
for _element, _vr in COMMAND_VR.items():
    if not 0 <= _element < _VR_TABLE_SIZE:
        raise ImportError("command element 0x%04x outside the VR table" % _element)
    _vr_table[_element] = _vr
del _element, _vr


cdef inline int _command_vr(uint32_t tag) noexcept:
    return _vr_table[tag] if tag < _VR_TABLE_SIZE else 0


cdef inline uint32_t _le32(const unsigned char* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline void _put_le32(unsigned char* p, uint32_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF
    p[2] = (v >> 16) & 0xFF
    p[3] = v >> 24


def decode_command(data):
    """Decode a DIMSE command set into {tag: value}.

    US/UL values become int, UI/AE/text values str (trailing NUL/space
    removed), anything else bytes.  Raises ProtocolError on malformed input.
    """
    cdef const unsigned char[::1] view = data
    cdef Py_ssize_t n = view.shape[0], pos = 0, end
    cdef uint32_t tag, length
    cdef const unsigned char* p
    cdef dict out = {}
    cdef int vr
    if n == 0:
        raise ProtocolError("empty command set")
    p = &view[0]
    while pos < n:
        if n - pos < 8:
            raise ProtocolError("command set truncated in an element header at offset %d" % pos)
        tag = (<uint32_t>(p[pos] | (p[pos + 1] << 8)) << 16) | (p[pos + 2] | (p[pos + 3] << 8))
        length = _le32(p + pos + 4)
        pos += 8
        if tag >> 16 != 0:
            raise ProtocolError("command set element (%04x,%04x) outside group 0000" % (tag >> 16, tag & 0xFFFF))
        if length > <uint32_t>(n - pos):
            raise ProtocolError("command set element (0000,%04x) length %d overruns the command" % (tag, length))
        vr = _command_vr(tag)
        if vr == _US:
            if length != 2:
                raise ProtocolError("command element (0000,%04x) has length %d, expected 2" % (tag, length))
            out[tag] = p[pos] | (p[pos + 1] << 8)
        elif vr == _UL:
            if length != 4:
                raise ProtocolError("command element (0000,%04x) has length %d, expected 4" % (tag, length))
            out[tag] = _le32(p + pos)
        elif vr:
            end = pos + length       # trailing NULs and spaces go
            while end > pos and (p[end - 1] == 0 or p[end - 1] == 32):
                end -= 1
            out[tag] = (<const char*>p)[pos:end].decode("ascii", "replace")
        else:
            out[tag] = <bytes>p[pos:pos + length]
        pos += length
    return out


def encode_command(elements):
    """Encode [(tag, value), ...] (group 0000, ascending) as a command set.

    int values are written as US or UL according to the element; str values
    are padded to even length (NUL for UI, space otherwise).  The command
    group length (0000,0000) is computed and put first.
    """
    cdef list values = []
    cdef list tags = []
    cdef Py_ssize_t total = 0, pos = 0, i
    cdef bytes raw
    cdef bytearray out
    cdef unsigned char num[4]
    cdef uint32_t v
    cdef int vr
    for tag, value in elements:
        vr = _command_vr(tag)
        if vr == _US or vr == _UL:
            v = <uint32_t>(<unsigned short>value if vr == _US else <uint32_t>value)
            _put_le32(num, v)
            raw = (<char*>num)[:2 if vr == _US else 4]
        elif isinstance(value, str):
            raw = value.encode("ascii", "replace")     # a decoded non-ASCII byte is U+FFFD
            if len(raw) & 1:
                raw += b"\x00" if vr == _UI else b" "
        else:
            raw = bytes(value)
        tags.append(tag)
        values.append(raw)
        total += 8 + len(raw)
    # (0000,0000) UL: the length of the rest, then the elements
    out = bytearray(12 + total)
    _put_le32(num, <uint32_t>total)
    _put_element(out, &pos, 0, num, 4)
    for i in range(len(tags)):
        raw = values[i]
        _put_element(out, &pos, <uint32_t>(tags[i] & 0xFFFF), <const unsigned char*><char*>raw, len(raw))
    return bytes(out)


cdef inline void _put_element(bytearray out, Py_ssize_t* pos, uint32_t element,
                              const unsigned char* value, Py_ssize_t length):
    cdef unsigned char* p = <unsigned char*>(<char*>out) + pos[0]
    p[0] = 0; p[1] = 0
    p[2] = element & 0xFF; p[3] = (element >> 8) & 0xFF
    _put_le32(p + 4, <uint32_t>length)
    memcpy(p + 8, value, length)
    pos[0] += 8 + length


cdef inline bytes _ui_value(str uid):
    cdef bytes raw = uid.encode("ascii", "replace")
    return raw + b"\x00" if len(raw) & 1 else raw


def encode_store_response(str sop_class, int message_id, int status, str sop_instance):
    """The C-STORE-RSP command set, as encode_command would make it from
    (0000,0002), (0000,0100) = 0x8001, (0000,0120), (0000,0800) = no data
    set, (0000,0900), (0000,1000): the one response of every object, built
    without the general encoder's per-element work."""
    cdef bytes cls = _ui_value(sop_class), inst = _ui_value(sop_instance)
    cdef unsigned char us[2]
    cdef Py_ssize_t body = (8 + len(cls)) + 4 * 10 + (8 + len(inst)), pos = 0
    cdef bytearray out = bytearray(12 + body)
    cdef unsigned char group_length[4]
    _put_le32(group_length, <uint32_t>body)
    _put_element(out, &pos, 0x0000, group_length, 4)              # group length
    _put_element(out, &pos, 0x0002, <const unsigned char*>cls, len(cls))   # affected SOP class
    us[0] = 0x01; us[1] = 0x80                                       # C-STORE-RSP
    _put_element(out, &pos, 0x0100, us, 2)
    us[0] = message_id & 0xFF; us[1] = (message_id >> 8) & 0xFF
    _put_element(out, &pos, 0x0120, us, 2)                           # message ID responded to
    us[0] = 0x01; us[1] = 0x01                                       # no data set
    _put_element(out, &pos, 0x0800, us, 2)
    us[0] = status & 0xFF; us[1] = (status >> 8) & 0xFF
    _put_element(out, &pos, 0x0900, us, 2)                           # status
    _put_element(out, &pos, 0x1000, <const unsigned char*>inst, len(inst))  # affected SOP instance
    return bytes(out)
