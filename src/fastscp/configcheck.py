"""`ServerConfig.validate()`: the values and combinations storescp refuses,
refused for library users too, with storescp's message text.

The command line checks the same rules in `fastscp.options.check_rest`, in
storescp's order and on the options as given (storescp also refuses an
option that only restates a default, such as ``+u`` with ``+B``, which a
configuration cannot express); this module checks the resulting values.
Options are named through the option table (`options.setting_option`), so
a message names the option that sets the field.  Checks the writers need
beyond storescp's (an output transfer syntax fastscp cannot write, the
limits of fastscp's own options) are here as well.
"""
from __future__ import annotations

from typing import Any, Optional

from fastscp import options
from fastscp.config import (
    CRL_CHECKS, GROUP_LENGTH_MODES, GROUP_LENGTH_RECALC, MAX_MAX_PDU, MIN_MAX_PDU,
    PEER_CERT_MODES, PROCESS_FORK, PROCESS_MODELS, SORT_MODES, ServerConfig,
)
from fastscp.errors import ConfigError
from fastscp.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, PREFERENCE_LISTS

#: what +te/+tb/+ti/+td can ask for (there are no codecs)
OUTPUT_TRANSFER_SYNTAXES = tuple(o.value for o in options.group_members("writexfer")
                                 if o.value is not None)
#: storescp's defaults (the ServerConfig field defaults)
_DEFAULTS = ServerConfig()
#: +cl's default (ServerConfig.compression_level)
_DEFAULT_COMPRESSION_LEVEL = ServerConfig.compression_level


def _name(field_name: str, *value: Any) -> str:
    """The long name of the option that sets `field_name` (to `value`)."""
    try:
        return options.setting_option(field_name, *value).long
    except KeyError:
        return field_name


def _seconds(field_name: str, value: Optional[float]) -> None:
    """A timeout: more than 0 seconds, or None (no limit).  storescp takes
    whole seconds from 1 on; the library takes fractions too."""
    if value is not None and (isinstance(value, (int, float)) and not isinstance(value, bool)
                              and value <= 0):
        raise ConfigError("Invalid value for option %s (underflow: %s)" % (_name(field_name), value))
    _range(field_name, value, None)


def _range(field_name: str, value: Optional[float], low: Optional[float],
           high: Optional[float] = None) -> None:
    """storescp's "Invalid value" message for a value out of its range
    (None = no limit, always valid)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError("%s must be a number, not %r" % (field_name, value))
    if low is not None and value < low:
        raise ConfigError("Invalid value for option %s (underflow: %s)" % (_name(field_name), value))
    if high is not None and value > high:
        raise ConfigError("Invalid value for option %s (overflow: %s)" % (_name(field_name), value))


def _not_allowed(a: str, b: str) -> ConfigError:
    return ConfigError(options.not_allowed_message(a, b))


def _only_allowed(a: str, b: str) -> ConfigError:
    return ConfigError(options.only_allowed_message(a, b))


def validate(config: ServerConfig) -> None:
    """Raise ConfigError for the first value or combination storescp (or
    the writers) would refuse, in storescp's order."""
    # port 0 (a free port the system picks) is the library's; the command
    # line refuses it as storescp does
    if isinstance(config.port, bool) or not isinstance(config.port, int):
        raise ConfigError("port must be an integer, not %r" % (config.port,))
    if not 0 <= config.port < 65536:
        raise ConfigError("Invalid parameter value %s (%s)"
                          % (config.port, "underflow" if config.port < 0 else "overflow"))
    if config.access_control:
        from fastscp import access
        if not access.available():
            raise ConfigError(access.UNAVAILABLE)
    if config.metrics_port is not None:
        from fastscp import metrics
        if not metrics.available():
            raise ConfigError(metrics.UNAVAILABLE)
    _check_values(config)
    _check_negotiation(config)
    _check_output(config)
    _check_placement(config)
    _check_tls(config)


def _check_values(config: ServerConfig) -> None:
    """The values with minimums, in storescp's (network section) order."""
    _seconds("socket_timeout", config.socket_timeout)
    if config.acse_timeout is None:
        raise ConfigError("acse_timeout must be a number of seconds, not None")
    _seconds("acse_timeout", config.acse_timeout)
    _seconds("dimse_timeout", config.dimse_timeout)
    _range("max_pdu", config.max_pdu, MIN_MAX_PDU, MAX_MAX_PDU)
    _range("sleep_after", config.sleep_after, 0)
    _range("sleep_during", config.sleep_during, 0)
    _range("max_associations", config.max_associations, 1)
    _seconds("pdu_timeout", config.pdu_timeout)
    _range("max_inflated_size", config.max_inflated_size, 1)
    _range("max_inflation_ratio", config.max_inflation_ratio, 1)
    _range("metrics_port", config.metrics_port, 0, 65535)
    if not isinstance(config.metrics_address, str):
        raise ConfigError("metrics_address must be a string, not %r" % (config.metrics_address,))
    if config.summary_interval is None:
        raise ConfigError("summary_interval must be a number of seconds, not None")
    _seconds("summary_interval", config.summary_interval)
    _check_balancers(config)


