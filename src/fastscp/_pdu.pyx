# cython: language_level=3
"""PDU framing (PS3.8 §9): an incremental reader and the encoders.

`PDUReader` owns the receive buffer.  The transport reads straight into it
(`get_buffer()` + `buffer_updated(n)`, like asyncio's BufferedProtocol) and
then calls `next_event()` until it returns None.  P-DATA-TF PDUs are never
materialised: their PDVs are handed, as pointers into the buffer, to the
`PDVAssembler`, which streams data set fragments to the writer.  Python only
sees whole non-data PDUs (`PDUReceived`), complete command sets
(`fastscp._pdv.CommandReceived`) and data set ends
(`fastscp._pdv.DatasetReceived`).

Every length from the wire is checked against the bytes that remain, the
maximum P-DATA-TF length we announced, and a hard cap for other PDUs.
"""
cimport cython
from cpython.buffer cimport PyBUF_WRITE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.stdint cimport uint32_t
from libc.string cimport memcpy, memmove

from fastscp._pdv cimport PDVAssembler
from fastscp._pdv import CommandReceived, DatasetReceived   # the other two events (re-exported)
from fastscp._pdv import DEFAULT_COMMAND_CAP
from fastscp.errors import ProtocolError
from fastscp.pdu_records import (
    AssociateRequest, PresentationContextProposal, UserInformation,
)

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)

#: Largest non-P-DATA PDU accepted (an A-ASSOCIATE-RQ); larger ones abort.
MAX_ASSOCIATION_PDU = 1024 * 1024
DEF MIN_FREE = 65536
DEF MIN_CAPACITY = 262144


