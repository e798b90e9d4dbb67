# cython: language_level=3
"""Calls into the OpenSSL of CPython's ``_ssl`` where `ssl` has no API.

* `RecordReader`: TLS records read in C, one call per round instead of one
  Python call per record.  `ssl` reads one record (at most 16 KiB) per
  call, and every call goes through the Python method machinery of
  ``_ssl`` (an argument tuple, parsing, a buffer export, the GIL dropped and
  taken back).  Here the records that arrived are read into the buffer in
  one loop, with the GIL released, by OpenSSL's ``SSL_read_ex`` on the
  ``SSL`` object of CPython's own ``_ssl`` socket.
* `set_tls13_ciphersuites`, `set_groups`: the TLS 1.3 suites and the key
  exchange groups of a server context, which Python 3.11's `ssl` cannot set
  (``set_ecdh_curve`` takes one group), so that fastscp offers what
  storescp offers.

That needs two things CPython does not promise, so both are checked and the
caller keeps its pure-`ssl` way when either check fails (``LookupError``):

* the OpenSSL functions are looked up in the library ``_ssl`` is linked
  with (``dlsym`` on the already loaded ``_ssl`` module: its dependencies,
  never another copy of OpenSSL, such as one bundled into a wheel);
* pointers are read only from ``_ssl``'s own objects after their layout is
  verified.  An ``_ssl._SSLSocket`` begins (CPython 3.7 to 3.14) with the
  socket's weak reference, the ``SSL`` pointer and the `ssl.SSLContext`:
  the field after the pointer must hold that very context object, and
  OpenSSL must then report the connection's own file descriptor.  An
  ``_ssl._SSLContext`` begins with its ``SSL_CTX`` pointer: it must be the
  one OpenSSL reports for a verified ``SSL`` made from that context.
"""
import _ssl

from cpython.object cimport PyObject

cdef extern from "<dlfcn.h>" nogil:
    void* dlopen(const char* filename, int flag)
    void* dlsym(void* handle, const char* symbol)
    int RTLD_NOW
    int RTLD_NOLOAD

ctypedef int (*read_ex_t)(void* ssl, void* buf, size_t num, size_t* readbytes) noexcept nogil
ctypedef int (*get_error_t)(const void* ssl, int ret) noexcept nogil
ctypedef int (*get_fd_t)(const void* ssl) noexcept nogil
ctypedef void (*clear_t)() noexcept nogil
ctypedef void* (*get_ctx_t)(const void* ssl) noexcept nogil
ctypedef int (*set_suites_t)(void* ctx, const char* text) noexcept nogil
ctypedef long (*ctx_ctrl_t)(void* ctx, int cmd, long larg, void* parg) noexcept nogil

# OpenSSL's SSL_get_error() results (ssl.h; stable since OpenSSL 0.9)
DEF SSL_ERROR_WANT_READ = 2
DEF SSL_ERROR_WANT_WRITE = 3
# SSL_CTX_set1_groups_list() is SSL_CTX_ctrl() with this command (ssl.h, OpenSSL 1.1.1 and 3)
DEF SSL_CTRL_SET_GROUPS_LIST = 92

#: what `RecordReader.read_into` ended on besides a count
FULL = 0            # the buffer is full (more may be waiting)
WANT_READ = 1       # every record that arrived was read: wait for the socket
WANT_WRITE = 2      # OpenSSL must send first (e.g. a key update): wait to write
CLOSED = 3          # close_notify, end of file or a TLS error: the connection ended

cdef read_ex_t _read_ex = NULL
cdef get_error_t _get_error = NULL
cdef get_fd_t _get_fd = NULL
cdef clear_t _clear_errors = NULL
cdef get_ctx_t _get_ctx = NULL
cdef set_suites_t _set_suites = NULL
cdef ctx_ctrl_t _ctx_ctrl = NULL
cdef bint _bound = False


def bind(module_file) -> bool:
    """Look up OpenSSL's functions through the loaded ``_ssl`` module at
    ``module_file`` (None: ``_ssl`` is built into the interpreter); whether
    all were found (once; later calls repeat the first answer)."""
    global _read_ex, _get_error, _get_fd, _clear_errors, _get_ctx, _set_suites, _ctx_ctrl, _bound
    if _bound or not module_file:
        return _read_ex != NULL
    _bound = True
    cdef bytes path = module_file.encode()
    cdef void* handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD)
    if handle == NULL:
        return False
    # the module stays loaded for the life of the process: no dlclose
    read_ex = <read_ex_t>dlsym(handle, "SSL_read_ex")
    get_error = <get_error_t>dlsym(handle, "SSL_get_error")
    get_fd = <get_fd_t>dlsym(handle, "SSL_get_fd")
    clear = <clear_t>dlsym(handle, "ERR_clear_error")
    get_ctx = <get_ctx_t>dlsym(handle, "SSL_get_SSL_CTX")
    set_suites = <set_suites_t>dlsym(handle, "SSL_CTX_set_ciphersuites")
    ctx_ctrl = <ctx_ctrl_t>dlsym(handle, "SSL_CTX_ctrl")
    if (read_ex == NULL or get_error == NULL or get_fd == NULL or clear == NULL
            or get_ctx == NULL or set_suites == NULL or ctx_ctrl == NULL):
        return False
    _read_ex, _get_error, _get_fd, _clear_errors = read_ex, get_error, get_fd, clear
    _get_ctx, _set_suites, _ctx_ctrl = get_ctx, set_suites, ctx_ctrl
    return True


