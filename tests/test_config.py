"""ServerConfig validates itself like the command line: the library refuses
what the CLI refuses, with the same message, and every option row names
the field it sets."""
from __future__ import annotations

import dataclasses

import pytest

from fastscp import cli, options
from fastscp.config import ServerConfig
from fastscp.errors import ConfigError
from fastscp.server import Server

from test_cli import ACCEPTED, COMBINATIONS, MAX_PDU, ORDER, P, TLS, _ids

PROFILE = ["/etc/dcmtk/storescp.cfg", "Default"]
DEFAULTS = ServerConfig()


def _with_real_profile(argv):
    """-xf a b -> a profile file that exists (the conflict checks come
    before the file is read, so the CLI message is the same)."""
    out = list(argv)
    for i, word in enumerate(out):
        if word == "-xf" and out[i + 1:i + 3] == ["a", "b"]:
            out[i + 1:i + 3] = PROFILE
    return out


def _cli_message(argv):
    with pytest.raises(options.CommandLineError) as info:
        options.evaluate(argv)
    return info.value.message


def _restates_default_or_is_outside(message: str, cmd) -> bool:
    """Whether a refused combination cannot be expressed as ServerConfig
    values: one option it names sets no field (--fork, TLS, logging), or is
    a flag that sets its field to the default (``+u`` with ``+B``), or was
    overridden by a later member of its group (storescp names the first
    member it processed: ``+B -su x -sp``), or it names something that is
    no option ("verbose mode")."""
    effective = {occ.option for occ in cmd.effective()}
    for sep in (" not allowed with ", " only allowed with "):
        if sep in message:
            names = message.split(sep)
            break
    else:
        return False
    for name in names:
        opt = options.BY_NAME.get(name)
        if opt is None:
            if name in (options.SORT_ONLY, options.EOSTUDY_TIMEOUT_ONLY,
                        options.COMPRESSION_LEVEL_ONLY):
                continue
            return True
        if opt.field is None or opt not in effective:
            return True
        if opt.convert is None and getattr(DEFAULTS, opt.field) == opt.value:
            return True
    return False


REFUSED = [_with_real_profile(v) for v in COMBINATIONS + ORDER + TLS]


@pytest.mark.parametrize("argv", REFUSED, ids=_ids(REFUSED))
def test_library_refuses_what_the_cli_refuses(argv):
    expected = _cli_message(argv)
    cmd = options.parse(argv)
    try:
        fields = options.config_fields(cmd)
    except options.CommandLineError:
        # a value the notation refuses (-ts x, +p x 1): no configuration
        # can hold it, so there is nothing for the library to refuse
        return
    config = ServerConfig(**fields)
    try:
        config.validate()
    except ConfigError as exc:
        if str(exc) == expected:
            return
    # refused otherwise or not at all: only where the CLI's reason lies
    # outside what a configuration holds
    assert _restates_default_or_is_outside(expected, cmd), (argv, expected)


def test_the_corpus_reaches_validate():
    """Most refused combinations are expressible: validate() itself (not the
    notation) must refuse them, or the parity test above proves little."""
    refused_by_validate = 0
    for argv in REFUSED:
        try:
            fields = options.config_fields(options.parse(argv))
        except options.CommandLineError:
            continue
        try:
            ServerConfig(**fields).validate()
        except ConfigError:
            refused_by_validate += 1
    assert refused_by_validate >= 30


@pytest.mark.parametrize("value", [v for v in MAX_PDU if v.isdigit()])
def test_value_ranges_like_the_cli(value):
    expected = _cli_message(["-pdu", value, P])
    with pytest.raises(ConfigError) as info:
        ServerConfig(max_pdu=int(value)).validate()
    assert str(info.value) == expected


@pytest.mark.parametrize("argv", ACCEPTED, ids=_ids(ACCEPTED))
def test_accepted_command_lines_validate(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cmd, st = options.evaluate(argv + [P])
    cli.build_config(st, cmd).validate()


@pytest.mark.parametrize("kw, message", [
    (dict(timenames=True, unique_filenames=True), "--timenames not allowed with --unique-filenames"),
    (dict(rename_on_eostudy=True),
     "--rename-on-eostudy only allowed with --sort-conc-studies, --sort-on-study-uid or "
     "--sort-on-patientname"),
    (dict(bit_preserving=True, undefined_lengths=True),
     "--length-undefined not allowed with --bit-preserving"),
    (dict(acse_timeout=0), "Invalid value for option --acse-timeout (underflow: 0)"),
    (dict(pdu_timeout=-1.5), "Invalid value for option --pdu-timeout (underflow: -1.5)"),
    (dict(max_associations=0), "Invalid value for option --max-associations (underflow: 0)"),
    (dict(sort_mode="by-date"), "sort_mode must be None or one of timestamp, study-uid, "
                                "patient-name, not 'by-date'"),
    (dict(port=65536), "Invalid parameter value 65536 (overflow)"),
])
def test_server_refuses_before_listening(kw, message, tmp_path):
    kw = dict(dict(port=0, host="127.0.0.1", output_directory=str(tmp_path)), **kw)
    with pytest.raises(ConfigError) as info:
        Server(ServerConfig(**kw))
    assert str(info.value) == message


def test_every_field_is_set_by_an_option_row():
    """One source: each ServerConfig field an option can set is named by a
    row, and each row names a real field."""
    names = {f.name for f in dataclasses.fields(ServerConfig)}
    set_by_rows = set()
    for opt in options.OPTIONS:
        if opt.field is not None:
            assert opt.field in names, opt.long
            set_by_rows.add(opt.field)
            set_by_rows.update(f for f, _ in opt.also)
        else:
            assert opt.convert is None and not opt.also, opt.long
    # fields no storescp option sets: the port is the parameter, host is the
    # library's (storescp listens on all interfaces), and so is tls_context
    # (an embedding application's own ssl.SSLContext)
    assert names - set_by_rows == {"port", "host", "tls_context"}


def test_flag_rows_agree_with_the_defaults():
    """The option marked "(default)" in the help sets its field to the
    ServerConfig default."""
    for opt in options.OPTIONS:
        if opt.field is not None and opt.convert is None and "(default)" in opt.help:
            assert getattr(DEFAULTS, opt.field) == opt.value, opt.long