cdef inline uint32_t _be32(const unsigned char* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


@cython.final
@cython.freelist(4)
cdef class PDUReceived:
    """A PDU other than a decoded P-DATA-TF: its type and its body (after
    the 6-byte header); the body is None for a P-DATA-TF PDU skipped
    because P-DATA is not allowed (no association established)."""
    cdef readonly int pdu_type
    cdef readonly object payload

    def __init__(self, int pdu_type, bytes payload):
        self.pdu_type = pdu_type
        self.payload = payload

    def __repr__(self):
        return "PDUReceived(pdu_type=%d, payload=%s)" % (
            self.pdu_type, "None" if self.payload is None else "<%d bytes>" % len(self.payload))


cdef inline PDUReceived _pdu_received(int pdu_type, bytes payload):
    cdef PDUReceived ev = PDUReceived.__new__(PDUReceived)
    ev.pdu_type = pdu_type
    ev.payload = payload
    return ev


cdef class PDUReader:
    """Incremental PDU reader over a preallocated, growable buffer."""
    cdef unsigned char* _buf
    cdef Py_ssize_t _cap, _start, _end, _need
    cdef uint32_t _max_pdata
    cdef uint32_t _max_other
    cdef bint _in_pdata
    cdef Py_ssize_t _pdv_pos, _pdata_end
    cdef readonly PDVAssembler assembler
    #: P-DATA-TF PDUs are decoded only while an association is established;
    #: otherwise they are reported as PDUReceived(4, None) and skipped.
    cdef public bint pdata_allowed
    #: complete PDUs processed so far (a transport's progress mark)
    cdef readonly unsigned long long pdus_completed

    def __cinit__(self, uint32_t max_pdata_length, uint32_t max_other_length=MAX_ASSOCIATION_PDU,
                  Py_ssize_t command_cap=DEFAULT_COMMAND_CAP):
        self._max_pdata = max_pdata_length
        self._max_other = max_other_length
        self._cap = max(MIN_CAPACITY, 2 * (<Py_ssize_t>max_pdata_length + 6))
        self._buf = <unsigned char*>PyMem_Malloc(self._cap)
        if self._buf == NULL:
            raise MemoryError()
        self._start = self._end = self._need = 0
        self._in_pdata = False
        self.assembler = PDVAssembler(command_cap)
        self.pdata_allowed = False
        self.pdus_completed = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)

    @property
    def max_pdata_length(self):
        return self._max_pdata

    @property
    def capacity(self):
        """Bytes allocated for the receive buffer."""
        return self._cap

    @property
    def buffered(self):
        """Bytes received and not yet consumed."""
        return self._end - self._start

    def get_buffer(self):
        """A writable memoryview of the free space to read into."""
        cdef Py_ssize_t used, want, newcap
        cdef unsigned char* grown
        if self._start == self._end and not self._in_pdata:
            self._start = self._end = 0
        want = max(<Py_ssize_t>MIN_FREE, self._need)
        if self._cap - self._end < want and self._start > 0 and not self._in_pdata:
            used = self._end - self._start
            memmove(self._buf, self._buf + self._start, used)
            self._start = 0
            self._end = used
        if self._cap - self._start < self._need and self._cap - self._end < MIN_FREE:
            # grow with the bytes that arrive (doubling), not with what a
            # PDU header announces: a 6-byte header costs no memory
            newcap = min(self._start + self._need, max(2 * self._cap, self._end + <Py_ssize_t>MIN_FREE))
            grown = <unsigned char*>PyMem_Realloc(self._buf, newcap)
            if grown == NULL:
                raise MemoryError()
            self._buf = grown
            self._cap = newcap
        if self._cap == self._end:
            raise ProtocolError("receive buffer full")
        return PyMemoryView_FromMemory(<char*>(self._buf + self._end), self._cap - self._end, PyBUF_WRITE)

    def buffer_updated(self, Py_ssize_t nbytes):
        """Tell the reader that nbytes were written into get_buffer()'s view."""
        if nbytes < 0 or nbytes > self._cap - self._end:
            raise ValueError("invalid byte count")
        self._end += nbytes

    def feed(self, data):
        """Copy data into the buffer (for tests and non-socket transports)."""
        cdef const unsigned char[::1] view = data
        cdef Py_ssize_t n = view.shape[0], done = 0, k
        while done < n:
            buf = self.get_buffer()
            k = min(len(buf), n - done)
            buf[:k] = view[done:done + k]
            self.buffer_updated(k)
            done += k

    def next_event(self):
        """Process buffered bytes up to the next event for Python.

        Returns None when more bytes are needed, or an event:
        PDUReceived(pdu_type, payload) for any PDU but P-DATA-TF,
        CommandReceived(context_id, command) when a command set is complete,
        DatasetReceived(context_id) when the last data set fragment went to the sink.
        Raises ProtocolError on malformed input.
        """
        cdef Py_ssize_t avail, pos
        cdef uint32_t length, pdv_len
        cdef int pdu_type
        cdef object ev
        cdef bytes payload
        while True:
            if self._in_pdata:
                while self._pdv_pos < self._pdata_end:
                    pos = self._pdv_pos
                    if self._pdata_end - pos < 6:
                        raise ProtocolError("PDV item truncated in P-DATA-TF PDU")
                    pdv_len = _be32(self._buf + pos)
                    if pdv_len < 2:
                        raise ProtocolError("PDV item length %d is too short" % pdv_len)
                    if <Py_ssize_t>pdv_len > self._pdata_end - pos - 4:
                        raise ProtocolError("PDV item length %d overruns its P-DATA-TF PDU" % pdv_len)
                    self._pdv_pos = pos + 4 + pdv_len
                    ev = self.assembler.add(self._buf[pos + 4], self._buf[pos + 5],
                                            self._buf + pos + 6, pdv_len - 2)
                    if ev is not None:
                        return ev
                self._in_pdata = False
                self._start = self._pdata_end
                self.pdus_completed += 1
            avail = self._end - self._start
            if avail < 6:
                self._need = 6
                return None
            pdu_type = self._buf[self._start]
            length = _be32(self._buf + self._start + 2)
            if pdu_type == 0x04:
                if length > self._max_pdata:
                    raise ProtocolError("Illegal PDU Length %d.  Max expected %d" % (length, self._max_pdata))
                if avail < 6 + <Py_ssize_t>length:
                    self._need = 6 + length
                    return None
                self._need = 0
                if not self.pdata_allowed:
                    self._start += 6 + length
                    self.pdus_completed += 1
                    return _pdu_received(4, None)
                if length == 0:
                    raise ProtocolError("P-DATA-TF PDU without PDV items")
                self._in_pdata = True
                self._pdv_pos = self._start + 6
                self._pdata_end = self._start + 6 + length
                continue
            if pdu_type < 0x01 or pdu_type > 0x07:
                raise ProtocolError("Unrecognized PDU type: %d" % pdu_type)
            if length > self._max_other:
                raise ProtocolError("%s PDU too large: %d bytes" % (
                    "A-ASSOCIATE" if pdu_type == 1 else "PDU type %d" % pdu_type, length))
            if avail < 6 + <Py_ssize_t>length:
                self._need = 6 + length
                return None
            self._need = 0
            payload = <bytes>self._buf[self._start + 6:self._start + 6 + length]
            self._start += 6 + length
            self.pdus_completed += 1
            return _pdu_received(pdu_type, payload)


# ---------------------------------------------------------------------------
# A-ASSOCIATE-RQ parsing (PS3.8 §9.3.2); every length is checked.

cdef inline unsigned int _be16(const unsigned char* p) noexcept nogil:
    return (p[0] << 8) | p[1]