def _check_balancers(config: ServerConfig) -> None:
    """proxy_protocol: a tuple of IP addresses or networks."""
    from fastscp.balancer import parse_networks
    items = config.proxy_protocol
    if isinstance(items, (str, bytes)) or not isinstance(items, (tuple, list)):
        raise ConfigError("proxy_protocol must be a tuple of addresses, not %r" % (items,))
    try:
        parse_networks(items)
    except ValueError as exc:
        raise ConfigError("Invalid value for option %s (%s)"
                          % (_name("proxy_protocol"), exc.args[0])) from None


def _check_negotiation(config: ServerConfig) -> None:
    if config.profile is None:
        return
    if config.transfer_syntaxes is not None:
        raise _not_allowed(_name("profile"), _name("transfer_syntaxes", config.transfer_syntaxes))
    if config.promiscuous:
        raise _not_allowed(_name("profile"), _name("promiscuous", True))


def _check_output(config: ServerConfig) -> None:
    bitpres = _name("bit_preserving", True)
    wts = config.write_transfer_syntax
    if wts is not None:
        if wts not in OUTPUT_TRANSFER_SYNTAXES:
            raise ConfigError("write_transfer_syntax must be None or one of %s, not %r"
                              % (", ".join(OUTPUT_TRANSFER_SYNTAXES), wts))
        name = _name("write_transfer_syntax", wts)
        if config.transfer_syntaxes is not None:
            prefer = _name("transfer_syntaxes", config.transfer_syntaxes)
            if config.transfer_syntaxes == PREFERENCE_LISTS["accept-all"]:
                raise _not_allowed(name, prefer)
        else:
            prefer = None
        if config.bit_preserving:
            raise _not_allowed(name, bitpres)
        if prefer in options.COMPRESSED_PREFER:
            raise _not_allowed(name, prefer)
    if config.group_length not in GROUP_LENGTH_MODES:
        raise ConfigError("group_length must be one of %s, not %r"
                          % (", ".join(GROUP_LENGTH_MODES), config.group_length))
    if config.bit_preserving:
        if not config.new_vrs:
            raise _not_allowed(_name("new_vrs", False), bitpres)
        if config.group_length != GROUP_LENGTH_RECALC:
            raise _not_allowed(_name("group_length", config.group_length), bitpres)
        if config.undefined_lengths:
            raise _not_allowed(_name("undefined_lengths", True), bitpres)
    if config.padding is not None:
        padding = _name("padding")
        if (not isinstance(config.padding, tuple) or len(config.padding) != 2
                or not all(isinstance(n, int) and n >= 0 for n in config.padding)):
            raise ConfigError("padding must be None or (file padding, item padding), two "
                              "integers >= 0, not %r" % (config.padding,))
        if not config.write_file_meta:
            raise _not_allowed(padding, _name("write_file_meta", False))
        if config.bit_preserving:
            raise _not_allowed(padding, bitpres)
    _range("compression_level", config.compression_level, 0, 9)
    if (config.compression_level != _DEFAULT_COMPRESSION_LEVEL
            and wts not in (None, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)):
        raise _only_allowed(_name("compression_level"), options.COMPRESSION_LEVEL_ONLY)


def _check_placement(config: ServerConfig) -> None:
    if config.sort_mode is not None:
        if config.sort_mode not in SORT_MODES:
            raise ConfigError("sort_mode must be None or one of %s, not %r"
                              % (", ".join(SORT_MODES), config.sort_mode))
        if config.bit_preserving:
            raise _not_allowed(_name("sort_mode", config.sort_mode), _name("bit_preserving", True))
    if config.unique_filenames and config.timenames:
        raise _not_allowed(_name("timenames", True), _name("unique_filenames", True))
    if config.process_model not in PROCESS_MODELS:
        raise ConfigError("process_model must be one of %s, not %r"
                          % (", ".join(PROCESS_MODELS), config.process_model))
    if config.process_model == PROCESS_FORK:
        # storescp: a forked child cannot see the end of a study sent over several associations
        if config.exec_on_eostudy is not None:
            raise _not_allowed(_name("exec_on_eostudy"), _name("process_model", PROCESS_FORK))
        if config.rename_on_eostudy:
            raise _not_allowed(_name("rename_on_eostudy", True), _name("process_model", PROCESS_FORK))
    if config.sort_mode is None:
        if config.exec_on_eostudy is not None:
            raise _only_allowed(_name("exec_on_eostudy"), options.SORT_ONLY)
        if config.rename_on_eostudy:
            raise _only_allowed(_name("rename_on_eostudy", True), options.SORT_ONLY)
    if config.eostudy_timeout is not None:
        if (config.sort_mode is None and config.exec_on_eostudy is None
                and not config.rename_on_eostudy):
            raise _only_allowed(_name("eostudy_timeout"), options.EOSTUDY_TIMEOUT_ONLY)
        _range("eostudy_timeout", config.eostudy_timeout, 0)


