"""The ``fastscp`` command: a drop-in for DCMTK's ``storescp`` command line.

``main(argv)`` parses the arguments with :mod:`fastscp.options` (same
notation, messages and exit codes as storescp), sets up logging, checks the
output directory and the port, and runs :class:`fastscp.server.Server`.
"""
from __future__ import annotations

import logging
import os
import platform
import sys
from typing import List, Optional, Sequence

from . import __version__
from . import options as opts
from . import uids
from .config import ServerConfig
from .log import setup_logging

PROGRAM = opts.PROGRAM
DESCRIPTION = opts.DESCRIPTION

#: exit codes (storescp uses only these two here)
EXIT_OK = 0
EXIT_ERROR = 1

log = logging.getLogger("fastscp")


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
    out.append("usage: %s [options] port" % PROGRAM)
    out.append("")
    out.append("options marked * are storescp options that %s does not support yet;" % PROGRAM)
    out.append("they are refused with an error.")
    out.append("")
    out.append("parameters:")
    out.append("  port".ljust(_TEXT_COL - 2) + "  TCP port to listen on")
    for title, subs in opts.SECTIONS:
        out.append(title + ":")
        for sub, options in subs:
            indent = 2
            if sub is not None:
                out.append("  " + sub)
                indent = 4
            for opt in options:
                out.extend(_option_lines(opt, indent))
    out.append("")
    return "\n".join(out) + "\n"


def version_text() -> str:
    import importlib.util
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

def build_config(st: opts.Settings, cmd: Optional[opts.CommandLine] = None) -> ServerConfig:
    config = ServerConfig(
        port=st.port if st.port is not None else 104,
        ae_title=st.ae_title,
        max_pdu=st.max_pdu,
        output_directory=st.output_directory,
    )
    _network_options(config, st, cmd)
    _negotiation_options(config, st, cmd)
    _output_options(config, st, cmd)
    _placement_options(config, st, cmd)
    return config


def _placement_options(config: ServerConfig, st: opts.Settings,
                       cmd: Optional[opts.CommandLine]) -> None:
    """-ss/-su/-sp, +uf/-tn/-fe, -xcr/-xcs/-rns/-tos/-xs."""
    if cmd is None:
        return
    v = st.values
    sort = cmd.winner("sort")
    if sort is not None:
        config.sort_mode = {"--sort-conc-studies": "timestamp", "--sort-on-study-uid": "study-uid",
                            "--sort-on-patientname": "patient-name"}[sort.long]
        config.sort_prefix = str(v[sort.long][0]) if v.get(sort.long) else ""
    config.unique_filenames = cmd.winner("filenames") is opts.BY_NAME["--unique-filenames"]
    config.timenames = cmd.has("--timenames")
    if "--filename-extension" in v:
        config.filename_extension = str(v["--filename-extension"][0])
    if "--exec-on-reception" in v:
        config.exec_on_reception = str(v["--exec-on-reception"][0])
    if "--exec-on-eostudy" in v:
        config.exec_on_eostudy = str(v["--exec-on-eostudy"][0])
    config.rename_on_eostudy = cmd.has("--rename-on-eostudy")
    if "--eostudy-timeout" in v:
        config.eostudy_timeout = float(v["--eostudy-timeout"][0])  # type: ignore[arg-type]
    config.exec_sync = cmd.has("--exec-sync")


def _output_options(config: ServerConfig, st: opts.Settings,
                    cmd: Optional[opts.CommandLine]) -> None:
    """+B/-B, +F/-F, +t=/+te/+tb/+ti/+td, +g=/+g/-g, +e/-e, -p/+p, -uc/+uc, +u/-u, +cl (the output file format)."""
    if cmd is None:
        return
    config.bit_preserving = cmd.winner("bitpreserving") is opts.BY_NAME["--bit-preserving"]
    config.write_file_meta = cmd.winner("fileformat") is not opts.BY_NAME["--write-dataset"]
    gl = cmd.winner("grouplength")
    config.group_length = {"--group-length-create": "create",
                           "--group-length-remove": "remove"}.get(gl.long if gl else "", "recalc")
    config.undefined_lengths = cmd.winner("length") is opts.BY_NAME["--length-undefined"]
    if cmd.winner("padding") is opts.BY_NAME["--padding-create"]:
        f, i = st.values["--padding-create"]
        config.padding = (int(f), int(i))  # type: ignore[call-overload]
    config.convert_un = cmd.winner("un") is opts.BY_NAME["--convert-un"]
    config.new_vrs = cmd.winner("newvr") is not opts.BY_NAME["--disable-new-vr"]
    wx = cmd.winner("writexfer")
    config.write_transfer_syntax = {
        "--write-xfer-little": uids.EXPLICIT_VR_LITTLE_ENDIAN,
        "--write-xfer-big": uids.EXPLICIT_VR_BIG_ENDIAN,
        "--write-xfer-implicit": uids.IMPLICIT_VR_LITTLE_ENDIAN,
        "--write-xfer-deflated": uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    }.get(wx.long if wx else "")
    if "--compression-level" in st.values:
        config.compression_level = int(st.values["--compression-level"][0])  # type: ignore[call-overload]