cdef Py_ssize_t _item_end(const unsigned char* p, Py_ssize_t pos, Py_ssize_t limit, str what) except -1:
    """End offset of the item (or sub-item) whose 4-byte header is at pos;
    raises unless header and body fit before limit."""
    cdef Py_ssize_t end
    if limit - pos < 4:
        raise ProtocolError("%s header truncated" % what)
    end = pos + 4 + _be16(p + pos + 2)
    if end > limit:
        raise ProtocolError("%s 0x%02x length %d overruns its container" % (what, p[pos], end - pos - 4))
    return end


cdef str _uid(const unsigned char* p, Py_ssize_t n):
    return (<bytes>p[:n]).rstrip(b"\x00 ").decode("ascii", "replace")


def parse_associate_rq(payload):
    """Parse the body of an A-ASSOCIATE-RQ (after the 6-byte PDU header)."""
    cdef const unsigned char[::1] view = payload
    cdef Py_ssize_t n = view.shape[0], pos, end, sub, sub_end, ilen, slen, q
    cdef const unsigned char* p
    cdef int itype, stype, ulen
    if n < 68:
        raise ProtocolError("A-ASSOCIATE-RQ too short (%d bytes)" % n)
    p = &view[0]
    version = _be16(p)
    called = <bytes>p[4:20]
    calling = <bytes>p[20:36]
    app_context = None
    contexts = []
    user = UserInformation()
    pos = 68
    while pos < n:
        end = _item_end(p, pos, n, "A-ASSOCIATE-RQ item")
        itype = p[pos]
        ilen = end - pos - 4
        if itype == 0x10:
            app_context = _uid(p + pos + 4, ilen)
        elif itype == 0x20:
            if ilen < 4:
                raise ProtocolError("presentation context item too short")
            ctx_id = p[pos + 4]
            abstract = None
            syntaxes = []
            sub = pos + 8
            while sub < end:
                sub_end = _item_end(p, sub, end, "presentation context sub-item")
                stype = p[sub]
                slen = sub_end - sub - 4
                if stype == 0x30:
                    if abstract is not None:
                        raise ProtocolError("presentation context %d has two abstract syntaxes" % ctx_id)
                    abstract = _uid(p + sub + 4, slen)
                elif stype == 0x40:
                    syntaxes.append(_uid(p + sub + 4, slen))
                else:
                    raise ProtocolError("unknown presentation context sub-item 0x%02x" % stype)
                sub = sub_end
            if abstract is None or not syntaxes:
                raise ProtocolError("presentation context %d lacks an abstract or transfer syntax" % ctx_id)
            contexts.append(PresentationContextProposal(ctx_id, abstract, syntaxes))
        elif itype == 0x50:
            sub = pos + 4
            while sub < end:
                sub_end = _item_end(p, sub, end, "user information sub-item")
                stype = p[sub]
                slen = sub_end - sub - 4
                q = sub + 4
                if stype == 0x51:
                    if slen != 4:
                        raise ProtocolError("maximum length sub-item has length %d" % slen)
                    user.max_length = _be32(p + q)
                elif stype == 0x52:
                    user.implementation_class_uid = _uid(p + q, slen)
                elif stype == 0x55:
                    user.implementation_version_name = (<bytes>p[q:q + slen]).decode("ascii", "replace").strip()
                elif stype == 0x53:
                    if slen != 4:
                        raise ProtocolError("asynchronous operations window sub-item has length %d" % slen)
                    user.async_ops_window = (_be16(p + q), _be16(p + q + 2))
                elif stype == 0x54 or stype == 0x56:
                    if slen < 2:
                        raise ProtocolError("sub-item 0x%02x too short" % stype)
                    ulen = _be16(p + q)
                    if 2 + ulen > slen or (stype == 0x54 and 2 + ulen + 2 != slen):
                        raise ProtocolError("sub-item 0x%02x has inconsistent lengths" % stype)
                    sop = _uid(p + q + 2, ulen)
                    if stype == 0x54:
                        user.roles[sop] = (p[q + 2 + ulen], p[q + 3 + ulen])
                    else:
                        user.extended_negotiation[sop] = <bytes>p[q + 2 + ulen:sub_end]
                elif stype == 0x57:
                    user.common_extended_negotiation.append(<bytes>p[q:sub_end])
                elif stype == 0x58:
                    user.user_identity = <bytes>p[q:sub_end]
                # other sub-items are ignored (PS3.8 allows unknown ones)
                sub = sub_end
        else:
            raise ProtocolError("unknown A-ASSOCIATE-RQ item type 0x%02x" % itype)
        pos = end
    return AssociateRequest(version, called, calling, app_context, contexts, user)


# ---------------------------------------------------------------------------
# Encoders for the PDUs an SCP sends.