#: the TLS fields an embedding application's own tls_context replaces
_TLS_FIELDS = ("tls_key_cert", "tls_password", "tls_der", "tls_ca_files", "tls_ca_dirs",
               "tls_crl_files", "tls_crl_check", "tls_profile", "tls_ciphers", "tls_dh_params",
               "tls_expect_sni", "tls_seed_file", "tls_write_seed", "tls_write_seed_file",
               "tls_peer_cert")


def _check_tls(config: ServerConfig) -> None:
    """The TLS settings, in storescp 3.6.9's order (options._TLS_CHECK_ORDER)."""
    if config.tls_context is None and all(getattr(config, name) == getattr(_DEFAULTS, name)
                                          for name in _TLS_FIELDS):
        return      # plain TCP: nothing to check, and ssl stays unimported (start-up time)
    from fastscp.tls_suites import BY_KEY, profile_available
    if config.tls_context is not None:
        import ssl
        if not isinstance(config.tls_context, ssl.SSLContext):
            raise ConfigError("tls_context must be an ssl.SSLContext, not %r" % (config.tls_context,))
        for name in _TLS_FIELDS:
            if getattr(config, name) != getattr(_DEFAULTS, name):
                raise ConfigError("tls_context replaces the tls_* settings: leave %s at its "
                                  "default" % name)
        return
    key_cert = config.tls_key_cert
    if key_cert is not None and (not isinstance(key_cert, tuple) or len(key_cert) != 2
                                 or not all(isinstance(f, str) for f in key_cert)):
        raise ConfigError("tls_key_cert must be None or (key file, certificate file), not %r"
                          % (key_cert,))
    profile = BY_KEY.get(config.tls_profile)
    if profile is None or not profile_available(profile):
        raise ConfigError("tls_profile must be one of %s, not %r" % (
            ", ".join(p.key for p in BY_KEY.values() if profile_available(p)), config.tls_profile))
    if config.tls_peer_cert not in PEER_CERT_MODES:
        raise ConfigError("tls_peer_cert must be one of %s, not %r"
                          % (", ".join(PEER_CERT_MODES), config.tls_peer_cert))
    if config.tls_crl_check is not None and config.tls_crl_check not in CRL_CHECKS:
        raise ConfigError("tls_crl_check must be None or one of %s, not %r"
                          % (", ".join(CRL_CHECKS), config.tls_crl_check))
    write_seed = ("--write-seed-file" if config.tls_write_seed_file is not None
                  else _name("tls_write_seed", True)) if config.tls_write_seed else None
    profile_name = _name("tls_profile", config.tls_profile)
    # as storescp, --profile-aes is refused under the name --profile-basic
    profile_shown = "--profile-basic" if profile_name == "--profile-aes" else profile_name
    given = [
        (config.tls_password is not None, _name("tls_password", *(
            [config.tls_password] if config.tls_password == "" else []))),
        (config.tls_der, _name("tls_der", True)),
        (config.tls_crl_check is not None, _name("tls_crl_check", config.tls_crl_check)),
        (config.tls_dh_params is not None, _name("tls_dh_params")),
        (config.tls_seed_file is not None, _name("tls_seed_file")),
        (write_seed is not None, str(write_seed)),
        (config.tls_peer_cert != _DEFAULTS.tls_peer_cert,
         _name("tls_peer_cert", config.tls_peer_cert)),
        (config.tls_profile != _DEFAULTS.tls_profile, profile_shown),
        (bool(config.tls_ca_files), _name("tls_ca_files")),
        (bool(config.tls_ca_dirs), _name("tls_ca_dirs")),
        (bool(config.tls_crl_files), _name("tls_crl_files")),
        (bool(config.tls_ciphers), _name("tls_ciphers")),
    ]
    for is_set, option_name in given:
        if not is_set:
            continue
        if key_cert is None:
            raise _only_allowed(option_name, _name("tls_key_cert"))
        if option_name == write_seed and config.tls_seed_file is None:
            raise _only_allowed(write_seed, _name("tls_seed_file"))
        if option_name == "--cipher" and config.tls_profile == "bcp195-ex":
            raise _not_allowed("--cipher", profile_name)