cdef void* _verified_ssl(native, context) except NULL:
    """The ``SSL`` pointer of the ``_ssl._SSLSocket`` `native`, made from
    `context`; LookupError where the layout cannot be verified."""
    cdef Py_ssize_t head = sizeof(PyObject)
    cdef char* base = <char*><PyObject*>native
    cdef void* ssl
    if _read_ex == NULL:
        raise LookupError("OpenSSL's functions were not found through _ssl")
    if type(native) is not _ssl._SSLSocket or type(native).__basicsize__ < head + 3 * sizeof(void*):
        raise LookupError("unknown layout of %s" % type(native).__name__)
    if (<PyObject**>(base + head + 2 * sizeof(void*)))[0] != <PyObject*>context:
        raise LookupError("unknown layout of %s" % type(native).__name__)
    ssl = (<void**>(base + head + sizeof(void*)))[0]
    if ssl == NULL:
        raise LookupError("no SSL object")
    return ssl


cdef void* _verified_ctx(context) except NULL:
    """The ``SSL_CTX`` pointer of a server `ssl.SSLContext`, confirmed by
    OpenSSL through an ``SSL`` made from it; LookupError otherwise."""
    import ssl as ssl_module
    cdef Py_ssize_t head = sizeof(PyObject)
    cdef void* candidate
    if _get_ctx == NULL or _set_suites == NULL or _ctx_ctrl == NULL:
        raise LookupError("OpenSSL's functions were not found through _ssl")
    if not isinstance(context, _ssl._SSLContext) or type(context).__basicsize__ < head + sizeof(void*):
        raise LookupError("not an SSLContext")
    candidate = (<void**>(<char*><PyObject*>context + head))[0]
    probe = context.wrap_bio(ssl_module.MemoryBIO(), ssl_module.MemoryBIO(), server_side=True)
    if candidate == NULL or _get_ctx(_verified_ssl(probe._sslobj, context)) != candidate:
        raise LookupError("unknown layout of %s" % type(context).__name__)
    return candidate


def set_tls13_ciphersuites(context not None, str suites not None) -> None:
    """``SSL_CTX_set_ciphersuites``: the TLS 1.3 suites of `context`, in
    the server's order of preference (OpenSSL's names, ``:`` between them).
    LookupError: cannot be done here; ValueError: OpenSSL refused the list."""
    cdef void* ctx = _verified_ctx(context)
    _clear_errors()
    if _set_suites(ctx, suites.encode("ascii")) != 1:
        _clear_errors()
        raise ValueError("TLS 1.3 ciphersuites refused: %s" % suites)


def set_groups(context not None, names) -> tuple:
    """``SSL_CTX_set1_groups_list``: the key exchange groups of `context`,
    preferred first, leaving out those this OpenSSL does not know (one
    unknown name would refuse the whole list); the names set.  LookupError:
    cannot be done here; ValueError: none of them is known."""
    cdef void* ctx = _verified_ctx(context)
    cdef bytes text
    known = []
    _clear_errors()
    for name in names:
        text = name.encode("ascii")
        if _ctx_ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0, <char*>text) == 1:
            known.append(name)
        _clear_errors()
    if not known:
        raise ValueError("no known group among %s" % ":".join(names))
    text = ":".join(known).encode("ascii")
    if _ctx_ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0, <char*>text) != 1:
        _clear_errors()
        raise ValueError("groups refused: %s" % text.decode())
    return tuple(known)


cdef class RecordReader:
    """Reads the decrypted records of one ``_ssl._SSLSocket``."""

    cdef void* _ssl
    cdef object _owner      # the _ssl object: keeps the SSL pointer alive
    cdef readonly int state

    def __cinit__(self, native not None, context not None, int fd):
        self._ssl = _verified_ssl(native, context)
        if _get_fd(self._ssl) != fd:
            raise LookupError("the SSL object does not use the connection's socket")
        self._owner = native
        self.state = FULL

    def read_into(self, unsigned char[::1] buffer not None) -> int:
        """Decrypted bytes of the records that arrived, into `buffer`, until
        it is full or OpenSSL needs the socket; the count, with `state`
        saying why it stopped."""
        cdef size_t size = buffer.shape[0], total = 0, got = 0
        cdef unsigned char* out = &buffer[0] if size else NULL
        cdef int ret, err = 0
        if size == 0:
            self.state = FULL
            return 0
        with nogil:
            _clear_errors()     # SSL_get_error needs an empty error queue
            while total < size:
                ret = _read_ex(self._ssl, out + total, size - total, &got)
                if ret == 1:
                    total += got
                    continue
                err = _get_error(self._ssl, ret)
                if err != SSL_ERROR_WANT_READ and err != SSL_ERROR_WANT_WRITE:
                    _clear_errors()     # leave nothing for the thread's next TLS call
                break
        if total == size:
            self.state = FULL
        elif err == SSL_ERROR_WANT_READ:
            self.state = WANT_READ
        elif err == SSL_ERROR_WANT_WRITE:
            self.state = WANT_WRITE
        else:
            self.state = CLOSED
        return total