cdef bytes _framed(int kind, bytes body, int length_size):
    """An item (``length_size`` 2) or a PDU (4): type, reserved byte,
    big-endian length, body."""
    cdef Py_ssize_t n = len(body)
    cdef bytes out
    cdef unsigned char* o
    if n > (0xFFFF if length_size == 2 else 0xFFFFFFFF):
        raise OverflowError("%d bytes: more than a %d-byte length can say" % (n, length_size))
    out = PyBytes_FromStringAndSize(NULL, 2 + length_size + n)
    o = <unsigned char*>PyBytes_AS_STRING(out)
    o[0] = <unsigned char>kind
    o[1] = 0
    if length_size == 2:
        o[2] = (n >> 8) & 0xFF
        o[3] = n & 0xFF
    else:
        _put_be32(o + 2, <uint32_t>n)
    memcpy(o + 2 + length_size, PyBytes_AS_STRING(body), n)
    return out


cdef inline bytes _item(int item_type, bytes body):
    return _framed(item_type, body, 2)


cdef inline void _put_be32(unsigned char* p, uint32_t v) noexcept:
    p[0] = v >> 24
    p[1] = (v >> 16) & 0xFF
    p[2] = (v >> 8) & 0xFF
    p[3] = v & 0xFF


cdef inline bytes _pdu(int pdu_type, bytes body):
    return _framed(pdu_type, body, 4)


cdef bytes _sop_sub_item(int item_type, str sop_class, bytes tail):
    cdef bytes uid = sop_class.encode("ascii")
    return _item(item_type, len(uid).to_bytes(2, "big") + uid + tail)


def encode_associate_ac(bytes called_ae, bytes calling_ae, str app_context, results,
                        unsigned int max_length, str implementation_class_uid,
                        str implementation_version_name, roles=(), extended_negotiation=()):
    """A-ASSOCIATE-AC.  results: iterable of (context_id, result, transfer_syntax).

    roles: (sop_class_uid, scu_role, scp_role) for SCP/SCU role selection
    sub-items (0x54); extended_negotiation: (sop_class_uid, data) for SOP
    class extended negotiation sub-items (0x56).  User information order as
    storescp: 0x51, 0x52, 0x54..., 0x55, 0x56...
    """
    parts = [b"\x00\x01\x00\x00", called_ae, calling_ae, b"\x00" * 32,
             _item(0x10, app_context.encode("ascii"))]
    for ctx_id, result, ts in results:
        parts.append(_item(0x21, bytes((ctx_id, 0, result, 0)) + _item(0x40, ts.encode("ascii"))))
    user = [_item(0x51, max_length.to_bytes(4, "big")),
            _item(0x52, implementation_class_uid.encode("ascii"))]
    for sop_class, scu, scp in roles:
        user.append(_sop_sub_item(0x54, sop_class, bytes((1 if scu else 0, 1 if scp else 0))))
    user.append(_item(0x55, implementation_version_name.encode("ascii")))
    for sop_class, data in extended_negotiation:
        user.append(_sop_sub_item(0x56, sop_class, bytes(data)))
    parts.append(_item(0x50, b"".join(user)))
    return _pdu(0x02, b"".join(parts))


def encode_associate_rj(int result, int source, int reason):
    return _pdu(0x03, bytes((0, result, source, reason)))


def encode_release_rp():
    return _pdu(0x06, b"\x00\x00\x00\x00")


def encode_abort(int source, int reason):
    return _pdu(0x07, bytes((0, 0, source, reason)))


def encode_pdata(int context_id, data, bint command, unsigned int max_pdu_length):
    """P-DATA-TF PDUs carrying data (a command set or data set) on one context.

    max_pdu_length is the peer's maximum length (0 = unlimited); fragments
    are sized so that every PDU respects it.
    """
    cdef bytes raw = bytes(data)
    cdef Py_ssize_t n = len(raw), pos = 0, chunk
    cdef int header
    cdef bytes one
    cdef unsigned char* o
    limit = (max_pdu_length - 6) if max_pdu_length and max_pdu_length > 6 else n
    if limit <= 0:
        limit = n
    if n <= limit and n <= 0xFFFFFFFF - 12:
        # one PDU (every response): made in place, not from pieces
        one = PyBytes_FromStringAndSize(NULL, 12 + n)
        o = <unsigned char*>PyBytes_AS_STRING(one)
        o[0] = 0x04
        o[1] = 0
        _put_be32(o + 2, <uint32_t>(n + 6))
        _put_be32(o + 6, <uint32_t>(n + 2))
        o[10] = <unsigned char>context_id
        o[11] = (1 if command else 0) | 2
        memcpy(o + 12, PyBytes_AS_STRING(raw), n)
        return one
    out = []
    while True:
        chunk = min(limit, n - pos)
        header = (1 if command else 0) | (2 if pos + chunk >= n else 0)
        pdv = (chunk + 2).to_bytes(4, "big") + bytes((context_id, header)) + raw[pos:pos + chunk]
        out.append(_pdu(0x04, pdv))
        pos += chunk
        if pos >= n:
            break
    return b"".join(out)
