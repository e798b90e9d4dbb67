"""The ``fastscp`` command: a drop-in for DCMTK's ``storescp`` command line.

``main(argv)`` parses the arguments with :mod:`fastscp.options` (same
notation, messages and exit codes as storescp), sets up logging, checks the
output directory and the port, and runs :class:`fastscp.server.Server`, or
with ``--inetd`` serves the connection on standard input
(:mod:`fastscp.inetd`).
"""
from __future__ import annotations

import logging
import os
import sys
from typing import List, Optional, Sequence

from . import __version__
from . import options as opts
from .config import ServerConfig
from .errors import ConfigError, TLSSetupError
from .log import APP_LOGGER, FATAL, ROOT_LOGGER, forced_log, level_of, loglog, setup_logging

PROGRAM = opts.PROGRAM
DESCRIPTION = opts.DESCRIPTION

#: exit codes, storescp's: 0 also at the end of an --inetd run, however the
#: association went; 1 for every error; 99 when --inetd cannot take over
#: standard input and output
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INETD_STDIO = 99

log = logging.getLogger(APP_LOGGER)


# ---------------------------------------------------------------------------
# texts
# ---------------------------------------------------------------------------

def header() -> str:
    """First line of every banner (storescp: ``$dcmtk: storescp v3.6.7 ... $``)."""
    return "$%s: %s v%s $" % (PROGRAM, PROGRAM, __version__)


def banner() -> str:
    return "%s\n\n%s: %s\n" % (header(), PROGRAM, DESCRIPTION)


_TEXT_COL = 33


def _option_lines(opt: opts.Option, indent: int) -> List[str]:
    short_width = 8 if indent == 2 else 6
    lead = " " * indent + (opt.short or "").ljust(short_width) + opt.long
    lead = lead.ljust(_TEXT_COL - 1) + " "
    text: List[str] = []
    if opt.value_help:
        text.extend(opt.value_help.split("\n"))
    text.extend(opt.help.split("\n"))
    lines = [lead + text[0]]
    lines.extend(" " * _TEXT_COL + t for t in text[1:])
    if not opt.built:
        lines[0] = "*" + lines[0][1:]
    return lines


def help_text() -> str:
    """The usage text, generated from the option table."""
    out = [banner().rstrip("\n")]
    out.append("usage: %s [options] [port]" % PROGRAM)
    out.append("")
    out.append("options marked * are storescp options that %s does not support yet;" % PROGRAM)
    out.append("they are refused with an error.")
    out.append("")
    out.append("parameters:")
    out.append("  port".ljust(_TEXT_COL - 2) + "  TCP port to listen on (not used with --inetd)")
    for title, subs in opts.SECTIONS:
        out.append(title + ":")
        for sub, options in subs:
            indent = 2
            if sub is not None:
                out.append("  " + sub)
                indent = 4
            for opt in options:
                if opt.available:       # +pb only where OpenSSL has 3DES
                    out.extend(_option_lines(opt, indent))
    out.append("")
    return "\n".join(out) + "\n"


def version_text(listing: Optional[List[str]] = None) -> str:
    """--version; with `listing`, the text of +cc/+ph (storescp prints its
    version head before those lists)."""
    import importlib.util
    import platform     # here, not at start-up (inetd starts a process per association)
    compiled = []
    for name in ("_pdu", "_pdv", "_writer"):
        try:
            if importlib.util.find_spec("fastscp." + name) is not None:
                compiled.append(name)
        except (ImportError, ValueError):
            pass
    lines = [banner().rstrip("\n"), ""]
    lines.append("Host type: %s %s" % (platform.system() or "unknown", platform.machine()))
    lines.append("Python: %s %s" % (platform.python_implementation(), platform.python_version()))
    lines.append("Build options: compiled modules: %s"
                 % (" ".join(compiled) if compiled else "none (not built)"))
    lines.append("")
    if listing is not None:         # +cc, +ph: the same head, then the list
        return "\n".join(lines + listing) + "\n"
    lines.append("External libraries used:")
    try:
        from importlib.metadata import version as _v
        lines.append("- pydicom, Version %s" % _v("pydicom"))
    except Exception:  # not installed: nothing to report
        pass
    try:
        import zlib
        lines.append("- zlib, Version %s" % zlib.ZLIB_RUNTIME_VERSION)
    except ImportError:
        pass
    lines.append("")
    return "\n".join(lines) + "\n"


def _print_error(message: str) -> None:
    err = sys.stderr
    err.write("%serror: %s\n" % (banner(), message))
    err.flush()