def _negotiation_options(config: ServerConfig, st: opts.Settings,
                         cmd: Optional[opts.CommandLine]) -> None:
    """+x... preference lists, -pm, -xf and +v."""
    config.profile = st.profile
    if cmd is None:
        return
    from .uids import PREFERENCE_LISTS
    prefer = cmd.winner("prefer")
    if prefer is not None and st.profile is None:
        config.transfer_syntaxes = PREFERENCE_LISTS[prefer.long[2:]]
    config.promiscuous = cmd.has("--promiscuous")
    config.verbose_pc = cmd.has("--verbose-pc")


def _network_options(config: ServerConfig, st: opts.Settings,
                     cmd: Optional[opts.CommandLine]) -> None:
    """-ts -ta -td -dhl and storescp's test options (--refuse ... -up)."""
    v = st.values
    if "--socket-timeout" in v:
        seconds = int(v["--socket-timeout"][0])  # type: ignore[call-overload]
        # as DCMTK: 0 sets no kernel timeout, -1 none at all
        config.socket_timeout = float(seconds) if seconds > 0 else None
    if "--acse-timeout" in v:
        config.acse_timeout = float(v["--acse-timeout"][0])  # type: ignore[arg-type]
    if "--dimse-timeout" in v:
        config.dimse_timeout = float(v["--dimse-timeout"][0])  # type: ignore[arg-type]
    if "--sleep-after" in v:
        config.sleep_after = float(v["--sleep-after"][0])  # type: ignore[arg-type]
    if "--sleep-during" in v:
        config.sleep_during = float(v["--sleep-during"][0])  # type: ignore[arg-type]
    if "--max-associations" in v:
        config.max_associations = int(v["--max-associations"][0])  # type: ignore[call-overload]
    if "--pdu-timeout" in v:
        seconds = int(v["--pdu-timeout"][0])  # type: ignore[call-overload]
        config.pdu_timeout = float(seconds) if seconds > 0 else None
    if "--max-inflated-size" in v:
        config.max_inflated_size = int(v["--max-inflated-size"][0]) * 1024 * 1024  # type: ignore[call-overload]
    if "--max-inflation-ratio" in v:
        config.max_inflation_ratio = int(v["--max-inflation-ratio"][0])  # type: ignore[call-overload]
    if cmd is not None:
        config.host_lookup = not cmd.has("--disable-host-lookup")
        config.refuse = cmd.has("--refuse")
        config.reject_without_implementation_uid = cmd.has("--reject")
        config.ignore = cmd.has("--ignore")
        config.abort_after = cmd.has("--abort-after")
        config.abort_during = cmd.has("--abort-during")
        config.uid_padding = cmd.has("--uid-padding")


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
        _print_error(opts.NotAvailableError(excl).message)
        return EXIT_ERROR

    # 2. port and logging; errors up to here are always printed
    try:
        port = opts.check_port_param(cmd)
        level = opts.check_logging(cmd)
    except opts.CommandLineError as exc:
        _print_error(exc.message)
        return EXIT_ERROR
    setup_logging(level)
    errors_shown = opts.LEVEL_ORDER[level] <= opts.LEVEL_ORDER["error"]
    if cmd.has("--arguments"):
        # storescp prints this whatever the level
        text = arguments_message(cmd)
        sys.stderr.write("".join("I: " + line + "\n" for line in text.split("\n")))
        sys.stderr.flush()
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
    if missing:
        # fastscp's own refusal ends the program, so it is reported like a
        # fatal error: shown even with -q, hidden only by -ll off
        if level != "off":
            _print_error(opts.NotAvailableError(missing[0]).message)
        return EXIT_ERROR
    st.port = port
    config = build_config(st, cmd)

    # 4. start-up checks (log lines, as storescp)
    from ._dictionary import log_dictpath_problems
    log_dictpath_problems()
    geteuid = getattr(os, "geteuid", None)
    if port is not None and port < 1024 and geteuid is not None and geteuid() != 0:
        log.critical("cannot listen on port %d, insufficient privileges", port)
        return EXIT_ERROR
    if not os.path.isdir(config.output_directory):
        log.critical("specified output directory does not exist")
        return EXIT_ERROR
    if not config.ignore and not os.access(config.output_directory, os.W_OK):
        log.critical("specified output directory is not writeable")
        return EXIT_ERROR

    # 5. serve
    try:
        from .server import Server
    except ImportError as exc:
        log.critical("cannot start the server: %s", exc)
        return EXIT_ERROR
    try:
        server = Server(config)
        server.serve_forever()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        log.error("cannot create network: 0006:031c TCP Initialization Error: %s", reason)
        return EXIT_ERROR
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