def arguments_message(cmd: opts.CommandLine) -> str:
    """What ``--arguments`` logs (storescp omits empty words from the list
    but counts them)."""
    words = "".join("'%s' " % a for a in cmd.expanded_for_log() if a)
    return "calling '%s' with %d arguments: %s\n" % (PROGRAM, len(cmd.args), words)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def build_config(st: opts.Settings, cmd: opts.CommandLine) -> ServerConfig:
    """The configuration the checked command line asks for: each option
    row names the field it sets and its converter (`fastscp.options`)."""
    return ServerConfig(**opts.config_fields(cmd, st))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run fastscp with ``argv`` (default: ``sys.argv[1:]``); returns the
    exit code."""
    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)

    # 1. notation
    try:
        cmd = opts.parse(argv)
    except opts.CommandLineError as exc:
        _print_error(exc.message)
        return EXIT_ERROR
    if not cmd.args:
        # no arguments (also: only empty command files): usage, success
        sys.stdout.write(help_text())
        return EXIT_OK
    excl = cmd.exclusive
    if excl is not None:
        if excl.long == "--help":
            sys.stdout.write(help_text())
            return EXIT_OK
        if excl.long == "--version":
            sys.stdout.write(version_text())
            return EXIT_OK
        from .tls_suites import cipher_listing, profile_listing
        listing = cipher_listing() if excl.long == "--list-ciphers" else profile_listing()
        sys.stdout.write(version_text(listing))
        return EXIT_OK
    inetd_connection: Optional[int] = None
    if cmd.has("--inetd"):
        from . import inetd     # here: --help and --version need no server modules
        # as storescp: from here on every message goes to /dev/null (or -lc)
        try:
            inetd_connection = inetd.take_over_stdio()
        except OSError:
            return EXIT_INETD_STDIO

    # 2. port and logging; errors up to here are printed (but not with --inetd)
    try:
        port = opts.check_port_param(cmd)
        level = opts.check_logging(cmd)
    except opts.CommandLineError as exc:
        _print_error(exc.message)
        return EXIT_ERROR
    log_config = cmd.last("--log-config")
    if log_config is not None:
        from .logconfig import configure_logging      # only with -lc: start-up time
        configure_logging(log_config.values[0])
        # what storescp's later checks see (e.g. --verbose-pc needs INFO)
        level = level_of(log)
    else:
        setup_logging(level)
    root = logging.getLogger(ROOT_LOGGER)
    # like storescp: command line errors are silent once the root logger
    # does not show errors
    errors_shown = root.isEnabledFor(logging.ERROR)
    loglog.quiet = not errors_shown
    if cmd.has("--arguments"):
        # storescp logs this through the root logger whatever its level
        forced_log(root, logging.INFO, arguments_message(cmd))
    log.debug("%s\n", header())

    # 3. everything else, then what we cannot do yet
    try:
        st = opts.check_rest(cmd, level)
    except opts.StartupError as exc:
        log.critical("%s", exc.message)
        return EXIT_ERROR
    except opts.CommandLineError as exc:
        # like storescp: after logging is set up, -q and -ll fatal|off
        # silence command line errors (the exit code stays 1)
        if errors_shown:
            _print_error(exc.message)
        return EXIT_ERROR
    missing = opts.unavailable(cmd)
    refusal = opts.NotAvailableError(missing[0]).message if missing else opts.unsupported_here(cmd)
    if refusal:
        # fastscp's own refusal ends the program, so it is reported like a
        # fatal error: shown even with -q, hidden only by -ll off
        if root.isEnabledFor(FATAL):
            _print_error(refusal)
        return EXIT_ERROR
    st.port = port
    config = build_config(st, cmd)
    try:
        config.validate()
    except ConfigError as exc:
        # check_rest refuses every such command line first (same message)
        if errors_shown:
            _print_error(str(exc))
        return EXIT_ERROR

    # 4. start-up checks (log lines, as storescp)
    if os.environ.get("DCMDICTPATH"):
        # without it there is nothing to report, and the dictionary is loaded
        # at the first C-STORE (start-up time)
        from ._dictionary import log_dictpath_problems
        log_dictpath_problems()
    if port is not None and port < 1024 and not _may_bind(port):
        log.critical("cannot listen on port %d, insufficient privileges", port)
        return EXIT_ERROR
    if not os.path.isdir(config.output_directory):
        log.critical("specified output directory does not exist")
        return EXIT_ERROR
    if not config.ignore and not os.access(config.output_directory, os.W_OK):
        log.critical("specified output directory is not writeable")
        return EXIT_ERROR

    # 5. serve
    if inetd_connection is not None:
        from .server import tls_of
        try:
            tls = tls_of(config)
        except TLSSetupError as exc:
            for line in exc.lines:
                log.critical("%s", line)
            return EXIT_ERROR
        inetd.serve(config, inetd_connection, tls)
        return EXIT_OK
    try:
        from .processes import serve
    except ImportError as exc:
        log.critical("cannot start the server: %s", exc)
        return EXIT_ERROR
    try:
        serve(config)
    except TLSSetupError as exc:
        for line in exc.lines:
            log.critical("%s", line)
        return EXIT_ERROR
    except OSError as exc:
        reason = exc.strerror or str(exc)
        log.error("cannot create network: 0006:031c TCP Initialization Error: %s", reason)
        return EXIT_ERROR
    except KeyboardInterrupt:
        pass
    return EXIT_OK


#: CAP_NET_BIND_SERVICE's bit in the capability sets (linux/capability.h)
_CAP_NET_BIND_SERVICE = 10


def _may_bind(port: int) -> bool:
    """Whether a port below 1024 can be listened on: as root (storescp's
    check), with a socket passed by systemd (nothing to bind), or, on
    Linux, with CAP_NET_BIND_SERVICE in effect (a unit's
    AmbientCapabilities)."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or geteuid() == 0:
        return True
    from . import activation
    return activation.is_activated() or _has_bind_capability()


def _has_bind_capability() -> bool:
    """CAP_NET_BIND_SERVICE in this process's effective set (Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_NET_BIND_SERVICE & 1)
    except OSError:
        pass
    return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
